// `juice train` on several ranks: the group of processes an MPI launcher started (`mpirun -np N
// juice train ...`, detected from the launcher's environment, or `--distributed mpi`), or a group of
// one. Every rank holds the same replica of the model and takes its own slice of every minibatch;
// the trainer sums the loss terms and the finiteness flags over the group (all_reduce_sum) and
// averages the gradient (all_reduce_mean) before each step, so the replicas stay equal. Rank 0
// alone writes metrics, checkpoints and final/. Built without MPI, only the group of one exists and
// `--distributed mpi` is refused naming the option. See docs/scaling.md.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>

#include <fmt/core.h>

#include "juice/core/error.hpp"

#ifdef JUICE_HAVE_MPI
#include "juice/distributed/mpi_communicator.hpp"
#include "juice/distributed/mpi_session.hpp"
#endif

namespace juice::cli {

class train_group {
public:
  // `mode`: the --distributed option (auto | none | mpi). auto is mpi under an MPI launcher.
  explicit train_group(const std::string& mode) {
#ifdef JUICE_HAVE_MPI
    if (mode == "mpi" || (mode == "auto" && mpi_session::launched_by_mpirun())) {
      session_ = std::make_unique<mpi_session>();
      comm_.emplace();
    }
#else
    if (mode == "mpi")
      throw invalid_argument("--distributed mpi: this juice was built without MPI (install libopenmpi-dev and rebuild).");
#endif
  }

  [[nodiscard]] std::size_t rank() const {
#ifdef JUICE_HAVE_MPI
    if (comm_) return comm_->rank();
#endif
    return 0;
  }
  [[nodiscard]] std::size_t size() const {
#ifdef JUICE_HAVE_MPI
    if (comm_) return comm_->size();
#endif
    return 1;
  }
  // Whether this rank writes (metrics, checkpoints, final/, progress).
  [[nodiscard]] bool writer() const { return rank() == 0; }

  // The collectives; with one rank they leave the values as they are.
  void all_reduce_mean(std::span<float> v) {
#ifdef JUICE_HAVE_MPI
    if (comm_ && comm_->size() > 1) timed([&] { comm_->all_reduce_mean(v); });
#endif
    (void)v;
  }
  void all_reduce_sum(std::span<double> s) {
#ifdef JUICE_HAVE_MPI
    if (comm_ && comm_->size() > 1) timed([&] { comm_->all_reduce_sum(s); });
#endif
    (void)s;
  }
  // Seconds this rank spent in all-reduces (waiting for the slowest rank included) since the last call.
  double take_reduce_seconds() { return std::exchange(reduce_seconds_, 0.0); }
  // Rank 0's values on every rank.
  void broadcast(std::span<float> v) {
#ifdef JUICE_HAVE_MPI
    if (comm_ && comm_->size() > 1) comm_->broadcast(v);
#endif
    (void)v;
  }
  void broadcast(std::span<std::uint64_t> v) {
#ifdef JUICE_HAVE_MPI
    if (comm_ && comm_->size() > 1) comm_->broadcast(v);
#endif
    (void)v;
  }
  void barrier() {
#ifdef JUICE_HAVE_MPI
    if (comm_ && comm_->size() > 1) comm_->barrier();
#endif
  }

  // What juice::check_finite_everywhere (juice/optim/data_parallel.hpp) asks of a collective
  // optimizer: its reducer, here the group itself.
  train_group& reducer() { return *this; }

  // Ends the whole job after an error on this rank (several ranks only): prints the error as the
  // tool's main() would, naming the rank, and calls MPI_Abort, so no rank is left waiting in a
  // collective and MPI_Finalize (itself a collective) is never reached. Returns with one rank.
  void abort_on_error(const std::exception& e, int code) const {
#ifdef JUICE_HAVE_MPI
    if (comm_ && comm_->size() > 1) {
      const bool ours = dynamic_cast<const juice::error*>(&e) != nullptr;
      fmt::print(stderr, "juice: {}{} (rank {} of {})\n", ours ? "error: " : "internal error: ", e.what(), rank(), size());
      std::fflush(stderr);
      MPI_Abort(MPI_COMM_WORLD, code);
    }
#endif
    (void)e;
    (void)code;
  }

private:
  template <class F>
  void timed(F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    reduce_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  double reduce_seconds_ = 0;
#ifdef JUICE_HAVE_MPI
  std::unique_ptr<mpi_session> session_;  // declared first: finalised after the communicator is freed
  std::optional<mpi_communicator> comm_;
#endif
};

// A juice::GradientReducer handle on a train_group, for juice::all_reduced (RFT's PPO optimizer):
// cheap to copy; the group must outlive it.
class group_reducer {
public:
  explicit group_reducer(train_group& group) : group_(&group) {}
  void all_reduce_mean(std::span<float> v) const { group_->all_reduce_mean(v); }
  void all_reduce_sum(std::span<double> s) const { group_->all_reduce_sum(s); }
  [[nodiscard]] std::size_t rank() const { return group_->rank(); }
  [[nodiscard]] std::size_t size() const { return group_->size(); }

private:
  train_group* group_;
};

}  // namespace juice::cli
