// juice/distributed/mpi_communicator.hpp
//
// juice::mpi_communicator: this process's handle on a group of ranks started by an MPI launcher
// (`mpirun -np N`, srun), an RAII duplicate of MPI_COMM_WORLD (or of a given communicator). It is a
// juice::GradientReducer for host memory (juice::host, juice::cpu: views are std::span<T>), so
// `juice::all_reduced<juice::adamw, juice::mpi_communicator>` trains one replica per process on the
// CPU (docs/scaling.md): all_reduce_mean is one MPI_Allreduce (MPI_SUM, in place) over the whole
// flat gradient block, then a division by the group size, the same on every rank. Beyond the
// gradient it carries what a trainer needs on the host: all_reduce_sum of a few doubles (the
// finiteness flags, token counts and loss terms), broadcast (the seed, rank 0's initial
// parameters, a checkpoint's state), and barrier (nobody reads a checkpoint before rank 0 has
// written it). local_rank() numbers the ranks on this node (MPI_Comm_split_type, shared memory):
// one GPU per rank is chosen from it (juice/backends/cuda/mpi_nccl.hpp).
// Every MPI call is checked: the communicator's error handler is MPI_ERRORS_RETURN, and a failure
// throws juice::mpi_error naming the call, the rank and MPI_Error_string (mpi_error.hpp). MPI must
// be initialised first (juice::mpi_session). Like every collective, all ranks must make the same
// calls in the same order. Target juice::mpi (CMake's FindMPI).
#pragma once

#include <algorithm>
#include <climits>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <type_traits>
#include <utility>

#include <mpi.h>

#include "juice/core/error.hpp"
#include "juice/distributed/mpi_error.hpp"

namespace juice {

namespace mpi_detail {

template <class T>
MPI_Datatype data_type() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>,
                "juice::mpi_communicator reduces float and double gradients");
  if constexpr (std::is_same_v<T, float>)
    return MPI_FLOAT;
  else
    return MPI_DOUBLE;
}

// MPI counts are ints: a longer buffer goes in pieces of at most this many elements.
constexpr std::size_t max_count = static_cast<std::size_t>(INT_MAX);

}  // namespace mpi_detail

