// `juice eval` checked against numbers computed independently of the tool: the summed response
// log-probs of each pair and demonstration computed here by building the token rows by hand (byte
// ids, EOS 256) and calling the library's transformer directly, then the gap, implicit rewards,
// accuracies and NLL worked out in this file; and a model with all parameters zero, whose
// next-token distribution is uniform, so log pi(y|x) = -(|y| + 1) log 257 exactly in mathematics.
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "juice/backends/cpu/cpu.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/io/hf_gpt2.hpp"
#include "juice/models/transformer.hpp"
#include "scratch_dir.hpp"

using namespace juice;
namespace fs = std::filesystem;

namespace {

using model = transformer<cpu, float>;

const transformer_config tiny{1, 2, 16, 32, 257};

struct pair_text {
  std::string prompt, chosen, rejected;
};
const std::vector<pair_text> pairs{{"ab=", "AB", "ab"}, {"hello ", "world", "there, friend"}, {"x", "Y", "ZZZ"}};
const std::vector<std::array<std::string, 2>> demos{{"cab=", "CAB"}, {"q: ", "the answer"}};

struct scratch : test::scratch_dir {
  scratch() : scratch_dir("juice-test-cli-eval") {}
};

void write_files(const fs::path& dir) {
  std::ofstream p(dir / "pairs.jsonl"), d(dir / "demos.jsonl");
  for (const auto& x : pairs) p << nlohmann::json{{"prompt", x.prompt}, {"chosen", x.chosen}, {"rejected", x.rejected}}.dump() << "\n";
  for (const auto& x : demos) d << nlohmann::json{{"prompt", x[0]}, {"response", x[1]}}.dump() << "\n";
}

// log pi(response + EOS | prompt) through the model itself, one row built by hand.
double logp(const model& m, const std::string& prompt, const std::string& response) {
  sequence_batch b(1, prompt.size() + response.size() + 1);
  std::size_t t = 0;
  for (const char c : prompt) b.tokens(0, t++) = static_cast<unsigned char>(c);
  for (const char c : response) b.tokens(0, t++) = static_cast<unsigned char>(c);
  b.tokens(0, t++) = 256;
  b.prompt_length(0) = static_cast<std::int32_t>(prompt.size());
  b.length(0) = static_cast<std::int32_t>(t);
  return sequence_sum(m.logprobs(b), b)(0);
}

nlohmann::json run_eval(const std::string& args) {
  const std::string cmd = std::string(JUICE_EXE) + " eval --json " + args;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (f == nullptr) throw std::runtime_error("cannot run " + cmd);  // a throw the analyzer sees ends the path
  std::string out;
  std::array<char, 4096> buf{};
  while (const std::size_t n = std::fread(buf.data(), 1, buf.size(), f)) out.append(buf.data(), n);
  BOOST_REQUIRE_EQUAL(::pclose(f), 0);
  return nlohmann::json::parse(out);
}

// float model, scored in batches of differently padded rows: agreement to float rounding.
void check_close(double got, double want, const std::string& what) {
  BOOST_TEST_INFO(what << ": juice eval " << got << ", direct " << want);
  BOOST_CHECK_LE(std::abs(got - want), 1e-4 + 1e-5 * std::abs(want));
}

}  // namespace

BOOST_AUTO_TEST_CASE(eval_matches_logprobs_computed_through_the_library) {
  scratch s;
  write_files(s.dir);
  const model m(tiny, 3), ref(tiny, 4);
  io::export_hf_gpt2(m, s.dir / "m");
  io::export_hf_gpt2(ref, s.dir / "ref");
  const double beta = 0.5;
  const auto r = run_eval("--model " + (s.dir / "m").string() + " --ref " + (s.dir / "ref").string() + " --pairs " +
                          (s.dir / "pairs.jsonl").string() + " --demos " + (s.dir / "demos.jsonl").string() +
                          " --beta 0.5 --per-pair --batch-size 2");
  const auto& P = r.at("pairs");
  BOOST_REQUIRE_EQUAL(P.at("per_pair").size(), pairs.size());
  double gap = 0, acc = 0, margin = 0;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto& p = P.at("per_pair")[i];
    const double c = logp(m, pairs[i].prompt, pairs[i].chosen), rj = logp(m, pairs[i].prompt, pairs[i].rejected);
    const double rc = beta * (c - logp(ref, pairs[i].prompt, pairs[i].chosen));
    const double rr = beta * (rj - logp(ref, pairs[i].prompt, pairs[i].rejected));
    BOOST_CHECK_EQUAL(p.at("line").get<std::size_t>(), i + 1);
    check_close(p.at("logps/chosen").get<double>(), c, "logps/chosen " + std::to_string(i));
    check_close(p.at("logps/rejected").get<double>(), rj, "logps/rejected " + std::to_string(i));
    check_close(p.at("rewards/chosen").get<double>(), rc, "rewards/chosen " + std::to_string(i));
    check_close(p.at("rewards/rejected").get<double>(), rr, "rewards/rejected " + std::to_string(i));
    gap += c - rj;
    margin += rc - rr;
    acc += rc > rr ? 1 : 0;
  }
  const double n = static_cast<double>(pairs.size());
  check_close(P.at("logp_gap").get<double>(), gap / n, "logp_gap");
  check_close(P.at("rewards/margins").get<double>(), margin / n, "rewards/margins");
  BOOST_CHECK_EQUAL(P.at("rewards/accuracies").get<double>(), acc / n);
  double nll = 0, tokens = 0;
  for (const auto& d : demos) {
    nll -= logp(m, d[0], d[1]);
    tokens += static_cast<double>(d[1].size() + 1);
  }
  check_close(r.at("demos").at("nll").get<double>(), nll / static_cast<double>(demos.size()), "nll");
  check_close(r.at("demos").at("nll_per_token").get<double>(), nll / tokens, "nll_per_token");
}

BOOST_AUTO_TEST_CASE(a_model_with_zero_parameters_scores_every_token_log_1_over_257) {
  scratch s;
  write_files(s.dir);
  model zero(tiny, 1);
  for (auto& [name, span] : io::detail::hf_parameter_spans(zero)) std::fill(span.begin(), span.end(), 0.0F);
  io::export_hf_gpt2(zero, s.dir / "zero");
  // The model is its own reference: every implicit reward is 0, so no pair is ranked correctly.
  const auto r = run_eval("--model " + (s.dir / "zero").string() + " --ref " + (s.dir / "zero").string() + " --pairs " +
                          (s.dir / "pairs.jsonl").string() + " --demos " + (s.dir / "demos.jsonl").string() + " --per-pair");
  const double lv = std::log(257.0);
  double gap = 0;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const auto& p = r.at("pairs").at("per_pair")[i];
    const double c = -static_cast<double>(pairs[i].chosen.size() + 1) * lv, rj = -static_cast<double>(pairs[i].rejected.size() + 1) * lv;
    check_close(p.at("logps/chosen").get<double>(), c, "uniform logps/chosen " + std::to_string(i));
    check_close(p.at("logps/rejected").get<double>(), rj, "uniform logps/rejected " + std::to_string(i));
    gap += c - rj;
  }
  check_close(r.at("pairs").at("logp_gap").get<double>(), gap / static_cast<double>(pairs.size()), "uniform logp_gap");
  BOOST_CHECK_EQUAL(r.at("pairs").at("rewards/accuracies").get<double>(), 0.0);
  check_close(r.at("demos").at("nll_per_token").get<double>(), lv, "uniform nll_per_token");
}
