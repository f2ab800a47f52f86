#include "apps/server/metrics.hpp"

#include <cstdio>
#include <sstream>

namespace sinter_server {

namespace {

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

// Label values escape backslash, quote and newline.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

void Histogram::observe(double value) {
  for (std::size_t i = 0; i < bounds_.size(); ++i)
    if (value <= bounds_[i]) {
      ++counts_[i];
      break;
    }
  sum_ += value;
  ++count_;
}

std::string Histogram::render(const std::string& name) const {
  std::ostringstream out;
  uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds_.size(); ++i) {
    cumulative += counts_[i];
    out << name << "_bucket{le=\"" << number(bounds_[i]) << "\"} " << cumulative << "\n";
  }
  out << name << "_bucket{le=\"+Inf\"} " << count_ << "\n";
  out << name << "_sum " << number(sum_) << "\n" << name << "_count " << count_ << "\n";
  return out.str();
}

Metrics::Metrics()
    : generation_({0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600}),
      step_({0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30}) {}

void Metrics::count_request(const std::string& route, int status) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++requests_[{route, status}];
}

void Metrics::observe_generation(double seconds, int steps, const std::string& outcome) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++jobs_[outcome];
  if (outcome != "done") return;
  generation_.observe(seconds);
  if (steps > 0) step_.observe(seconds / steps);
}

std::string Metrics::render(
    const std::vector<std::pair<std::string, std::pair<std::string, double>>>& gauges) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::ostringstream out;
  out << "# HELP sinter_http_requests_total HTTP requests by route and status.\n"
      << "# TYPE sinter_http_requests_total counter\n";
  for (const auto& [key, n] : requests_)
    out << "sinter_http_requests_total{route=\"" << label(key.first) << "\",status=\"" << key.second
        << "\"} " << n << "\n";
  out << "# HELP sinter_jobs_total Generation jobs by outcome (done, failed, cancelled).\n"
      << "# TYPE sinter_jobs_total counter\n";
  for (const auto& [outcome, n] : jobs_)
    out << "sinter_jobs_total{outcome=\"" << label(outcome) << "\"} " << n << "\n";
  out << "# HELP sinter_generation_seconds Wall time of finished generations.\n"
      << "# TYPE sinter_generation_seconds histogram\n"
      << generation_.render("sinter_generation_seconds");
  out << "# HELP sinter_step_seconds Mean sampling step time of each finished generation.\n"
      << "# TYPE sinter_step_seconds histogram\n"
      << step_.render("sinter_step_seconds");
  for (const auto& [name, g] : gauges)
    out << "# HELP " << name << " " << g.first << "\n# TYPE " << name << " gauge\n"
        << name << " " << number(g.second) << "\n";
  return out.str();
}

}  // namespace sinter_server
