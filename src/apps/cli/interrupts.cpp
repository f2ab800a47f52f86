#include "apps/cli/interrupts.hpp"

#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <thread>

namespace sinter_cli::interrupts {

namespace {

std::atomic<std::atomic<bool>*> g_flag{nullptr};
std::atomic<int> g_signal{0};

sigset_t watched_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

void watch_loop() {
  const sigset_t set = watched_signals();
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    std::atomic<bool>* flag = g_flag.load();
    if (flag && !flag->exchange(true)) {
      g_signal = sig;
      continue;
    }
    _exit(128 + sig);  // nothing asked to stop cleanly, or asked twice
  }
}

}  // namespace

void install() {
  const sigset_t set = watched_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::thread(watch_loop).detach();
}

Watch::Watch(std::atomic<bool>& flag) {
  g_flag = &flag;
}
Watch::~Watch() {
  g_flag = nullptr;
}

int last_signal() {
  return g_signal.load();
}

}  // namespace sinter_cli::interrupts
