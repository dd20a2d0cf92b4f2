// Ctrl-C (SIGINT) and `kill` (SIGTERM) during `juice train`: the first one lets the current step
// finish, then the run saves OUT/checkpoint and stops with exit status 128 + the signal (130, 143)
// and a line saying how to resume; a second one, SIGINT or SIGTERM whichever the first was, stops
// at once with its default action (killed by that signal: 130 or 143 in the shell): the handler
// records the first signal and resets both to their default action (SA_RESETHAND alone would reset
// only the one delivered, so SIGINT then SIGTERM would wait for the step). Both are blocked while
// it runs, so a second signal arriving meanwhile is delivered after the reset. The training loop
// looks between steps (stop_signals::requested()).
#pragma once

#include <signal.h>

#include <csignal>
#include <stdexcept>
#include <string>

namespace juice::cli {

namespace detail {
inline volatile std::sig_atomic_t stop_signal = 0;  // the first SIGINT/SIGTERM, 0 before
// Async-signal-safe: an assignment to a sig_atomic_t and sigaction().
extern "C" inline void record_stop_signal(int sig) {
  stop_signal = sig;
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGINT, &dfl, nullptr);
  sigaction(SIGTERM, &dfl, nullptr);
}
}  // namespace detail

// The run stopped on a signal, its state saved; main() prints what() and exits with exit_code().
class interrupted : public std::runtime_error {
public:
  interrupted(int sig, const std::string& message) : std::runtime_error(message), sig_(sig) {}
  [[nodiscard]] int exit_code() const { return 128 + sig_; }

private:
  int sig_;
};

// Installs the handlers for its lifetime (the previous ones are restored after).
class stop_signals {
public:
  stop_signals() {
    detail::stop_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = detail::record_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
  }
  stop_signals(const stop_signals&) = delete;
  stop_signals& operator=(const stop_signals&) = delete;
  ~stop_signals() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
  }
  // The signal that asked the run to stop, or 0.
  [[nodiscard]] int requested() const { return detail::stop_signal; }
  // "SIGINT" or "SIGTERM".
  static std::string name(int sig) { return sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM"
                                                                                      : "signal " + std::to_string(sig); }

private:
  struct sigaction old_int_ {
  }, old_term_{};
};

}  // namespace juice::cli
