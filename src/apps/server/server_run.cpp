// run_server: the HTTP server's set-up (limits, authentication, CORS, metrics, errors), the
// generation worker, startup output and an orderly stop.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "apps/server/base64.hpp"
#include "apps/server/server.hpp"

namespace sinter_server {

using nlohmann::json;
namespace sd = sinter::diffusion;

namespace {

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// Paths reachable without credentials: orchestrators' probes and metrics scrapers, and the UI's
// static page (it asks for the key itself; it holds no data).
bool is_open_path(const std::string& path) {
  return path == "/v2/health/live" || path == "/v2/health/ready" || path == "/metrics" ||
         path == "/" || path == "/favicon.ico";
}

// Compares in time independent of where the strings differ.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (std::size_t i = 0; i < a.size(); ++i)
    diff |= a[i] ^ b[i % std::max<std::size_t>(1, b.size())];
  return diff == 0;
}

bool authorised(const ServerOptions& o, const httplib::Request& req) {
  if (o.api_key.empty() && o.api_auth.empty()) return true;
  const std::string header = req.get_header_value("Authorization");
  if (!o.api_key.empty() && header.rfind("Bearer ", 0) == 0 &&
      same_secret(header.substr(7), o.api_key))
    return true;
  if (!o.api_auth.empty() && header.rfind("Basic ", 0) == 0) {
    const auto decoded = base64_decode(header.substr(6));
    if (decoded && same_secret(*decoded, o.api_auth)) return true;
  }
  return false;
}

// The route a path belongs to, for metrics labels (names and ids folded).
std::string route_label(const std::string& method, const std::string& path) {
  std::string p = path;
  if (p.rfind("/v2/models/", 0) == 0) {
    const std::size_t slash = p.find('/', 11);
    p = "/v2/models/{name}" + (slash == std::string::npos ? "" : p.substr(slash));
  } else if (p.rfind("/v1/images/files/", 0) == 0) {
    p = "/v1/images/files/{id}";
  }
  static const char* const known[] = {"/",
                                      "/metrics",
                                      "/sdapi/v1/txt2img",
                                      "/sdapi/v1/img2img",
                                      "/sdapi/v1/progress",
                                      "/sdapi/v1/interrupt",
                                      "/sdapi/v1/skip",
                                      "/sdapi/v1/png-info",
                                      "/sdapi/v1/sd-models",
                                      "/sdapi/v1/samplers",
                                      "/sdapi/v1/schedulers",
                                      "/sdapi/v1/options",
                                      "/sdapi/v1/memory",
                                      "/sdapi/v1/refresh-checkpoints",
                                      "/v1/images/generations",
                                      "/v1/models",
                                      "/v2",
                                      "/v2/health/live",
                                      "/v2/health/ready",
                                      "/v2/models/{name}",
                                      "/v2/models/{name}/ready",
                                      "/v2/models/{name}/infer",
                                      "/v1/images/files/{id}",
                                      "/sinter/v1/settings",
                                      "/sinter/v1/devices",
                                      "/sinter/v1/queue"};
  for (const char* k : known)
    if (p == k) return method + " " + p;
  return method + " (other)";
}

sd::GenerationResult run_job(ModelRegistry& registry, Job& job,
                             const std::function<void(const sd::StepProgress&)>& on_step) {
  sd::Pipeline& pipe = registry.pipeline(job.model, job.device);
  sd::GenerationResult all;
  for (int k = 0; k < job.iterations; ++k) {
    sd::GenerationParams p = job.params;
    if (p.seed >= 0) p.seed += static_cast<int64_t>(k) * p.batch_size;
    sd::GenerationResult r = pipe.generate(
        p,
        [&](const sd::StepProgress& s) {
          sd::StepProgress overall = s;
          overall.step = s.step + k * s.steps;
          overall.steps = s.steps * job.iterations;
          on_step(overall);
        },
        &job.cancel);
    for (auto& image : r.images) all.images.push_back(std::move(image));
    all.latents.insert(all.latents.end(), r.latents.begin(), r.latents.end());
    all.latent_shape = r.latent_shape;
    all.seeds.insert(all.seeds.end(), r.seeds.begin(), r.seeds.end());
    all.infotexts.insert(all.infotexts.end(), r.infotexts.begin(), r.infotexts.end());
    all.stages.insert(all.stages.end(), r.stages.begin(), r.stages.end());
    all.seconds += r.seconds;
    if (r.interrupted) {  // the batches after an interrupted one do not start
      all.interrupted = true;
      break;
    }
  }
  return all;
}

}  // namespace

