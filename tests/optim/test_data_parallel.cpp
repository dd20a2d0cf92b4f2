// optim/data_parallel.hpp and optim/local_group.hpp: the mathematics of data parallelism, on the
// CPU. local_group's all-reduce gives the element-wise mean on every rank, bit-identical; N replicas
// of the CPU transformer (double), each running juice::sft unchanged on its own slice of the
// demonstrations with an all_reduced AdamW optimizer, end with the parameters (and the gradient) of
// one model trained on the whole set, and equal to each other bit for bit. They are equal because
// SFT's sequence_sum loss is a mean over the minibatch's sequences, and with equal slices the mean
// of the ranks' means is the mean over all sequences; a clip inside all_reduced sees the averaged
// gradient, as the single model's clip sees its whole-batch gradient. IRFT runs unchanged too, each
// rank generating for its own slice with its own seed, and the replicas stay bit-identical.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <exception>
#include <functional>
#include <span>
#include <thread>
#include <vector>

#include "check_throws.hpp"
#include "juice/algorithms/generation.hpp"
#include "juice/algorithms/irft/irft.hpp"
#include "juice/algorithms/sft/sft.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/backends/host/host.hpp"
#include "juice/models/transformer.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/data_parallel.hpp"
#include "juice/optim/gradients.hpp"
#include "juice/optim/local_group.hpp"
#include "juice_test.hpp"
#include "../cpu/model_support.hpp"

using namespace juice;
using juice::test::check_throws_with;

static_assert(GradientReducer<local_group<double>::member, cpu, double>);
static_assert(GradientReducer<local_group<float>::member, host, float>);
static_assert(!GradientReducer<local_group<double>::member, cpu, float>);  // a group reduces one element type
static_assert(Optimizer<all_reduced<adamw, local_group<double>::member>, transformer<cpu, double>>);

