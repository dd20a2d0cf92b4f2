// optim/optimizer_state.hpp: an optimizer's state read out as named host tensors and restored into
// a fresh optimizer continues the run bit for bit (moments, step count, hyper-parameters), on host
// memory, on juice::cpu and on the opaque checked_device (through upload/download only); the
// exported moments are the ones AdamW's recursions give; and every mismatch is refused by name
// before anything changes.
#include <array>
#include <cmath>
#include <cstring>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>

#include "two_tensor_model.hpp"
#include "check_throws.hpp"
#include "checked_device.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/backends/host/host.hpp"
#include "juice/models/transformer.hpp"
#include "juice/optim/adamw.hpp"
#include "juice/optim/optimizer_state.hpp"
#include "juice/optim/sgd.hpp"
#include "../cpu/model_support.hpp"

using namespace juice;
using juice::test::check_throws_with;

namespace {
template <bool Flat>
using model = juice::test::two_tensor_model<Flat>;

// Gradients that change from step to step (so the moments are not proportional to one gradient).
template <class M>
void set_grad(M& m, int step) {
  for (std::size_t i = 0; i < m.grad.size(); ++i) m.grad[i] = std::sin(1.0 + 0.7 * double(i) + 1.3 * double(step));
}

adamw_hyper hyper() {
  adamw_hyper h;
  h.lr = 0.05;
  h.beta1 = 0.8;
  h.beta2 = 0.95;
  h.eps = 1e-6;
  h.weight_decay = 0.01;
  return h;
}

// A warm-up schedule: the resumed optimizer must continue it from the restored step count.
double warmup(std::size_t step) { return std::min(1.0, double(step + 1) / 4.0); }

template <class T>
bool same_bits(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// A transformer's parameters on the host, and back, through the backend's transfers.
template <class M>
std::vector<typename M::scalar_type> values_of(M& m) {
  std::vector<typename M::scalar_type> out(m.num_parameters());
  m.backend().download(std::as_const(m.trunk()).param(0), out.data(), out.size());
  return out;
}
template <class M>
void set_values(M& m, const std::vector<typename M::scalar_type>& v) {
  m.backend().upload(v.data(), m.trunk().param(0), v.size());
}
}  // namespace

BOOST_AUTO_TEST_CASE(exported_moments_are_adamws_recursions) {
  model<false> m;
  adamw opt(hyper());
  const adamw_hyper h = hyper();
  std::vector<double> em(4, 0.0), ev(4, 0.0);
  for (int s = 0; s < 3; ++s) {
    set_grad(m, s);
    for (std::size_t i = 0; i < 4; ++i) {
      em[i] = h.beta1 * em[i] + (1 - h.beta1) * m.grad[i];
      ev[i] = h.beta2 * ev[i] + (1 - h.beta2) * m.grad[i] * m.grad[i];
    }
    opt.step(m);
  }
  const optimizer_state st = opt.export_state(m);
  BOOST_TEST(st.rule == "adamw");
  BOOST_TEST(st.scalar == "double");
  BOOST_TEST(st.steps == 3u);
  BOOST_TEST(st.hyper.at("lr") == 0.05);
  BOOST_TEST(st.hyper.at("beta1") == 0.8);
  BOOST_TEST(st.hyper.at("beta2") == 0.95);
  BOOST_TEST(st.hyper.at("eps") == 1e-6);
  BOOST_TEST(st.hyper.at("weight_decay") == 0.01);
  BOOST_TEST(st.hyper.size() == 5u);
  BOOST_REQUIRE(st.tensors.size() == 4u);
  const std::vector<std::string> names{"a.exp_avg", "a.exp_avg_sq", "b.exp_avg", "b.exp_avg_sq"};
  for (std::size_t k = 0; k < 4; ++k) BOOST_TEST(st.tensors[k].name == names[k]);
  for (std::size_t i = 0; i < 3; ++i) {
    BOOST_TEST(st.tensors[0].values[i] == em[i], boost::test_tools::tolerance(1e-14));
    BOOST_TEST(st.tensors[1].values[i] == ev[i], boost::test_tools::tolerance(1e-14));
  }
  BOOST_TEST(st.tensors[2].values[0] == em[3], boost::test_tools::tolerance(1e-14));
  BOOST_TEST(st.tensors[3].values[0] == ev[3], boost::test_tools::tolerance(1e-14));
}

BOOST_AUTO_TEST_CASE(an_optimizer_that_never_stepped_exports_zero_moments) {
  model<true> m;
  adamw opt(hyper());
  const optimizer_state st = opt.export_state(m);
  BOOST_TEST(st.steps == 0u);
  BOOST_REQUIRE(st.tensors.size() == 2u);
  BOOST_TEST(st.tensors[0].name == "all.exp_avg");
  BOOST_TEST(st.tensors[0].values == std::vector<double>(4, 0.0));
  BOOST_TEST(st.tensors[1].values == std::vector<double>(4, 0.0));
}

// Steps `a` with `oa` for `first` steps, moves the state into a fresh optimizer for a copy of the
// model, then steps both `second` more times: the two must stay bit-identical.
template <class M>
void check_resume_on_host(int first, int second) {
  M a;
  adamw oa(hyper());
  oa.schedule(warmup);
  for (int s = 0; s < first; ++s) {
    set_grad(a, s);
    oa.step(a);
  }
  M b = a;
  adamw ob(adamw_hyper{0.5});  // other hyper-parameters: the import must replace them
  ob.schedule(warmup);
  ob.import_state(b, oa.export_state(a));
  BOOST_TEST(ob.steps() == oa.steps());
  BOOST_TEST(ob.hyper().lr == 0.05);
  for (int s = first; s < first + second; ++s) {
    set_grad(a, s);
    set_grad(b, s);
    oa.step(a);
    ob.step(b);
  }
  BOOST_TEST(same_bits(a.value, b.value));
}

BOOST_AUTO_TEST_CASE(a_restored_adamw_continues_bit_for_bit_on_the_host) {
  check_resume_on_host<model<false>>(3, 4);  // per tensor
  check_resume_on_host<model<true>>(3, 4);   // one flat block
  check_resume_on_host<model<true>>(0, 2);   // restored before any step
}

BOOST_AUTO_TEST_CASE(a_restored_sgd_continues_with_its_step_count_and_hyper_parameters) {
  model<true> a, b;
  sgd oa(sgd_hyper{0.1, 0.05});
  oa.schedule([](std::size_t s) { return 1.0 / double(s + 1); });
  for (int s = 0; s < 3; ++s) {
    set_grad(a, s);
    oa.step(a);
  }
  b = a;
  const optimizer_state st = oa.export_state(a);
  BOOST_TEST(st.rule == "sgd");
  BOOST_TEST(st.tensors.empty());
  BOOST_TEST(st.hyper.at("weight_decay") == 0.05);
  sgd ob;
  ob.schedule([](std::size_t s) { return 1.0 / double(s + 1); });
  ob.import_state(b, st);
  set_grad(a, 3);
  set_grad(b, 3);
  oa.step(a);
  ob.step(b);
  BOOST_TEST(same_bits(a.value, b.value));
}

using scalar_types = std::tuple<float, double>;

// The transformer on juice::cpu and on checked_device (opaque memory, counted transfers): the
// state exported from one resumes on the other, since both compute the same bits.
BOOST_AUTO_TEST_CASE_TEMPLATE(transformer_state_moves_between_backends_through_transfers_only, T, scalar_types) {
  using dev = juice::test::checked_device;
  const auto cfg = juice::test::tiny_config();
  const auto batch = juice::test::make_batch({{{1, 2, 3}, {4, 5}}, {{6}, {7, 8, 9, 1}}});
  auto train = [&](auto& m, auto& opt, int steps) {
    for (int s = 0; s < steps; ++s) {
      token_values<T> w = xt::zeros<T>({batch.rows(), batch.width()});
      for (std::size_t r = 0; r < batch.rows(); ++r)
        for (auto t = batch.prompt_length(r); t < batch.length(r); ++t)
          w(r, static_cast<std::size_t>(t)) = static_cast<T>(-0.5 - 0.1 * s);
      m.zero_grad();
      (void)m.logprobs(batch);
      m.backward(batch, w);
      opt.step(m);
    }
  };
  transformer<dev, T> d(dev{}, cfg, 3);
  adamw od(hyper());
  train(d, od, 3);
  const auto before = d.backend().stats();
  const optimizer_state st = od.export_state(d);
  const auto used = d.backend().stats() - before;
  BOOST_TEST(used.downloads == 2u);  // one per moment buffer of the flat block
  BOOST_TEST(used.uploads == 0u);
  BOOST_TEST(st.scalar == scalar_name<T>());

  // The same run on juice::cpu, resumed from checked_device's state, and vice versa.
  transformer<cpu, T> c(cfg, 3);
  adamw oc(hyper());
  train(c, oc, 3);
  transformer<cpu, T> c2(cfg, 99);
  set_values(c2, values_of(c));
  adamw oc2;
  oc2.import_state(c2, st);
  transformer<dev, T> d2(dev{}, cfg, 99);
  set_values(d2, values_of(d));
  adamw od2;
  const auto before_import = d2.backend().stats();
  od2.import_state(d2, oc.export_state(c));
  BOOST_TEST((d2.backend().stats() - before_import).uploads == 2u);
  train(c, oc, 2);
  train(c2, oc2, 2);
  train(d2, od2, 2);
  BOOST_TEST(same_bits(values_of(c), values_of(c2)));
  BOOST_TEST(same_bits(values_of(c), values_of(d2)));
}

BOOST_AUTO_TEST_CASE(mismatched_state_is_refused_by_name_and_changes_nothing) {
  model<true> a;
  adamw oa(hyper());
  set_grad(a, 0);
  oa.step(a);
  const optimizer_state good = oa.export_state(a);

  model<true> b;
  adamw ob(adamw_hyper{0.5});
  auto refuse = [&](optimizer_state s, const std::string& needle) {
    check_throws_with<invalid_argument>([&] { ob.import_state(b, s); }, needle);
    BOOST_TEST(ob.steps() == 0u);
    BOOST_TEST(ob.hyper().lr == 0.5);
    check_throws_with<invalid_argument>([&] { ob.check_state(b, s); }, needle);
  };
  auto s = good;
  s.rule = "sgd";
  refuse(s, "the state is of the 'sgd' optimizer, not 'adamw'");
  s = good;
  s.scalar = "float";
  refuse(s, "holds float values but the model's scalar type is double");
  s = good;
  s.tensors.pop_back();
  refuse(s, "tensor 'all.exp_avg_sq' is missing");
  s = good;
  s.tensors[0].values.push_back(0);
  refuse(s, "tensor 'all.exp_avg' has 5 elements but the model's parameter group 'all' has 4");
  s = good;
  s.tensors.push_back({"all.momentum", std::vector<double>(4)});
  refuse(s, "tensor 'all.momentum' matches no parameter group");
  s = good;
  s.tensors.push_back(s.tensors[0]);
  refuse(s, "tensor 'all.exp_avg' appears twice");
  s = good;
  s.hyper.erase("beta2");
  refuse(s, "the hyper-parameter 'beta2' is missing");
  s = good;
  s.hyper["momentum"] = 0.9;
  refuse(s, "unknown hyper-parameter 'momentum' for 'adamw'");
  // A per-tensor model has other groups than the flat one the state came from.
  model<false> c;
  check_throws_with<invalid_argument>([&] { ob.import_state(c, good); }, "tensor 'a.exp_avg' is missing");
  // Exporting for a model the optimizer does not hold is refused too.
  check_throws_with<invalid_argument>([&] { (void)oa.export_state(b); }, "holds the state of another model");
}
