// Ctrl-C and SIGTERM without asynchronous signal handlers. install() blocks both signals in the
// calling thread before any other exists, so every thread the runtime starts (OpenMP, oneDNN,
// OpenCL) inherits the block and no signal ever interrupts a compute thread; one watcher thread
// takes them with sigwait. A command that can stop cleanly registers a flag: the first signal
// sets it, a second ends the process at once. Without a registered flag a signal ends the
// process at once with 128 + its number, as the default action would.
#pragma once

#include <atomic>

namespace sinter_cli::interrupts {

// Call first thing in main, before any thread starts.
void install();

// While a Watch lives, SIGINT and SIGTERM set `flag` (and record the signal) instead of
// ending the process.
class Watch {
 public:
  explicit Watch(std::atomic<bool>& flag);
  ~Watch();
  Watch(const Watch&) = delete;
  Watch& operator=(const Watch&) = delete;
};

// The signal that set the watched flag (SIGINT, SIGTERM), 0 if none.
int last_signal();

}  // namespace sinter_cli::interrupts
