// No allocation inside a training step: after the first step of a model (which sizes the
// activations, the optimizer's moments and the backend's scratch), further steps of the same shape
// allocate nothing and synchronise with the host exactly where the algorithm asks for a number.
// Counted on the device backend's own counters (juice::device_stats: every buffer it creates, its
// scratch growth, every download, dot product and synchronize) for juice::thrust_omp_backend, and
// on checked_device's counters (tests/support/checked_device.hpp) for the model code on the seam.
// One SFT update is: log-probs, backward, the global gradient norm (one dot product), AdamW; the
// host reads the log-probs (one download) and the norm (one synchronisation): 2 host syncs.
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <vector>

#include "checked_device.hpp"
#include "juice/backends/cuda/thrust_omp.hpp"
#include "juice/models/transformer.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/gradients.hpp"
#include "model_support.hpp"

namespace {

// One SFT-style update on a fixed batch: what juice::sft does per step.
template <class M>
void update(M& m, juice::adamw& opt, const juice::sequence_batch& batch) {
  m.zero_grad();
  (void)m.logprobs(batch);
  juice::token_values<float> w = xt::zeros<float>({batch.rows(), batch.width()});
  for (std::size_t b = 0; b < batch.rows(); ++b)
    for (auto t = batch.prompt_length(b); t < batch.length(b); ++t)
      w(b, static_cast<std::size_t>(t)) = -0.1f;
  m.backward(batch, w);
  BOOST_REQUIRE(juice::grad_norm_sq(m) > 0);
  opt.step(m);
}

const juice::sequence_batch& batch() {
  static const auto b = juice::test::make_batch({{{1, 2, 3}, {4, 5, 6, 7}}, {{8}, {9, 10}}, {{2, 2}, {3}}});
  return b;
}

}  // namespace

BOOST_AUTO_TEST_CASE(device_backend_steps_allocate_nothing_after_the_first) {
  juice::thrust_omp_backend d;
  juice::transformer<juice::thrust_omp_backend, float> m(d, juice::test::tiny_config(), 3);
  juice::adamw opt(juice::adamw_hyper{1e-3});
  update(m, opt, batch());
  BOOST_TEST(d.stats().allocations > 0u);  // the first step sizes everything: the counter counts
  d.reset_stats();
  for (int step = 0; step < 3; ++step) update(m, opt, batch());
  BOOST_TEST(d.stats().allocations == 0u);
  BOOST_TEST(d.stats().allocated_bytes == 0u);
  BOOST_TEST(d.stats().syncs == 3u * 2u);
}

BOOST_AUTO_TEST_CASE(model_code_steps_allocate_nothing_after_the_first) {
  juice::test::checked_device d;
  juice::transformer<juice::test::checked_device, float> m(d, juice::test::tiny_config(), 3);
  juice::adamw opt(juice::adamw_hyper{1e-3});
  update(m, opt, batch());
  BOOST_TEST(d.stats().allocations > 0u);
  d.reset_stats();
  for (int step = 0; step < 3; ++step) update(m, opt, batch());
  BOOST_TEST(d.stats().allocations == 0u);
  BOOST_TEST(d.stats().syncs() == 3u * 2u);
}

// The same with attention on GEMMs (attention_impl::gemm): its T x T score blocks are persistent
// scratch, sized by the first step, and its GEMMs wait for nothing.
BOOST_AUTO_TEST_CASE(gemm_attention_steps_allocate_nothing_after_the_first) {
  juice::thrust_omp_backend d(juice::gemm_precision::fp32, juice::attention_options{juice::attention_impl::gemm});
  juice::transformer<juice::thrust_omp_backend, float> m(d, juice::test::tiny_config(), 3);
  juice::adamw opt(juice::adamw_hyper{1e-3});
  update(m, opt, batch());
  BOOST_TEST(d.stats().allocations > 0u);
  d.reset_stats();
  for (int step = 0; step < 3; ++step) update(m, opt, batch());
  BOOST_TEST(d.stats().allocations == 0u);
  BOOST_TEST(d.stats().allocated_bytes == 0u);
  BOOST_TEST(d.stats().syncs == 3u * 2u);
}

// checked_device models juice::cuda's upload staging (juice/backends/cuda/staging.hpp: 4 slots
// growing together to the next power of two of an upload, at least 64 KiB; uploads above 4 MiB
// bypass them): a growth counts one allocation per slot, an upload that fits or bypasses none. So the
// steady-state cases above also prove that the model's uploads after its first step fit the slots.
BOOST_AUTO_TEST_CASE(checked_device_counts_upload_staging_growth) {
  juice::test::checked_device d;
  auto buf = d.allocate<float>((std::size_t{5} << 20) / sizeof(float) + 1);
  std::vector<float> host(buf.size(), 1.0f);
  const auto allocations_of = [&](std::size_t bytes) {
    d.reset_stats();
    d.upload(host.data(), d.data(buf), bytes / sizeof(float));
    return d.stats().allocations;
  };
  BOOST_TEST(allocations_of(4) == 4u);                            // the first upload: every slot to 64 KiB
  BOOST_TEST(allocations_of(4) == 0u);                            // fits
  BOOST_TEST(allocations_of(std::size_t{64} << 10) == 0u);        // 64 KiB fits exactly
  BOOST_TEST(allocations_of((std::size_t{64} << 10) + 4) == 4u);  // to 128 KiB
  BOOST_TEST(allocations_of(std::size_t{100} << 10) == 0u);
  BOOST_TEST(allocations_of(std::size_t{4} << 20) == 4u);  // the limit itself is staged: to 4 MiB
  BOOST_TEST(allocations_of(std::size_t{5} << 20) == 0u);  // above the limit: bypassed
  juice::test::checked_device copy = d;                    // copies share the slots, as copies of juice::cuda share its context
  d.reset_stats();
  copy.upload(host.data(), copy.data(buf), (std::size_t{3} << 20) / sizeof(float));
  BOOST_TEST(d.stats().allocations == 0u);
}