class mpi_communicator {
public:
  // This rank's handle on a duplicate of `parent` (collective over parent: every rank makes one).
  explicit mpi_communicator(MPI_Comm parent = MPI_COMM_WORLD) {
    int initialised = 0;
    JUICE_MPI_CHECK(MPI_Initialized(&initialised), MPI_COMM_NULL);
    if (!initialised)
      throw invalid_argument("juice::mpi_communicator: MPI is not initialised; create a juice::mpi_session first.");
    JUICE_MPI_CHECK(MPI_Comm_dup(parent, &comm_), parent);
    try {
      JUICE_MPI_CHECK(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), comm_);
      JUICE_MPI_CHECK(MPI_Comm_rank(comm_, &rank_), comm_);
      JUICE_MPI_CHECK(MPI_Comm_size(comm_, &size_), comm_);
      MPI_Comm node = MPI_COMM_NULL;
      JUICE_MPI_CHECK(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node), comm_);
      const int r1 = MPI_Comm_rank(node, &local_rank_), r2 = MPI_Comm_size(node, &local_size_);
      MPI_Comm_free(&node);
      JUICE_MPI_CHECK(r1, comm_);
      JUICE_MPI_CHECK(r2, comm_);
    } catch (...) {
      MPI_Comm_free(&comm_);
      throw;
    }
  }

  mpi_communicator(const mpi_communicator&) = delete;
  mpi_communicator& operator=(const mpi_communicator&) = delete;
  mpi_communicator(mpi_communicator&& o) noexcept
      : comm_(std::exchange(o.comm_, MPI_COMM_NULL)),
        rank_(o.rank_),
        size_(o.size_),
        local_rank_(o.local_rank_),
        local_size_(o.local_size_) {}
  mpi_communicator& operator=(mpi_communicator&& o) noexcept {
    if (this != &o) {
      release();
      comm_ = std::exchange(o.comm_, MPI_COMM_NULL);
      rank_ = o.rank_;
      size_ = o.size_;
      local_rank_ = o.local_rank_;
      local_size_ = o.local_size_;
    }
    return *this;
  }
  ~mpi_communicator() { release(); }

  // --- juice::GradientReducer<mpi_communicator, B, T> for host backends and T = float, double ---
  // Replaces v by the mean of every rank's v: the sum (MPI_Allreduce, MPI_SUM, in place) divided
  // by size(), identical on every rank.
  template <std::floating_point T>
  void all_reduce_mean(std::span<T> v) {
    for_pieces(v, [&](T* p, int n) {
      JUICE_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, p, n, mpi_detail::data_type<T>(), MPI_SUM, comm_), comm_);
    });
    if (size_ > 1)
      for (T& x : v) x = static_cast<T>(x / static_cast<T>(size_));
  }
  // Replaces the host values s by their element-wise sum over the group (exact for integer values).
  void all_reduce_sum(std::span<double> s) {
    for_pieces(s, [&](double* p, int n) { JUICE_MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, p, n, MPI_DOUBLE, MPI_SUM, comm_), comm_); });
  }
  [[nodiscard]] std::size_t rank() const { return static_cast<std::size_t>(rank_); }  // in [0, size())
  [[nodiscard]] std::size_t size() const { return static_cast<std::size_t>(size_); }  // number of ranks

  // --- beyond gradients ---
  // Copies rank `root`'s v into every rank's v (same size everywhere); T trivially copyable, sent as bytes.
  template <class T>
  void broadcast(std::span<T> v, std::size_t root = 0) {
    static_assert(std::is_trivially_copyable_v<T>, "juice::mpi_communicator::broadcast sends trivially copyable values as bytes");
    check_root(root, "broadcast");
    const std::span<std::byte> bytes(reinterpret_cast<std::byte*>(v.data()), v.size_bytes());
    for_pieces(bytes, [&](std::byte* p, int n) {
      JUICE_MPI_CHECK(MPI_Bcast(p, n, MPI_BYTE, static_cast<int>(root), comm_), comm_);
    });
  }
  // One value from `root` to every rank; returns it.
  template <class T>
  T broadcast_value(T value, std::size_t root = 0) {
    broadcast(std::span<T>(&value, 1), root);
    return value;
  }
  // Returns once every rank has called it.
  void barrier() { JUICE_MPI_CHECK(MPI_Barrier(comm_), comm_); }
  // This rank's index among the ranks on its node (shared memory), and their number.
  [[nodiscard]] std::size_t local_rank() const { return static_cast<std::size_t>(local_rank_); }
  [[nodiscard]] std::size_t local_size() const { return static_cast<std::size_t>(local_size_); }
  // The raw communicator, for further MPI calls.
  [[nodiscard]] MPI_Comm get() const { return comm_; }

private:
  template <class T, class F>
  static void for_pieces(std::span<T> v, F&& f) {
    for (std::size_t first = 0; first < v.size(); first += mpi_detail::max_count)
      f(v.data() + first, static_cast<int>(std::min(mpi_detail::max_count, v.size() - first)));
  }

  void check_root(std::size_t root, const char* call) const {
    if (root >= size())
      throw invalid_argument(std::string("juice::mpi_communicator::") + call + ": root " + std::to_string(root) +
                             " is out of range (the group has " + std::to_string(size()) + " ranks).");
  }

  void release() noexcept {
    int finalised = 1;
    if (comm_ != MPI_COMM_NULL && MPI_Finalized(&finalised) == MPI_SUCCESS && !finalised) MPI_Comm_free(&comm_);
    comm_ = MPI_COMM_NULL;
  }

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1;
};

}  // namespace juice
