// juice/io/hf_model.hpp into juice::transformer<cpu, double>: each model transformers made
// (tests/fixtures/{llama,qwen2,neox}, by tests/fixtures/make_families.py, float64 throughout) loads
// with juice's log-probs equal to transformers' per token, the gradient of the mean token NLL equal
// to transformers' for every parameter (juice's gradients mapped back to HF names through the same
// export that writes the weights), and the same greedy continuations through juice's KV cache; a
// model exported by juice reads back bit-identical.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "juice/backends/cpu/cpu.hpp"
#include "juice/core/rng.hpp"
#include "juice/io/hf_model.hpp"
#include "juice/models/transformer.hpp"
#include "scratch_dir.hpp"

using namespace juice;
using namespace juice::io;
namespace fs = std::filesystem;

namespace {

const fs::path fixtures = JUICE_FIXTURES;
constexpr double tolerance = 1e-10;  // |a - b| <= tolerance (1 + |b|): both sides compute in float64

// One row: the whole sequence, prompt = its first `prompt` tokens.
sequence_batch row(const std::vector<std::int64_t>& tokens, std::size_t prompt) {
  sequence_batch b(1, tokens.size());
  for (std::size_t t = 0; t < tokens.size(); ++t) b.tokens(0, t) = static_cast<token_t>(tokens[t]);
  b.prompt_length(0) = static_cast<std::int32_t>(prompt);
  b.length(0) = static_cast<std::int32_t>(tokens.size());
  return b;
}

// The worst |a - b| / (1 + |b|) over two equally long vectors.
double worst(const std::vector<double>& a, const std::vector<double>& b) {
  BOOST_REQUIRE(a.size() == b.size());
  double w = 0;
  for (std::size_t i = 0; i < a.size(); ++i) w = std::max(w, std::abs(a[i] - b[i]) / (1 + std::abs(b[i])));
  return w;
}

void check_family(const std::string& family) {
  BOOST_TEST_CONTEXT(family) {
    const safetensors_file ref = safetensors_file::load(fixtures / family / "reference.safetensors");
    transformer<cpu, double> m = load_hf_model<double>(fixtures / family / "model");
    BOOST_TEST(hf_family_name(m.config().hf_model_type) == (family == "neox" ? "gpt_neox" : family));

    // Log-probs: column t of juice's log-probs is log p(token t | tokens before it).
    for (int i = 0; ref.find("tokens." + std::to_string(i)); ++i) {
      const auto tokens = ref.read<std::int64_t>("tokens." + std::to_string(i));
      const auto want = ref.read<double>("logprobs." + std::to_string(i));
      const auto lp = m.logprobs(row(tokens, 1));
      std::vector<double> got(want.size());
      for (std::size_t t = 0; t < got.size(); ++t) got[t] = lp(0, t + 1);
      const double w = worst(got, want);
      BOOST_TEST(w <= tolerance, "sequence " << i << ": worst log-prob error " << w);
      BOOST_TEST_MESSAGE(family << " sequence " << i << ": worst log-prob error " << w);
    }

    // Gradient of the mean NLL of tokens.0 over its n-1 predicted tokens.
    const auto tokens = ref.read<std::int64_t>("tokens.0");
    const sequence_batch b = row(tokens, 1);
    const auto lp = m.logprobs(b);
    double loss = 0;
    token_values<double> weights = xt::zeros<double>({std::size_t{1}, tokens.size()});
    for (std::size_t t = 1; t < tokens.size(); ++t) {
      loss -= lp(0, t) / static_cast<double>(tokens.size() - 1);
      weights(0, t) = -1.0 / static_cast<double>(tokens.size() - 1);
    }
    BOOST_TEST(std::abs(loss - ref.read<double>("loss")[0]) <= tolerance);
    m.zero_grad();
    m.backward(b, weights);
    juice_tensors<double> grads;
    for (auto& p : m.parameters()) grads.emplace(p.name, std::vector<double>(p.grad.data(), p.grad.data() + p.grad.size()));
    const safetensors_file mine(write_hf_tensors(hf_model_map(m.config()), grads, dtype::F64).bytes(), "juice gradients");
    const safetensors_file theirs = safetensors_file::load(fixtures / family / "gradients.safetensors");
    BOOST_TEST(mine.tensors().size() == theirs.tensors().size());
    double worst_gradient = 0;
    for (const auto& t : theirs.tensors()) {
      const double w = worst(mine.read<double>(t.name), theirs.read<double>(t.name));
      BOOST_TEST(w <= tolerance, t.name << ": worst gradient error " << w);
      worst_gradient = std::max(worst_gradient, w);
    }
    BOOST_TEST_MESSAGE(family << ": worst gradient error " << worst_gradient << " over " << theirs.tensors().size() << " tensors");

    // Greedy continuations through the KV cache.
    m.generation() = generation_options{8, -1, sampling_options{0, 0, 1}};
    for (int i = 0; ref.find("prompt." + std::to_string(i)); ++i) {
      const auto prompt = ref.read<std::int64_t>("prompt." + std::to_string(i));
      const auto want = ref.read<std::int64_t>("greedy." + std::to_string(i));
      rng g(1);
      const sequence_batch out = m.sample(row(prompt, prompt.size()), 1, g);
      std::vector<std::int64_t> got;
      for (auto t = static_cast<std::size_t>(out.prompt_length(0)); t < static_cast<std::size_t>(out.length(0)); ++t) got.push_back(out.tokens(0, t));
      BOOST_TEST(got == want, boost::test_tools::per_element());
    }

    // Export of the loaded model reads back identical.
    test::scratch_dir s("juice-hf-model-" + family);
    hf_export_options o;
    o.type = dtype::F64;
    export_hf_model(m, s.dir, o);
    const transformer<cpu, double> again = load_hf_model<double>(s.dir);
    BOOST_TEST((hf_model_tensors(again) == hf_model_tensors(m)));
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(llama_matches_transformers) { check_family("llama"); }
BOOST_AUTO_TEST_CASE(qwen2_matches_transformers) { check_family("qwen2"); }
BOOST_AUTO_TEST_CASE(neox_matches_transformers) { check_family("neox"); }
