// `sinter serve`: sinter's image pipeline and runtime behind A1111's API (/sdapi/v1), OpenAI's
// Images API (/v1), the Open Inference Protocol (/v2), Prometheus metrics and a web UI, with one
// generation queue. Routes live in one file per API family; this file holds what they share.
#pragma once

#include <httplib.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sinter/diffusion.hpp>
#include <sinter/sinter.hpp>
#include <string>
#include <vector>

#include "apps/server/job_queue.hpp"
#include "apps/server/metrics.hpp"
#include "apps/server/model_registry.hpp"

namespace sinter_server {

struct Limits {
  int max_width = 2048, max_height = 2048, max_steps = 150, max_batch = 8;
  std::size_t max_body_bytes = 64u << 20;
};

// A setting as the settings view shows it: its value and where it came from.
struct SettingRow {
  std::string name, value, source;  // source: "command line", "environment", "file", "default"
};

struct ServerOptions {
  std::string model;       // one pipeline folder
  std::string models_dir;  // or a folder of pipelines and .onnx/.sinter models
  std::string host = "127.0.0.1";
  int port = 7860;       // 0: any free port (printed)
  std::string api_key;   // Authorization: Bearer KEY
  std::string api_auth;  // user:pass for basic auth (A1111's --api-auth)
  std::size_t max_queue = 16;
  std::vector<std::string> cors_allow_origins;
  Limits limits;
  sinter::diffusion::PipelineOptions devices;
  std::vector<SettingRow> settings;  // every setting with its source, for /sinter/v1/settings
};

// What the route families share.
struct ServerContext {
  ServerOptions options;
  const sinter::Core* core = nullptr;
  ModelRegistry* registry = nullptr;
  JobQueue* queue = nullptr;
  Metrics* metrics = nullptr;
  std::atomic<bool> stopping{false};
  // The default pipeline is loaded (converted and cached on first use) in the background after
  // the server starts listening; /v2/health/ready answers 503 until then.
  std::atomic<bool> loaded{false};

  // Images served by URL (OpenAI's response_format "url"): the newest 64.
  std::string store_image(const std::string& png);
  std::optional<std::string> stored_image(const std::string& id) const;

 private:
  mutable std::mutex images_mutex_;
  std::deque<std::pair<std::string, std::string>> images_;
  uint64_t next_image_ = 1;
};

// A field error (4xx naming the field) or any other client error.
struct RequestError {
  int status;
  std::string message;
  std::string field;  // empty when not about one field
};

// JSON helpers.
void send_json(httplib::Response& res, int status, const nlohmann::json& body);
// The body as a JSON object; throws RequestError 400 naming the problem.
nlohmann::json parse_json_object(const httplib::Request& req);
// Field readers: a missing or null field gives the default; a wrong type throws RequestError.
std::string string_field(const nlohmann::json& j, const std::string& key, const std::string& def);
int64_t int_field(const nlohmann::json& j, const std::string& key, int64_t def);
double number_field(const nlohmann::json& j, const std::string& key, double def);
bool bool_field(const nlohmann::json& j, const std::string& key, bool def);

// Checks a generation's parameters against the limits and what sinter knows (sampler,
// schedule, sizes); throws RequestError 422 naming the field.
void check_generation(const ServerContext& ctx, const sinter::diffusion::GenerationParams& p);

// Whether the client of `req` still holds its connection open (Linux: finds the socket by its
// two addresses and polls it for a hang-up).
bool client_connected(const httplib::Request& req);

// Submits a generation and waits for it. Throws RequestError: 503 (with retry_after) when the
// queue is full or the server stops, 499-style 400 when the job was withdrawn, 422 for
// parameters the pipeline refuses, 507 for out of memory, 500 otherwise.
struct GenerationError : RequestError {
  int retry_after = 0;
};
std::shared_ptr<Job> generate(ServerContext& ctx, const httplib::Request& req,
                              const std::string& model, sinter::diffusion::GenerationParams params);
// The same for `iterations` batches in one job (A1111's n_iter).
std::shared_ptr<Job> generate_batches(ServerContext& ctx, const httplib::Request& req,
                                      const std::string& model, const std::string& device,
                                      sinter::diffusion::GenerationParams params, int iterations);
// A seed for seed -1: A1111 picks a random 32-bit one and reports it.
int64_t random_seed();
// Sends a RequestError as {"error": ..., "detail": ..., "field": ...} (A1111 and v2 style);
// GenerationErrors with a retry time also set Retry-After.
void send_request_error(httplib::Response& res, const RequestError& e, int retry_after = 0);

// Resident memory of this process (VmRSS), and the machine's MemTotal / MemAvailable, in bytes
// (0 when unknown).
int64_t resident_bytes();
int64_t machine_memory_bytes(const char* key);

// "Not Found" for 404, ...
const char* reason_phrase(int status);

// Route families.
void add_a1111_routes(httplib::Server& http, ServerContext& ctx);
void add_openai_routes(httplib::Server& http, ServerContext& ctx);
void add_inference_routes(httplib::Server& http, ServerContext& ctx);  // Open Inference Protocol
void add_ui_routes(httplib::Server& http, ServerContext& ctx);         // web UI, settings, devices

// Runs the server until `stop` becomes true (SIGINT/SIGTERM): binds, prints the URL, devices and
// models to stdout, serves. Returns the process exit status.
int run_server(ServerOptions options, const sinter::Core& core, const std::atomic<bool>& stop);

}  // namespace sinter_server
