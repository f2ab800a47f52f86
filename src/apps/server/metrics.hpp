// Prometheus metrics in the text exposition format: requests by route and status, generation
// and step seconds (histograms), jobs by outcome; the queue depth and memory are read when
// scraped.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace sinter_server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds)
      : bounds_(std::move(bounds)), counts_(bounds_.size()) {}
  void observe(double value);
  // "name_bucket{le=...} n" lines, then _sum and _count.
  std::string render(const std::string& name) const;

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // cumulative at render time, per bucket here
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics();
  void count_request(const std::string& route, int status);
  void observe_generation(double seconds, int steps, const std::string& outcome);
  // `gauges`: name -> (help, value), rendered after the counters and histograms.
  std::string render(
      const std::vector<std::pair<std::string, std::pair<std::string, double>>>& gauges) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
  std::map<std::string, uint64_t> jobs_;
  Histogram generation_, step_;
};

}  // namespace sinter_server
