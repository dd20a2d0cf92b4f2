// `juice eval`: how a model separates preference pairs (log-prob gap; with --ref, TRL's implicit
// reward metrics) and how likely it finds demonstrations (NLL), as a table or one JSON object.
#include <memory>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "data_loading.hpp"
#include "eval.hpp"
#include "model_loading.hpp"
#include "scoring.hpp"

namespace juice::cli {

nlohmann::json run_eval(const eval_args& a) {
  if (a.pairs.empty() && a.demos.empty()) throw invalid_argument("juice eval: give --pairs, --demos or both.");
  if (!a.ref.empty() && a.pairs.empty()) throw invalid_argument("--ref: the reference scores pairs; give --pairs too.");
  const model_type m = load_model(a.model, 0, "--model");
  apply_threads(a.threads, step_flops(m.config(), a.batch_size) / 3);  // forward passes only
  std::optional<model_type> ref;
  if (!a.ref.empty()) {
    ref.emplace(load_model(a.ref, 0, "--ref"));
    if (ref->config().vocab != m.config().vocab || ref->config().context != m.config().context)
      throw invalid_argument("--ref " + a.ref + ": its vocabulary and context must match the model's.");
  }
  const any_tokenizer tok = load_tokenizer_option(a.data);
  const batch_options bo = make_batch_options(a.data, tok, m.config());
  nlohmann::json out = nlohmann::json::object();
  if (!a.pairs.empty()) {
    const auto pairs = load_pairs(a.pairs, tok, bo, m.config());
    std::optional<pair_scores> rs;
    if (ref) rs = score_pairs(*ref, pairs, a.batch_size);
    out["pairs"] = pair_summary(pairs, score_pairs(m, pairs, a.batch_size), rs, a.beta, a.per_pair);
  }
  if (!a.demos.empty()) {
    const auto demos = load_demonstrations(a.demos, tok, bo, m.config());
    out["demos"] = demonstration_summary(demos, score_demonstrations(m, demos, a.batch_size));
  }
  return out;
}

namespace {

void print_table(const nlohmann::json& r) {
  auto row = [](const char* name, const nlohmann::json& v) {
    if (v.is_number_float()) fmt::print("  {:<26} {:.6f}\n", name, v.get<double>());
    else fmt::print("  {:<26} {}\n", name, v.dump());
  };
  if (r.contains("pairs")) {
    fmt::print("pairs\n");
    for (const auto& [k, v] : r["pairs"].items())
      if (k != "per_pair") row(k.c_str(), v);
    if (r["pairs"].contains("per_pair")) {
      fmt::print("  per pair (line: logp gap{})\n", r["pairs"].contains("beta") ? ", reward margin" : "");
      for (const auto& p : r["pairs"]["per_pair"]) {
        fmt::print("    {:>6}: {:.6f}", p["line"].get<std::size_t>(), p["logp_gap"].get<double>());
        if (p.contains("rewards/margins")) fmt::print(", {:.6f}", p["rewards/margins"].get<double>());
        fmt::print("\n");
      }
    }
  }
  if (r.contains("demos")) {
    fmt::print("demonstrations\n");
    for (const auto& [k, v] : r["demos"].items()) row(k.c_str(), v);
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto a = std::make_shared<eval_args>();
  auto* cmd = app.add_subcommand("eval", "Evaluate a model: log-prob gap and implicit-reward accuracy on pairs, NLL on demonstrations");
  cmd->add_option("--model", a->model, "model folder (HF GPT-2 layout) or config")->required();
  cmd->add_option("--ref", a->ref, "reference model for the implicit reward beta log(pi/pi_ref)");
  cmd->add_option("--pairs", a->pairs, "preference pairs, JSONL {\"prompt\", \"chosen\", \"rejected\"} or Anthropic-HH");
  cmd->add_option("--demos", a->demos, "demonstrations, JSONL {\"prompt\", \"response\"}");
  cmd->add_option("--beta", a->beta, "beta of the implicit reward")->check(kl_weight())->capture_default_str();
  cmd->add_option("--batch-size", a->batch_size, "rows scored at once")->check(CLI::Range(1.0, 1e6))->capture_default_str();
  add_data_options(cmd, a->data);
  add_threads_option(cmd, a->threads);
  cmd->add_flag("--json", a->json, "print one JSON object");
  cmd->add_flag("--per-pair", a->per_pair, "also report every pair's values");
  cmd->callback([a] {
    const nlohmann::json r = run_eval(*a);
    if (a->json) fmt::print("{}\n", r.dump());
    else print_table(r);
  });
}

}  // namespace juice::cli
