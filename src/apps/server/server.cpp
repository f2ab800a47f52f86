#include "apps/server/server.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <thread>

namespace sinter_server {

using nlohmann::json;
namespace sd = sinter::diffusion;

// ---- shared state ----

std::string ServerContext::store_image(const std::string& png) {
  std::lock_guard<std::mutex> lock(images_mutex_);
  std::random_device rd;
  const std::string id = std::to_string(next_image_++) + "-" + std::to_string(rd() % 1000000);
  images_.emplace_back(id, png);
  while (images_.size() > 64) images_.pop_front();
  return id;
}

std::optional<std::string> ServerContext::stored_image(const std::string& id) const {
  std::lock_guard<std::mutex> lock(images_mutex_);
  for (const auto& [key, png] : images_)
    if (key == id) return png;
  return std::nullopt;
}

// ---- JSON helpers ----

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

json parse_json_object(const httplib::Request& req) {
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded()) throw RequestError{400, "the request body is not valid JSON", ""};
  if (!j.is_object()) throw RequestError{400, "the request body must be a JSON object", ""};
  return j;
}

namespace {

[[noreturn]] void wrong_type(const std::string& key, const char* want, const json& got) {
  throw RequestError{422, "field '" + key + "' must be " + want + ", got " + got.dump(), key};
}

}  // namespace

std::string string_field(const json& j, const std::string& key, const std::string& def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_string()) wrong_type(key, "a string", j[key]);
  return j[key].get<std::string>();
}

int64_t int_field(const json& j, const std::string& key, int64_t def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  const json& v = j[key];
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float() &&
      v.get<double>() == static_cast<double>(static_cast<int64_t>(v.get<double>())))
    return static_cast<int64_t>(v.get<double>());
  wrong_type(key, "an integer", v);
}

double number_field(const json& j, const std::string& key, double def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_number()) wrong_type(key, "a number", j[key]);
  return j[key].get<double>();
}

bool bool_field(const json& j, const std::string& key, bool def) {
  if (!j.contains(key) || j[key].is_null()) return def;
  if (!j[key].is_boolean()) wrong_type(key, "true or false", j[key]);
  return j[key].get<bool>();
}

void check_generation(const ServerContext& ctx, const sd::GenerationParams& p) {
  const Limits& l = ctx.options.limits;
  auto range = [](const std::string& field, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      throw RequestError{422,
                         field + " must be " + std::to_string(lo) + ".." + std::to_string(hi) +
                             " (server limit), got " + std::to_string(v),
                         field};
  };
  range("width", p.width, 8, l.max_width);
  range("height", p.height, 8, l.max_height);
  if (p.width % 8 || p.height % 8)
    throw RequestError{422, "width and height must be multiples of 8",
                       p.width % 8 ? "width" : "height"};
  range("steps", p.steps, 1, l.max_steps);
  range("batch_size", p.batch_size, 1, l.max_batch);
  if (p.init_image) {
    if (p.strength < 0 || p.strength > 1)
      throw RequestError{422, "denoising_strength must be 0..1", "denoising_strength"};
  }
  const auto samplers = sd::known_samplers();
  const bool known = std::any_of(samplers.begin(), samplers.end(), [&](const std::string& s) {
    return s.size() == p.sampler.size() &&
           std::equal(s.begin(), s.end(), p.sampler.begin(), [](char a, char b) {
             return std::tolower(static_cast<unsigned char>(a)) ==
                    std::tolower(static_cast<unsigned char>(b));
           });
  });
  if (!known) {
    std::string list;
    for (const auto& s : samplers) list += (list.empty() ? "" : ", ") + s;
    throw RequestError{422, "unknown sampler '" + p.sampler + "' (known: " + list + ")",
                       "sampler_name"};
  }
  if (p.schedule != "normal" && p.schedule != "karras" && p.schedule != "exponential" &&
      p.schedule != "sgm_uniform")
    throw RequestError{422, "unknown scheduler '" + p.schedule + "'", "scheduler"};
}

