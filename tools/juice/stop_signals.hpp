// Ctrl-C (SIGINT) and `kill` (SIGTERM) during `juice train`: the first one lets the current step
// finish, then the run saves OUT/checkpoint and stops with exit status 128 + the signal (130, 143)
// and a line saying how to resume; a second one stops at once (the handler is installed with
// SA_RESETHAND, so the second delivery takes the default action). The handler only records the
// signal; the training loop looks between steps (stop_signals::requested()).
#pragma once

#include <signal.h>

#include <csignal>
#include <stdexcept>
#include <string>

namespace juice::cli {

namespace detail {
inline volatile std::sig_atomic_t stop_signal = 0;  // the first SIGINT/SIGTERM, 0 before
extern "C" inline void record_stop_signal(int sig) { stop_signal = sig; }
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
