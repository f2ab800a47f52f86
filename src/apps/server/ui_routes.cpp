// The web UI (one page built into the binary) and the small sinter-specific routes it reads:
// the device list, every setting with its source, and the queue.
#include <cstring>

#include "apps/server/server.hpp"
#include "apps/server/web_assets.hpp"

namespace sinter_server {

using nlohmann::json;

namespace {

const char* content_type(const std::string& name) {
  if (name.size() > 5 && name.compare(name.size() - 5, 5, ".html") == 0)
    return "text/html; charset=utf-8";
  if (name.size() > 3 && name.compare(name.size() - 3, 3, ".js") == 0) return "text/javascript";
  if (name.size() > 4 && name.compare(name.size() - 4, 4, ".css") == 0) return "text/css";
  if (name.size() > 4 && name.compare(name.size() - 4, 4, ".svg") == 0) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace

void add_ui_routes(httplib::Server& http, ServerContext& ctx) {
  http.Get("/", [](const httplib::Request&, httplib::Response& res) {
    for (const WebAsset& a : web_assets())
      if (std::strcmp(a.name, "index.html") == 0) {
        res.set_header("Content-Security-Policy",
                       "default-src 'self'; img-src 'self' data: blob:; style-src 'self' "
                       "'unsafe-inline'; script-src 'self' 'unsafe-inline'");
        res.set_content(a.content, content_type(a.name));
        return;
      }
    send_request_error(res, {404, "the web UI was not built into this binary", ""});
  });
  // Other assets by exact name from the embedded list only.
  http.Get(R"(/ui/([A-Za-z0-9_.-]+))", [](const httplib::Request& req, httplib::Response& res) {
    const std::string name = req.matches[1].str();
    for (const WebAsset& a : web_assets())
      if (name == a.name) {
        res.set_content(a.content, content_type(a.name));
        return;
      }
    send_request_error(res, {404, "no such file", ""});
  });
  http.Get("/sinter/v1/devices", [&ctx](const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    for (const auto& d : ctx.core->available_devices())
      out.push_back({{"name", d.name}, {"full_name", d.full_name}});
    send_json(res, 200,
              {{"devices", out},
               {"pipeline",
                {{"text_encoder", ctx.options.devices.text_encoder_device},
                 {"unet", ctx.options.devices.unet_device},
                 {"vae", ctx.options.devices.vae_device}}}});
  });
  http.Get("/sinter/v1/settings", [&ctx](const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    for (const SettingRow& s : ctx.options.settings)
      out.push_back({{"name", s.name}, {"value", s.value}, {"source", s.source}});
    send_json(res, 200, {{"settings", out}});
  });
  http.Get("/sinter/v1/queue", [&ctx](const httplib::Request&, httplib::Response& res) {
    const QueueSnapshot q = ctx.queue->snapshot();
    send_json(res, 200,
              {{"running", q.running_id.has_value()},
               {"queued", q.queued},
               {"max_queued", ctx.queue->max_queued()},
               {"finished", q.finished},
               {"failed", q.failed},
               {"cancelled", q.cancelled},
               {"rejected", q.rejected}});
  });
}

}  // namespace sinter_server