namespace {

// Runs body(rank) in `n` threads and rethrows the first exception any of them threw. The bodies
// make no Boost.Test assertions (its log is not thread-safe): they record, the main thread checks.
void run_ranks(std::size_t n, const std::function<void(std::size_t)>& body) {
  std::vector<std::exception_ptr> errors(n);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (std::size_t r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        body(r);
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

std::vector<double> copy_of(std::span<const double> s) { return {s.begin(), s.end()}; }

// Four demonstrations of different prompt and response lengths (tiny_config: vocab 11, context 12).
sequence_batch demonstrations() {
  return test::make_batch({{{1, 2, 3}, {4, 5, 6}}, {{7}, {8, 9}}, {{2, 2}, {10, 1, 3, 5}}, {{6, 4, 9, 1}, {0}}});
}

adamw_hyper hyper() {
  adamw_hyper h;
  h.lr = 1e-2;
  h.weight_decay = 0.01;
  return h;
}

struct trained {
  std::vector<double> params, grad;
  double first_norm = 0;  // the first step's gradient norm (before any clip)
};

// One model, SFT on all the demonstrations, optionally clipping the gradient to max_norm; returns
// the final parameters, the last step's gradient and the first step's gradient norm.
trained single_model(std::size_t steps, double max_norm) {
  transformer<cpu, double> m(test::tiny_config(), 7);
  const auto demos = demonstrations();
  struct clipping_adamw {
    adamw opt{hyper()};
    double max_norm;
    double first = 0;
    void step(transformer<cpu, double>& model) {
      const double n = max_norm > 0 ? clip_grad_norm(model, max_norm) : std::sqrt(grad_norm_sq(model));
      if (opt.steps() == 0) first = n;
      opt.step(model);
    }
  } opt{adamw{hyper()}, max_norm};
  sft({.steps = steps}).run(m, demos, opt);
  return {copy_of(m.parameter_block().value), copy_of(m.parameter_block().grad), opt.first};
}

// N replicas in N threads, rank r running SFT on rows [r B/N, (r+1) B/N) with an all_reduced AdamW.
std::vector<trained> replicas(std::size_t n, std::size_t steps, double max_norm) {
  const auto demos = demonstrations();
  local_group<double> group(n);
  std::vector<trained> out(n);
  run_ranks(n, [&](std::size_t r) {
    transformer<cpu, double> m(test::tiny_config(), 7);  // the same seed: replicas start equal
    std::vector<std::size_t> rows;
    for (std::size_t b = demos.rows() * r / n; b < demos.rows() * (r + 1) / n; ++b) rows.push_back(b);
    const auto slice = select_rows(demos, rows);
    all_reduced opt(adamw(hyper()), group.rank(r), max_norm);
    sft({.steps = steps}).run(m, slice, opt);
    out[r] = {copy_of(m.parameter_block().value), copy_of(m.parameter_block().grad)};
  });
  return out;
}

void check_replicas(const std::vector<trained>& reps, const trained& single, const std::string& what) {
  using tol = test::tolerance<double>;
  test::check_close(reps[0].grad, single.grad, tol::exact, tol::exact, what + ": averaged gradient");
  test::check_close(reps[0].params, single.params, tol::exact, tol::exact, what + ": parameters");
  for (std::size_t r = 1; r < reps.size(); ++r) {
    BOOST_CHECK_MESSAGE(std::memcmp(reps[r].params.data(), reps[0].params.data(), reps[0].params.size() * sizeof(double)) == 0,
                        what << ": rank " << r << "'s parameters differ from rank 0's");
    BOOST_CHECK_MESSAGE(std::memcmp(reps[r].grad.data(), reps[0].grad.data(), reps[0].grad.size() * sizeof(double)) == 0,
                        what << ": rank " << r << "'s gradient differs from rank 0's");
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(local_group_averages_on_every_rank) {
  // Rank r holds 10 r + i + 0.25; the mean over ranks 0..3 is 15 + i + 0.25, exact in binary.
  constexpr std::size_t N = 4, n = 7;  // n not a multiple of N: uneven chunks
  local_group<float> group(N);
  std::vector<std::vector<float>> v(N, std::vector<float>(n));
  std::vector<std::size_t> ranks(N), sizes(N);  // checked below: Boost.Test is not thread-safe
  run_ranks(N, [&](std::size_t r) {
    auto me = group.rank(r);
    ranks[r] = me.rank();
    sizes[r] = me.size();
    for (std::size_t i = 0; i < n; ++i) v[r][i] = static_cast<float>(10 * r + i) + 0.25f;
    me.all_reduce_mean(v[r]);
    me.all_reduce_mean(v[r]);  // the mean of equal values is that value: a second call changes nothing
  });
  for (std::size_t r = 0; r < N; ++r) {
    BOOST_CHECK_EQUAL(ranks[r], r);
    BOOST_CHECK_EQUAL(sizes[r], N);
    for (std::size_t i = 0; i < n; ++i) BOOST_CHECK_EQUAL(v[r][i], static_cast<float>(15 + i) + 0.25f);
  }
}

BOOST_AUTO_TEST_CASE(local_group_sums_host_values_on_every_rank) {
  // Rank r holds {r, 1, 0.5 r}: the sums over ranks 0..2 are {3, 3, 1.5}.
  constexpr std::size_t N = 3;
  local_group<double> group(N);
  std::vector<std::vector<double>> v(N);
  run_ranks(N, [&](std::size_t r) {
    const double x = static_cast<double>(r);
    v[r] = {x, 1, 0.5 * x};
    group.rank(r).all_reduce_sum(v[r]);
  });
  for (std::size_t r = 0; r < N; ++r) BOOST_CHECK(v[r] == (std::vector<double>{3, 3, 1.5}));
  std::vector<std::string> messages(2);
  local_group<double> pair(2);
  run_ranks(2, [&](std::size_t r) {
    std::vector<double> s(r + 1);
    try {
      pair.rank(r).all_reduce_sum(s);
    } catch (const invalid_argument& e) {
      messages[r] = e.what();
    }
  });
  for (const auto& m : messages)
    BOOST_CHECK_MESSAGE(m.find("all_reduce_sum: rank 1 passed 2 elements but rank 0 passed 1") != std::string::npos, m);
}

BOOST_AUTO_TEST_CASE(a_one_rank_group_is_the_identity) {
  local_group<double> group(1);
  std::vector<double> v{1.5, -2, 1e-300};
  group.rank(0).all_reduce_mean(v);
  BOOST_CHECK(v == (std::vector<double>{1.5, -2, 1e-300}));
}

BOOST_AUTO_TEST_CASE(local_group_refuses_misuse_by_name) {
  check_throws_with([] { local_group<double> g(0); }, "at least one rank");
  local_group<double> g(2);
  check_throws_with([&] { (void)g.rank(2); }, "rank 2 is out of range");
  // Sizes that differ between ranks: every rank throws (none is left waiting), naming the rank.
  std::vector<std::string> messages(2);
  run_ranks(2, [&](std::size_t r) {
    std::vector<double> v(r == 0 ? 3 : 5);
    try {
      g.rank(r).all_reduce_mean(v);
    } catch (const invalid_argument& e) {
      messages[r] = e.what();
    }
  });
  for (const auto& m : messages) BOOST_CHECK_MESSAGE(m.find("rank 1 passed 5 elements but rank 0 passed 3") != std::string::npos, m);
  check_throws_with([] { all_reduced<adamw, local_group<double>::member> o(adamw{}, local_group<double>(1).rank(0), -1); },
                    "max_grad_norm must be >= 0");
}

BOOST_AUTO_TEST_CASE(replicas_on_slices_equal_one_model_on_the_whole_batch) {
  const auto single = single_model(3, 0);
  check_replicas(replicas(2, 3, 0), single, "2 ranks");
  check_replicas(replicas(4, 3, 0), single, "4 ranks");
}

BOOST_AUTO_TEST_CASE(clipping_sees_the_averaged_gradient) {
  const double max_norm = 0.5 * single_model(1, 0).first_norm;  // binds on the first step at least
  const auto single = single_model(3, max_norm);
  check_replicas(replicas(2, 3, max_norm), single, "2 ranks, clipped");
}

BOOST_AUTO_TEST_CASE(irft_replicas_stay_identical) {
  // Each rank samples its own responses (its slice, its seed), so no single-model run is the same
  // computation; what data parallelism promises here is that the replicas never drift apart.
  constexpr std::size_t N = 2;
  const auto demos = demonstrations();
  local_group<double> group(N);
  std::vector<std::vector<double>> params(N);
  run_ranks(N, [&](std::size_t r) {
    transformer<cpu, double> m(test::tiny_config(), 7);
    m.generation().max_new_tokens = 6;  // longest prompt 4 + 6 < context 12
    const std::vector<std::size_t> rows{2 * r, 2 * r + 1};
    const auto slice = select_rows(demos, rows);
    all_reduced opt(adamw(hyper()), group.rank(r));
    irft(irft_options{.rounds = 2, .steps_per_round = 2, .chunk_rounds = false, .seed = 11 + r}).run(m, slice, opt, sampled{});
    params[r] = copy_of(m.parameter_block().value);
  });
  transformer<cpu, double> initial(test::tiny_config(), 7);
  BOOST_CHECK(params[0] != copy_of(initial.parameter_block().value));  // it trained
  BOOST_CHECK_MESSAGE(std::memcmp(params[1].data(), params[0].data(), params[0].size() * sizeof(double)) == 0,
                      "rank 1's parameters differ from rank 0's after IRFT");
}

BOOST_AUTO_TEST_CASE(checkpoints_hold_the_wrapped_optimizers_state) {
  local_group<double> group(1);
  transformer<cpu, double> m(test::tiny_config(), 7);
  all_reduced opt(adamw(hyper()), group.rank(0));
  sft({.steps = 2}).run(m, demonstrations(), opt);
  const auto s = opt.export_state(m);
  BOOST_CHECK_EQUAL(s.steps, 2u);
  BOOST_CHECK_EQUAL(s.rule, "adamw");
  all_reduced resumed(adamw(), group.rank(0));
  resumed.import_state(m, s);
  BOOST_CHECK_EQUAL(resumed.optimizer().steps(), 2u);
  BOOST_CHECK_CLOSE(resumed.optimizer().hyper().lr, hyper().lr, 1e-12);
}

// A non-finite loss on one replica must stop every replica with the same error: a rank that threw
// before the all-reduce would leave the others waiting in it forever (ctest runs this suite on its
// own, as data_parallel_nonfinite, under a timeout). One rank's replica is poisoned (every parameter
// NaN) by its observer after a given step, so its next loss is NaN while the others' stay finite.
BOOST_AUTO_TEST_SUITE(data_parallel_nonfinite)

namespace {

template <class Run>
std::vector<std::string> poisoned_ranks(std::size_t n, std::size_t poisoned_rank, Run&& run) {
  local_group<double> group(n);
  std::vector<std::string> messages(n);
  run_ranks(n, [&](std::size_t r) {
    transformer<cpu, double> m(test::tiny_config(), 7);
    m.generation().max_new_tokens = 6;
    all_reduced opt(adamw(hyper()), group.rank(r));
    try {
      run(m, opt, r, r == poisoned_rank);
    } catch (const numerical_error& e) {
      messages[r] = e.what();
    }
  });
  return messages;
}

void poison(transformer<cpu, double>& m) {
  for (double& v : m.parameter_block().value) v = std::nan("");
}

void check_same_error(const std::vector<std::string>& messages, const std::string& expected) {
  for (std::size_t r = 0; r < messages.size(); ++r)
    BOOST_CHECK_MESSAGE(messages[r] == expected, "rank " << r << " ended with \"" << messages[r] << "\", expected \"" << expected << "\"");
}

}  // namespace

BOOST_AUTO_TEST_CASE(sft_every_rank_stops_at_the_same_step) {
  const auto demos = demonstrations();
  const auto messages = poisoned_ranks(2, 1, [&](auto& m, auto& opt, std::size_t r, bool poisoned) {
    const auto slice = select_rows(demos, std::vector<std::size_t>{2 * r, 2 * r + 1});
    sft({.steps = 5}).run(m, slice, opt, [&](const step_event& e) {
      if (poisoned && e.step == 1) poison(m);  // after step 1: step 2's loss is NaN on this rank only
    });
  });
  check_same_error(messages, "juice::sft step 2: the loss is NaN on rank 1 of 2; lower the learning rate or check the data.");
}

BOOST_AUTO_TEST_CASE(irft_every_rank_stops_at_the_same_step) {
  const auto demos = demonstrations();
  const auto messages = poisoned_ranks(3, 2, [&](auto& m, auto& opt, std::size_t r, bool poisoned) {
    const auto slice = select_rows(demos, std::vector<std::size_t>{r});
    irft(irft_options{.rounds = 1, .steps_per_round = 3, .chunk_rounds = false, .seed = 3 + r})
        .run(m, slice, opt, sampled{}, [&](const step_event& e) {
          if (poisoned && e.step == 0) poison(m);
        });
  });
  check_same_error(messages, "juice::irft round 0 step 1: the loss is NaN on rank 2 of 3; lower the learning rate or check the data.");
}

BOOST_AUTO_TEST_SUITE_END()
