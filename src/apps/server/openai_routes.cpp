// OpenAI's Images API (POST /v1/images/generations, GET /v1/models) as the official client
// libraries call it: errors as {"error": {"message", "type", "param", "code"}}, images as
// b64_json or as a URL this server serves (GET /v1/images/files/{id}.png, the newest 64).
#include <ctime>

#include "apps/server/base64.hpp"
#include "apps/server/server.hpp"

namespace sinter_server {

using nlohmann::json;
namespace sd = sinter::diffusion;

namespace {

void send_openai_error(httplib::Response& res, const RequestError& e, int retry_after = 0) {
  if (retry_after > 0) res.set_header("Retry-After", std::to_string(retry_after));
  send_json(res, e.status,
            {{"error",
              {{"message", e.message},
               {"type", e.status >= 500 ? "server_error" : "invalid_request_error"},
               {"param", e.field.empty() ? json(nullptr) : json(e.field)},
               {"code", e.status == 503 ? json("server_busy") : json(nullptr)}}}});
}

// Runs `handle`, answering its errors in OpenAI's shape.
template <typename Handle>
void openai_call(httplib::Response& res, Handle&& handle) {
  try {
    handle();
  } catch (const GenerationError& e) {
    send_openai_error(res, e, e.retry_after);
  } catch (const RequestError& e) {
    send_openai_error(res, e);
  } catch (const sinter::Error& e) {
    send_openai_error(
        res, {e.category() == sinter::ErrorCategory::invalid_argument ? 400 : 500, e.what(), ""});
  }
}

// "512x512" -> width, height.
std::pair<int, int> parse_size(const std::string& size) {
  const std::size_t x = size.find('x');
  try {
    if (x != std::string::npos) {
      std::size_t used_w = 0, used_h = 0;
      const int w = std::stoi(size.substr(0, x), &used_w),
                h = std::stoi(size.substr(x + 1), &used_h);
      if (used_w == x && used_h == size.size() - x - 1) return {w, h};
    }
  } catch (const std::exception&) {
  }
  throw RequestError{400, "size must be WIDTHxHEIGHT, e.g. 512x512; got '" + size + "'", "size"};
}

std::string base_url(const httplib::Request& req) {
  const std::string host = req.get_header_value("Host");
  return "http://" + (host.empty() ? req.local_addr + ":" + std::to_string(req.local_port) : host);
}

}  // namespace

void add_openai_routes(httplib::Server& http, ServerContext& ctx) {
  http.Post("/v1/images/generations", [&ctx](const httplib::Request& req, httplib::Response& res) {
    openai_call(res, [&] {
      json j;
      try {
        j = parse_json_object(req);
      } catch (const RequestError& e) {
        throw RequestError{400, e.message, ""};
      }
      sd::GenerationParams p;
      p.prompt = string_field(j, "prompt", "");
      if (p.prompt.empty()) throw RequestError{400, "prompt is required", "prompt"};
      const std::string model = string_field(j, "model", ctx.registry->current());
      if (!ctx.registry->find_pipeline(model))
        throw RequestError{404, "The model '" + model + "' does not exist", "model"};
      const int64_t n = int_field(j, "n", 1);
      if (n < 1 || n > ctx.options.limits.max_batch)
        throw RequestError{400, "n must be 1.." + std::to_string(ctx.options.limits.max_batch),
                           "n"};
      p.batch_size = static_cast<int>(n);
      std::tie(p.width, p.height) = parse_size(string_field(j, "size", "512x512"));
      const std::string format = string_field(j, "response_format", "b64_json");
      if (format != "b64_json" && format != "url")
        throw RequestError{400, "response_format must be b64_json or url", "response_format"};
      // sinter's own optional fields: steps, sampler, seed, negative prompt, guidance.
      p.steps = static_cast<int>(int_field(j, "steps", 20));
      p.sampler = string_field(j, "sampler", "Euler a");
      p.seed = int_field(j, "seed", -1);
      if (p.seed < 0) p.seed = random_seed();
      p.negative_prompt = string_field(j, "negative_prompt", "");
      p.cfg_scale = number_field(j, "guidance_scale", 7.0);
      try {
        check_generation(ctx, p);
      } catch (const RequestError& e) {
        throw RequestError{400, e.message, e.field};
      }
      const std::shared_ptr<Job> job = generate(ctx, req, model, p);
      if (job->state != JobState::done)
        throw RequestError{503, "the generation was interrupted", ""};
      json data = json::array();
      for (std::size_t i = 0; i < job->result.images.size(); ++i) {
        const std::string png = sd::encode_png(job->result.images[i], job->result.infotexts[i]);
        json item = {{"revised_prompt", p.prompt}};
        if (format == "url")
          item["url"] = base_url(req) + "/v1/images/files/" + ctx.store_image(png) + ".png";
        else
          item["b64_json"] = base64_encode(png);
        data.push_back(item);
      }
      send_json(res, 200, {{"created", static_cast<int64_t>(std::time(nullptr))}, {"data", data}});
    });
  });
  http.Get(R"(/v1/images/files/([0-9]+-[0-9]+)\.png)",
           [&ctx](const httplib::Request& req, httplib::Response& res) {
             const auto png = ctx.stored_image(req.matches[1].str());
             if (!png) {
               send_openai_error(res, {404, "no such image (only the newest 64 are kept)", ""});
               return;
             }
             res.set_content(*png, "image/png");
           });
  http.Get("/v1/models", [&ctx](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    for (const ModelEntry& e : ctx.registry->pipelines())
      data.push_back({{"id", e.name}, {"object", "model"}, {"created", 0}, {"owned_by", "sinter"}});
    send_json(res, 200, {{"object", "list"}, {"data", data}});
  });
}

}  // namespace sinter_server