int64_t random_seed() {
  std::random_device rd;
  return static_cast<int64_t>(rd() % 4294967295u);
}

const char* reason_phrase(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 422:
      return "Unprocessable Entity";
    case 503:
      return "Service Unavailable";
    case 507:
      return "Insufficient Storage";
    default:
      return status >= 500 ? "Internal Server Error" : "Error";
  }
}

void send_request_error(httplib::Response& res, const RequestError& e, int retry_after) {
  json body = {{"error", reason_phrase(e.status)}, {"detail", e.message}};
  if (!e.field.empty()) body["field"] = e.field;
  if (retry_after > 0) res.set_header("Retry-After", std::to_string(retry_after));
  send_json(res, e.status, body);
}

namespace {

// A "Key:   123 kB" line of a /proc file, in bytes.
int64_t proc_kilobytes(const char* file, const char* key) {
  FILE* f = std::fopen(file, "r");
  if (!f) return 0;
  char line[256];
  int64_t value = 0;
  const std::size_t n = std::strlen(key);
  while (std::fgets(line, sizeof line, f))
    if (std::strncmp(line, key, n) == 0 && line[n] == ':') {
      value = std::atoll(line + n + 1) * 1024;
      break;
    }
  std::fclose(f);
  return value;
}

}  // namespace

int64_t resident_bytes() {
  return proc_kilobytes("/proc/self/status", "VmRSS");
}
int64_t machine_memory_bytes(const char* key) {
  return proc_kilobytes("/proc/meminfo", key);
}

// ---- the client's connection ----

bool client_connected(const httplib::Request& req) {
  // The socket whose local and peer addresses are this request's.
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return true;
  bool connected = true;
  while (dirent* e = readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    if (fd <= 2) continue;
    sockaddr_storage peer{}, local{};
    socklen_t peer_len = sizeof peer, local_len = sizeof local;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) continue;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;
    auto port_of = [](const sockaddr_storage& a) {
      return a.ss_family == AF_INET ? ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port)
                                    : ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
    };
    if (port_of(peer) != req.remote_port || port_of(local) != req.local_port) continue;
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    if (poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) connected = false;
    break;
  }
  closedir(dir);
  return connected;
}

// ---- generation ----

std::shared_ptr<Job> generate(ServerContext& ctx, const httplib::Request& req,
                              const std::string& model, sd::GenerationParams params) {
  return generate_batches(ctx, req, model, "", std::move(params), 1);
}

std::shared_ptr<Job> generate_batches(ServerContext& ctx, const httplib::Request& req,
                                      const std::string& model, const std::string& device,
                                      sd::GenerationParams params, int iterations) {
  check_generation(ctx, params);
  if (!ctx.registry->find_pipeline(model))
    throw RequestError{404, "no model named '" + model + "'", "model"};
  if (ctx.stopping) {
    GenerationError e{{503, "the server is shutting down", ""}, 5};
    throw e;
  }
  std::shared_ptr<Job> job = ctx.queue->submit(model, device, std::move(params), iterations);
  if (!job) {
    GenerationError e{{503,
                       "the queue is full (" + std::to_string(ctx.queue->max_queued()) +
                           " jobs waiting); retry later",
                       ""},
                      ctx.queue->retry_after_seconds()};
    throw e;
  }
  ctx.queue->wait(*job, [&] { return client_connected(req); });
  switch (job->state) {
    case JobState::done:
      return job;
    case JobState::cancelled:
      throw GenerationError{{503, job->error, ""}, 1};
    default:
      break;
  }
  const int status = job->error_category == sinter::ErrorCategory::invalid_argument ||
                             job->error_category == sinter::ErrorCategory::device_not_found
                         ? 422
                     : job->error_category == sinter::ErrorCategory::out_of_memory ? 507
                                                                                   : 500;
  throw RequestError{status, job->error, ""};
}

}  // namespace sinter_server
