#include "apps/server/job_queue.hpp"

#include <algorithm>
#include <cmath>

namespace sinter_server {

using Clock = std::chrono::steady_clock;

namespace {

double seconds_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace

JobQueue::JobQueue(std::size_t max_queued, Runner run, Finished finished)
    : max_queued_(max_queued), run_(std::move(run)), finished_(std::move(finished)) {
  worker_ = std::thread([this] { work(); });
}

JobQueue::~JobQueue() {
  shutdown(false);
}

std::shared_ptr<Job> JobQueue::submit(std::string model, std::string device,
                                      sd::GenerationParams params, int iterations) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (stopping_ || queue_.size() >= max_queued_) {
    ++rejected_count_;
    return nullptr;
  }
  auto job = std::make_shared<Job>();
  job->id = next_id_++;
  job->model = std::move(model);
  job->device = std::move(device);
  job->params = std::move(params);
  job->iterations = iterations;
  job->queued_at = Clock::now();
  queue_.push_back(job);
  changed_.notify_all();
  return job;
}

void JobQueue::end(Job& job, JobState state) {
  job.state = state;
  job.finished_at = Clock::now();
  if (state == JobState::done) ++finished_count_;
  if (state == JobState::failed) ++failed_count_;
  if (state == JobState::cancelled) ++cancelled_count_;
  changed_.notify_all();
}

void JobQueue::wait(Job& job, const std::function<bool()>& still_wanted) {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    if (job.state != JobState::queued && job.state != JobState::running) return;
    changed_.wait_for(lock, std::chrono::milliseconds(100));
    if (job.state != JobState::queued && job.state != JobState::running) return;
    lock.unlock();
    const bool wanted = !still_wanted || still_wanted();
    lock.lock();
    if (wanted) continue;
    if (job.state == JobState::queued) {
      queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                                  [&](const auto& j) { return j.get() == &job; }),
                   queue_.end());
      job.error = "the client went away before the job started";
      job.error_category = sinter::ErrorCategory::invalid_argument;
      end(job, JobState::cancelled);
      lock.unlock();
      if (finished_) finished_(job);
      return;
    }
    job.cancel = true;  // running: stop after the current step
  }
}

bool JobQueue::interrupt_running() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!running_) return false;
  running_->cancel = true;
  return true;
}

QueueSnapshot JobQueue::snapshot() const {
  std::lock_guard<std::mutex> lock(mutex_);
  QueueSnapshot s;
  if (running_) {
    s.running_id = running_->id;
    s.running_progress = running_->progress;
    s.running_preview_latents = running_->preview_latents;
    s.running_model = running_->model;
    s.running_batch = running_->params.batch_size;
    s.running_seconds = seconds_between(running_->started_at, Clock::now());
  }
  s.queued = queue_.size();
  s.finished = finished_count_;
  s.failed = failed_count_;
  s.cancelled = cancelled_count_;
  s.rejected = rejected_count_;
  return s;
}

int JobQueue::retry_after_seconds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  const double per_job = std::max(1.0, last_job_seconds_);
  return static_cast<int>(std::ceil(per_job * static_cast<double>(queue_.size() + 1)));
}

void JobQueue::shutdown(bool interrupt) {
  std::vector<std::shared_ptr<Job>> withdrawn;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !worker_.joinable()) return;
    stopping_ = true;
    for (auto& job : queue_) {
      job->error = "the server is shutting down";
      end(*job, JobState::cancelled);
      withdrawn.push_back(job);
    }
    queue_.clear();
    if (interrupt && running_) running_->cancel = true;
    changed_.notify_all();
  }
  for (auto& job : withdrawn)
    if (finished_) finished_(*job);
  if (worker_.joinable()) worker_.join();
}

void JobQueue::work() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, nothing left
      job = queue_.front();
      queue_.pop_front();
      running_ = job;
      job->state = JobState::running;
      job->started_at = Clock::now();
      changed_.notify_all();
    }
    JobState outcome = JobState::done;
    sd::GenerationResult result;
    std::string error;
    sinter::ErrorCategory category = sinter::ErrorCategory::internal;
    try {
      result = run_(*job, [&](const sd::StepProgress& p) {
        const std::size_t first_image =
            4 * static_cast<std::size_t>(p.latent_height * p.latent_width);
        std::lock_guard<std::mutex> lock(mutex_);
        job->progress = p;
        job->progress.latents = nullptr;  // valid only during this call
        if (p.latents && p.latents->size() >= first_image && first_image > 0)
          job->preview_latents.assign(p.latents->begin(), p.latents->begin() + first_image);
      });
    } catch (const sinter::Error& e) {
      outcome = job->cancel ? JobState::cancelled : JobState::failed;
      error = job->cancel ? "interrupted" : e.what();
      category = e.category();
    } catch (const std::exception& e) {
      outcome = JobState::failed;
      error = e.what();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job->result = std::move(result);
      job->error = error;
      job->error_category = category;
      running_.reset();
      end(*job, outcome);
      last_job_seconds_ = seconds_between(job->started_at, job->finished_at);
    }
    if (finished_) finished_(*job);
  }
}

}  // namespace sinter_server
