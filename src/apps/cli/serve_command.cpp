// `sinter serve`: flags (and SINTER_API_KEY / SINTER_API_AUTH from the environment) into
// sinter_server::ServerOptions; the server itself is src/apps/server.
#include <cstdlib>

#include "apps/cli/commands.hpp"
#include "apps/cli/interrupts.hpp"
#include "apps/cli/settings.hpp"
#include "apps/server/server.hpp"

namespace sinter_cli {

namespace {

struct ServeArgs {
  sinter_server::ServerOptions options;
  std::string device, text_encoder_device, unet_device, vae_device, cors;
  std::size_t max_body_mib = 64;
  CLI::App* command = nullptr;
};

std::atomic<bool> g_stop{false};

// The source of a server setting: its flag, else its environment variable, else the default.
std::string source_of(const ServeArgs& a, const std::string& flag, const char* env = nullptr) {
  if (a.command->count(flag) > 0) return "command line";
  if (env && std::getenv(env)) return std::string("environment ") + env;
  return "default";
}

void serve(ServeArgs& a) {
  sinter_server::ServerOptions& o = a.options;
  if (o.model.empty() == o.models_dir.empty())
    throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                        "give one of --model DIR (a pipeline folder) or --models-dir DIR");
  if (o.api_key.empty())
    if (const char* k = std::getenv("SINTER_API_KEY")) o.api_key = k;
  if (o.api_auth.empty())
    if (const char* k = std::getenv("SINTER_API_AUTH")) o.api_auth = k;
  if (!o.api_auth.empty() && o.api_auth.find(':') == std::string::npos)
    throw sinter::Error(sinter::ErrorCategory::invalid_argument,
                        "--api-auth must be user:password");
  for (std::size_t start = 0; start < a.cors.size();) {
    const std::size_t comma = std::min(a.cors.find(',', start), a.cors.size());
    if (comma > start) o.cors_allow_origins.push_back(a.cors.substr(start, comma - start));
    start = comma + 1;
  }
  o.limits.max_body_bytes = a.max_body_mib << 20;
  sinter::Core core = cli_settings().make_core(a.device);
  const std::string all = core.config().get("device");
  o.devices = {a.text_encoder_device.empty() ? all : a.text_encoder_device,
               a.unet_device.empty() ? all : a.unet_device,
               a.vae_device.empty() ? all : a.vae_device};
  // Every setting with where its value came from, for the settings view.
  for (const sinter::Setting& s : core.config().all())
    o.settings.push_back({s.key, s.value, s.source});
  auto row = [&](const std::string& name, const std::string& value, const std::string& flag,
                 const char* env = nullptr) {
    o.settings.push_back({name, value, source_of(a, flag, env)});
  };
  row("serve.model", o.model.empty() ? o.models_dir : o.model,
      o.model.empty() ? "--models-dir" : "--model");
  row("serve.host", o.host, "--host");
  row("serve.port", std::to_string(o.port), "--port");
  row("serve.api_key", o.api_key.empty() ? "(none)" : "(set)", "--api-key", "SINTER_API_KEY");
  row("serve.api_auth", o.api_auth.empty() ? "(none)" : "(set)", "--api-auth", "SINTER_API_AUTH");
  row("serve.max_queue", std::to_string(o.max_queue), "--max-queue");
  row("serve.max_width", std::to_string(o.limits.max_width), "--max-width");
  row("serve.max_height", std::to_string(o.limits.max_height), "--max-height");
  row("serve.max_steps", std::to_string(o.limits.max_steps), "--max-steps");
  row("serve.max_batch", std::to_string(o.limits.max_batch), "--max-batch");
  row("serve.max_body_mib", std::to_string(a.max_body_mib), "--max-body-mib");
  row("serve.cors_allow_origins", a.cors.empty() ? "(off)" : a.cors, "--cors-allow-origins");
  row("serve.text_encoder_device", o.devices.text_encoder_device, "--text-encoder-device");
  row("serve.unet_device", o.devices.unet_device, "--unet-device");
  row("serve.vae_device", o.devices.vae_device, "--vae-device");
  const interrupts::Watch watch(g_stop);  // SIGINT/SIGTERM: stop cleanly
  const int status = sinter_server::run_server(o, core, g_stop);
  if (status != 0) throw ExitStatus{status};
}

}  // namespace

void add_serve_command(CLI::App& app) {
  auto a = std::make_shared<ServeArgs>();
  sinter_server::ServerOptions& o = a->options;
  auto* s = app.add_subcommand(
      "serve",
      "Serve image generation and inference over HTTP: A1111's API (/sdapi/v1), OpenAI's Images "
      "API (/v1), the Open Inference Protocol (/v2), Prometheus /metrics and a web UI at /.\n"
      "Example: sinter serve --model sd-tiny   (then open http://127.0.0.1:7860/)\n"
      "Docs: docs/server.md");
  a->command = s;
  s->add_option("--model", o.model, "A pipeline folder (diffusers ONNX layout) to serve")
      ->check(CLI::ExistingDirectory);
  s->add_option("--models-dir", o.models_dir,
                "A folder of pipeline folders and .onnx/.sinter models to serve")
      ->check(CLI::ExistingDirectory);
  s->add_option("--host", o.host, "Address to listen on (loopback unless you say otherwise)")
      ->capture_default_str();
  s->add_option("--port", o.port, "Port (0: any free port, printed at startup)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  s->add_option("--api-key", o.api_key,
                "Require 'Authorization: Bearer KEY' (or set SINTER_API_KEY)");
  s->add_option("--api-auth", o.api_auth,
                "Require basic auth user:password, as A1111's --api-auth (or SINTER_API_AUTH)");
  s->add_option("--max-queue", o.max_queue, "Jobs waiting at most; more get 503 with Retry-After")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  s->add_option("--max-width", o.limits.max_width, "Largest width a request may ask for")
      ->capture_default_str();
  s->add_option("--max-height", o.limits.max_height, "Largest height a request may ask for")
      ->capture_default_str();
  s->add_option("--max-steps", o.limits.max_steps, "Most sampling steps a request may ask for")
      ->capture_default_str();
  s->add_option("--max-batch", o.limits.max_batch, "Largest batch a request may ask for")
      ->capture_default_str();
  s->add_option("--max-body-mib", a->max_body_mib, "Largest request body in MiB (413 above)")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  s->add_option(
      "--cors-allow-origins", a->cors,
      "Comma-separated origins allowed cross-origin requests (* for any); off by default");
  s->add_option("-d,--device", a->device, "Device of every stage (CPU, GPU.0, HETERO:..., AUTO)");
  s->add_option("--text-encoder-device", a->text_encoder_device, "Device of the text encoder");
  s->add_option("--unet-device", a->unet_device, "Device of the UNet");
  s->add_option("--vae-device", a->vae_device, "Device of the VAE");
  s->callback([a] { serve(*a); });
}

}  // namespace sinter_cli
