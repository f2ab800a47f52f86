// Generation jobs: a bounded FIFO run one at a time by one worker thread (a generation already
// uses every core of its device). Submitting to a full queue is refused; a queued job can be
// withdrawn (its client went away); the running job can be interrupted after its current step.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <sinter/diffusion.hpp>
#include <sinter/error.hpp>
#include <string>
#include <thread>

namespace sinter_server {

namespace sd = sinter::diffusion;

enum class JobState { queued, running, done, failed, cancelled };

struct Job {
  uint64_t id = 0;
  std::string model;   // pipeline name in the models folder
  std::string device;  // every stage on this device; empty: the server's devices
  sd::GenerationParams params;
  int iterations = 1;  // A1111's n_iter: batches run one after another, seeds continuing
  std::atomic<bool> cancel{false};  // read by generate() after every step

  // Guarded by the queue's mutex.
  JobState state = JobState::queued;
  sd::StepProgress progress;           // without its latents pointer
  std::vector<float> preview_latents;  // the first image's latents after the latest step
  sd::GenerationResult result;
  std::string error;
  sinter::ErrorCategory error_category = sinter::ErrorCategory::internal;
  std::chrono::steady_clock::time_point queued_at, started_at, finished_at;
};

struct QueueSnapshot {
  std::optional<uint64_t> running_id;
  sd::StepProgress running_progress;
  std::vector<float> running_preview_latents;  // 4 x latent_height x latent_width, or empty
  std::string running_model;
  int running_batch = 0;
  double running_seconds = 0;
  std::size_t queued = 0;
  uint64_t finished = 0, failed = 0, cancelled = 0, rejected = 0;
};

class JobQueue {
 public:
  // Runs a job's generation: calls on_step after each step and stops when job.cancel is set.
  using Runner = std::function<sd::GenerationResult(
      Job& job, const std::function<void(const sd::StepProgress&)>& on_step)>;
  // Called when a job ends (any state), outside the lock: metrics.
  using Finished = std::function<void(const Job& job)>;

  JobQueue(std::size_t max_queued, Runner run, Finished finished);
  ~JobQueue();  // shutdown(false)
  JobQueue(const JobQueue&) = delete;
  JobQueue& operator=(const JobQueue&) = delete;

  // Null when the queue already holds max_queued jobs or is shut down.
  std::shared_ptr<Job> submit(std::string model, std::string device, sd::GenerationParams params,
                              int iterations = 1);
  // Waits until the job ends; every 100 ms asks `still_wanted` and withdraws the job (or
  // interrupts it, if running) when it says no.
  void wait(Job& job, const std::function<bool()>& still_wanted);
  // Interrupts the running job (A1111's /interrupt); false when none runs.
  bool interrupt_running();
  QueueSnapshot snapshot() const;
  std::size_t max_queued() const { return max_queued_; }
  // Seconds a new job would wait, from the running job's pace (for Retry-After); at least 1.
  int retry_after_seconds() const;
  // Stops taking jobs, withdraws queued ones and lets the running one finish (or interrupts it
  // when `interrupt`), then joins the worker.
  void shutdown(bool interrupt);

 private:
  void work();
  void end(Job& job, JobState state);

  const std::size_t max_queued_;
  Runner run_;
  Finished finished_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::shared_ptr<Job>> queue_;
  std::shared_ptr<Job> running_;
  uint64_t next_id_ = 1;
  uint64_t finished_count_ = 0, failed_count_ = 0, cancelled_count_ = 0, rejected_count_ = 0;
  double last_job_seconds_ = 0;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace sinter_server