int run_server(ServerOptions options, const sinter::Core& core, const std::atomic<bool>& stop) {
  ModelRegistry registry(core, options.model, options.models_dir, options.devices);
  Metrics metrics;
  ServerContext ctx;
  ctx.options = options;
  ctx.core = &core;
  ctx.registry = &registry;
  ctx.metrics = &metrics;
  JobQueue queue(
      options.max_queue,
      [&](Job& job, const std::function<void(const sd::StepProgress&)>& on_step) {
        return run_job(registry, job, on_step);
      },
      [&](const Job& job) {
        const char* outcome = job.state == JobState::done     ? "done"
                              : job.state == JobState::failed ? "failed"
                                                              : "cancelled";
        metrics.observe_generation(
            std::chrono::duration<double>(job.finished_at - job.started_at).count(),
            job.params.steps * job.iterations, outcome);
      });
  ctx.queue = &queue;

  httplib::Server http;
  // Enough handler threads for every queued request to wait while others are answered.
  const std::size_t threads = options.max_queue + 8;
  http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http.set_payload_max_length(options.limits.max_body_bytes);
  // SO_REUSEADDR only: httplib's default also sets SO_REUSEPORT, with which a second server on
  // the same port starts without an error and the kernel splits the connections between them.
  http.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  http.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    const std::string origin = req.get_header_value("Origin");
    const auto& allowed = ctx.options.cors_allow_origins;
    const bool cors =
        !origin.empty() && (std::find(allowed.begin(), allowed.end(), origin) != allowed.end() ||
                            std::find(allowed.begin(), allowed.end(), "*") != allowed.end());
    if (cors) {
      res.set_header("Access-Control-Allow-Origin", origin);
      res.set_header("Vary", "Origin");
    }
    if (req.method == "OPTIONS") {  // a preflight: answered here, allowed or not
      if (cors) {
        res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
      }
      res.status = cors ? 204 : 403;
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!is_open_path(req.path) && !authorised(ctx.options, req)) {
      // A Basic challenge makes browsers hold the page's fetches behind a login dialog; with an
      // API key the web UI sends the key itself, so the challenge is Bearer then.
      if (!ctx.options.api_key.empty())
        res.set_header("WWW-Authenticate", "Bearer realm=\"sinter\"");
      else if (!ctx.options.api_auth.empty())
        res.set_header("WWW-Authenticate", "Basic realm=\"sinter\"");
      send_request_error(
          res, {401,
                "missing or wrong credentials: send Authorization: Bearer <key>" +
                    std::string(ctx.options.api_auth.empty() ? "" : " or basic auth (--api-auth)"),
                ""});
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Answers given while stopping say the connection closes: the server shuts each socket
  // right after its answer then, and a client reading "keep-alive" took that for a cut.
  http.set_post_routing_handler([&](const httplib::Request&, httplib::Response& res) {
    if (ctx.stopping) res.set_header("Connection", "close");
  });
  http.set_error_handler([&](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string detail = res.status == 404 ? "no such route"
                         : res.status == 413
                             ? "the request body is larger than the limit of " +
                                   std::to_string(ctx.options.limits.max_body_bytes) + " bytes"
                             : reason_phrase(res.status);
    send_request_error(res, {res.status, detail, ""});
  });
  http.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        try {
          std::rethrow_exception(ep);
        } catch (const GenerationError& e) {
          send_request_error(res, e, e.retry_after);
        } catch (const RequestError& e) {
          send_request_error(res, e);
        } catch (const sinter::Error& e) {
          const int status = e.category() == sinter::ErrorCategory::invalid_argument ? 422 : 500;
          send_request_error(res, {status, e.what(), ""});
        } catch (const std::exception& e) {
          send_request_error(res, {500, e.what(), ""});
        } catch (...) {
          send_request_error(res, {500, "unknown error", ""});
        }
      });
  http.set_logger([&](const httplib::Request& req, const httplib::Response& res) {
    metrics.count_request(route_label(req.method, req.path), res.status);
  });

  http.Get("/metrics", [&](const httplib::Request&, httplib::Response& res) {
    const QueueSnapshot q = queue.snapshot();
    res.set_content(
        metrics.render(
            {{"sinter_queue_depth", {"Jobs waiting to start.", double(q.queued)}},
             {"sinter_jobs_running", {"Jobs running now.", q.running_id ? 1.0 : 0.0}},
             {"sinter_queue_rejected_total",
              {"Jobs refused because the queue was full.", double(q.rejected)}},
             {"sinter_memory_resident_bytes",
              {"Resident memory of the server (CPU device memory).", double(resident_bytes())}},
             {"sinter_memory_peak_resident_bytes",
              {"Peak resident memory of the server.", double(sinter::peak_rss_bytes())}}}),
        "text/plain; version=0.0.4");
  });
  add_a1111_routes(http, ctx);
  add_openai_routes(http, ctx);
  add_inference_routes(http, ctx);
  add_ui_routes(http, ctx);

  int port = options.port;
  const bool bound = port == 0 ? (port = http.bind_to_any_port(options.host)) > 0
                               : http.bind_to_port(options.host, port);
  if (!bound)
    throw sinter::Error(sinter::ErrorCategory::io_error,
                        "cannot listen on " + options.host + ":" + std::to_string(options.port) +
                            " (in use, or not an address of this machine)");
  const std::string host =
      options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
  std::printf("sinter serve: listening on http://%s:%d/\n", host.c_str(), port);
  std::printf("  devices:");
  for (const auto& d : core.available_devices())
    std::printf(" %s (%s)", d.name.c_str(), d.full_name.c_str());
  std::printf("\n  pipelines:");
  for (const auto& e : registry.pipelines()) std::printf(" %s", e.name.c_str());
  std::printf("\n  inference models:");
  for (const auto& e : registry.inference_models()) std::printf(" %s", e.name.c_str());
  std::printf("\n  queue: at most %zu waiting; limits %dx%d, %d steps, batch %d, body %zu MiB\n",
              options.max_queue, options.limits.max_width, options.limits.max_height,
              options.limits.max_steps, options.limits.max_batch,
              options.limits.max_body_bytes >> 20);
  if (!is_loopback(options.host) && options.api_key.empty() && options.api_auth.empty())
    std::printf(
        "  WARNING: listening beyond this machine without --api-key or --api-auth: anyone who "
        "can reach %s:%d can use it\n",
        host.c_str(), port);
  std::fflush(stdout);

  std::thread listener([&] { http.listen_after_bind(); });
  // Readiness means the default pipeline is loaded: a replica behind a load balancer gets
  // traffic once its first request will not wait for a model conversion.
  std::thread preload([&] {
    const std::string name = registry.current();
    if (!name.empty()) {
      try {
        registry.pipeline(name);
        std::printf("sinter serve: %s loaded; ready\n", name.c_str());
      } catch (const std::exception& e) {
        std::printf("sinter serve: cannot load %s: %s (not ready)\n", name.c_str(), e.what());
        std::fflush(stdout);
        return;
      }
    }
    std::fflush(stdout);
    ctx.loaded = true;
  });
  while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::printf("sinter serve: stopping (queued jobs cancelled, the running one interrupted)\n");
  std::fflush(stdout);
  ctx.stopping = true;
  queue.shutdown(true);
  http.stop();
  listener.join();
  preload.join();  // a pipeline load cannot be cut short
  return 0;
}

}  // namespace sinter_server
