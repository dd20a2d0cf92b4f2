// distributed/mpi_communicator.hpp under `mpirun -np 2` (label mpi; skipped when MPI is not
// installed): the communicator's collectives give the values constructed below on every rank; two
// processes, each running juice::sft unchanged on its half of the demonstrations with
// all_reduced<adamw, mpi_communicator>, end with the parameters and the gradient of one model
// trained on the whole set in this process (double, to 1e-12) and bit-identical to each other; and
// a NaN loss on one rank stops both ranks with the same error instead of leaving one waiting.
// Every rank runs every case; a failure on any rank fails the job.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "juice/algorithms/sft/sft.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/backends/host/host.hpp"
#include "juice/distributed/mpi_communicator.hpp"
#include "juice/distributed/mpi_session.hpp"
#include "juice/models/transformer.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/data_parallel.hpp"
#include "juice_test.hpp"
#include "../cpu/model_support.hpp"

using namespace juice;

static_assert(GradientReducer<mpi_communicator, cpu, double>);
static_assert(GradientReducer<mpi_communicator, host, float>);
static_assert(Optimizer<all_reduced<adamw, mpi_communicator>, transformer<cpu, double>>);

namespace {

struct mpi_fixture {
  mpi_session session;
};

sequence_batch demonstrations() {
  return test::make_batch({{{1, 2, 3}, {4, 5, 6}}, {{7}, {8, 9}}, {{2, 2}, {10, 1, 3, 5}}, {{6, 4, 9, 1}, {0}}});
}

adamw_hyper hyper() {
  adamw_hyper h;
  h.lr = 1e-2;
  h.weight_decay = 0.01;
  return h;
}

std::vector<double> copy_of(std::span<const double> s) { return {s.begin(), s.end()}; }

// This rank's rows [r B/N, (r+1) B/N) of the demonstrations.
sequence_batch slice_of(const sequence_batch& demos, std::size_t r, std::size_t n) {
  std::vector<std::size_t> rows;
  for (std::size_t b = demos.rows() * r / n; b < demos.rows() * (r + 1) / n; ++b) rows.push_back(b);
  return select_rows(demos, rows);
}

// Whether every rank's v equals rank 0's, bit for bit (rank 0's copy is broadcast and compared).
bool same_on_every_rank(mpi_communicator& comm, const std::vector<double>& v) {
  std::vector<double> root = v;
  comm.broadcast(std::span<double>(root));
  std::vector<double> differs{std::memcmp(root.data(), v.data(), v.size() * sizeof(double)) == 0 ? 0.0 : 1.0};
  comm.all_reduce_sum(differs);
  return differs[0] == 0;
}

}  // namespace

BOOST_TEST_GLOBAL_FIXTURE(mpi_fixture);

BOOST_AUTO_TEST_CASE(collectives_give_the_constructed_values) {
  mpi_communicator comm;
  const std::size_t N = comm.size(), r = comm.rank();
  BOOST_REQUIRE_GE(N, 2u);
  BOOST_CHECK_LT(r, N);
  BOOST_CHECK_LT(comm.local_rank(), comm.local_size());
  // Rank r holds 10 r + i + 0.25: the mean over ranks 0..N-1 is 5 (N-1) + i + 0.25, exact in binary for N = 2.
  std::vector<double> v(5);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<double>(10 * r + i) + 0.25;
  comm.all_reduce_mean(std::span<double>(v));
  for (std::size_t i = 0; i < v.size(); ++i) BOOST_CHECK_EQUAL(v[i], 5.0 * static_cast<double>(N - 1) + static_cast<double>(i) + 0.25);
  std::vector<double> s{static_cast<double>(r), 1};
  comm.all_reduce_sum(s);
  BOOST_CHECK_EQUAL(s[0], 0.5 * static_cast<double>(N) * static_cast<double>(N - 1));
  BOOST_CHECK_EQUAL(s[1], static_cast<double>(N));
  BOOST_CHECK_EQUAL(comm.broadcast_value<std::uint64_t>(r == 0 ? 1234567890123ull : 0), 1234567890123ull);
  comm.barrier();
  BOOST_CHECK_THROW(comm.broadcast_value(1, N), invalid_argument);  // root out of range: refused before any MPI call
}

BOOST_AUTO_TEST_CASE(ranks_on_slices_equal_one_model_on_the_whole_batch) {
  mpi_communicator comm;
  const auto demos = demonstrations();
  constexpr std::size_t steps = 3;
  transformer<cpu, double> single(test::tiny_config(), 7);
  adamw single_opt(hyper());
  sft({.steps = steps}).run(single, demos, single_opt);

  transformer<cpu, double> m(test::tiny_config(), 7);  // the same seed: replicas start equal
  all_reduced opt{adamw(hyper()), mpi_communicator{}};
  sft({.steps = steps}).run(m, slice_of(demos, comm.rank(), comm.size()), opt);
  using tol = test::tolerance<double>;
  test::check_close(copy_of(m.parameter_block().grad), copy_of(single.parameter_block().grad), tol::exact, tol::exact, "averaged gradient");
  test::check_close(copy_of(m.parameter_block().value), copy_of(single.parameter_block().value), tol::exact, tol::exact, "parameters");
  BOOST_CHECK_MESSAGE(same_on_every_rank(comm, copy_of(m.parameter_block().value)), "a rank's parameters differ from rank 0's");
  BOOST_CHECK_MESSAGE(same_on_every_rank(comm, copy_of(m.parameter_block().grad)), "a rank's gradient differs from rank 0's");
}

BOOST_AUTO_TEST_CASE(a_nan_on_one_rank_stops_every_rank_with_the_same_error) {
  mpi_communicator comm;
  const std::size_t N = comm.size(), poisoned = N - 1;
  transformer<cpu, double> m(test::tiny_config(), 7);
  all_reduced opt{adamw(hyper()), mpi_communicator{}};
  std::string message;
  try {
    sft({.steps = 4}).run(m, slice_of(demonstrations(), comm.rank(), N), opt, [&](const step_event& e) {
      if (comm.rank() == poisoned && e.step == 0)
        for (double& v : m.parameter_block().value) v = std::nan("");
    });
  } catch (const numerical_error& e) {
    message = e.what();
  }
  const std::string expected = "juice::sft step 1: the loss is NaN on rank " + std::to_string(poisoned) + " of " + std::to_string(N) +
                               "; lower the learning rate or check the data.";
  BOOST_CHECK_EQUAL(message, expected);
  comm.barrier();  // both ranks got here: nobody was left waiting
}
