// `juice toy-mdp`: exact theory experiments on random token-level MDPs (docs/mdp.md, docs/results.md).
//   juice toy-mdp rate        IRFT / RFT stationarity rate against the budget TK (eta = c / sqrt(TK))
//   juice toy-mdp robustness  SFT vs SPIN vs IRFT vs RFT with a fraction eps of low-quality demonstrations
// Each prints a table, or with --json one JSON object; --csv FILE also writes the rows as CSV.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "juice/diagnostics/writers.hpp"
#include "juice/experiments/toy_mdp.hpp"

namespace juice::cli {

namespace {

void add_mdp_options(CLI::App* cmd, experiments::token_mdp_options& m) {
  cmd->add_option("--vocabulary,-V", m.vocabulary, "vocabulary size V")->check(count_range())->capture_default_str();
  cmd->add_option("--horizon,-H", m.horizon, "longest response H")->check(count_range())->capture_default_str();
  cmd->add_option("--prompts", m.prompts, "number of prompts")->check(count_range())->capture_default_str();
  cmd->add_flag("--eos", m.eos, "token 0 ends a response early");
}

nlohmann::json mdp_json(const experiments::token_mdp_options& m) {
  return {{"vocabulary", m.vocabulary}, {"horizon", m.horizon}, {"prompts", m.prompts}, {"eos", m.eos}};
}

// An output file for --csv / --log, opened before the run so a bad path fails early, and removed
// again unless the run completes (no partial output files).
class output_file {
public:
  explicit output_file(std::string path) : path_(std::move(path)) {
    if (path_.empty()) return;
    stream_ = std::make_unique<std::ofstream>(path_);
    if (!*stream_) throw juice::invalid_argument("cannot open '" + path_ + "' for writing");
  }
  output_file(const output_file&) = delete;
  output_file& operator=(const output_file&) = delete;
  ~output_file() {
    if (stream_ && !kept_) {
      stream_->close();
      std::remove(path_.c_str());
    }
  }
  explicit operator bool() const { return stream_ != nullptr; }
  std::ofstream& operator*() { return *stream_; }
  // Flushes and keeps the file; throws if writing failed.
  void keep() {
    if (!stream_) return;
    stream_->flush();
    if (!*stream_) throw juice::error("writing '" + path_ + "' failed");
    kept_ = true;
  }

private:
  std::string path_;
  std::unique_ptr<std::ofstream> stream_;
  bool kept_ = false;
};

// ---- rate ----
struct rate_args {
  experiments::toy_mdp_rate_options o;
  std::string mode = "exact";
  std::string csv;
  std::string log;
  bool no_rft = false;
  bool json = false;
};

nlohmann::json series_json(const experiments::rate_series& s) {
  return {{"min_grad_norm_sq", s.min_grad_norm_sq},
          {"final_grad_norm_sq", s.final_grad_norm_sq},
          {"min_reported_grad_norm_sq", s.min_event_grad_norm_sq},
          {"step_size", s.step_size},
          {"slope", s.fit.slope},
          {"intercept", s.fit.intercept},
          {"r_squared", s.fit.r_squared}};
}

void run_rate(rate_args& a) {
  auto& o = a.o;
  o.exact = a.mode == "exact";
  o.rft = !a.no_rft;
  experiments::validate(o);
  output_file csv_file(a.csv), log_file(a.log);
  std::unique_ptr<jsonl_writer> log;
  if (log_file) {
    log = std::make_unique<jsonl_writer>(*log_file);
    o.on_step = [&log](const std::string& method, std::size_t budget, const step_event& e, double exact) {
      auto j = to_json(e);
      j["method"] = method;
      j["budget"] = budget;
      j["exact_grad_norm_sq"] = exact;
      log->write(j);
    };
  }
  const auto r = experiments::run_toy_mdp_rate(o);
  if (csv_file) {
    csv_writer w(*csv_file, {"method", "budget", "step_size", "min_grad_norm_sq", "final_grad_norm_sq"});
    auto put = [&](const char* name, const experiments::rate_series& s) {
      for (std::size_t i = 0; i < r.budgets.size(); ++i)
        w.row({std::string(name), static_cast<long long>(r.budgets[i]), s.step_size[i], s.min_grad_norm_sq[i],
               s.final_grad_norm_sq[i]});
    };
    put("IRFT", r.irft);
    if (o.rft) put("RFT", r.rft);
  }
  csv_file.keep();
  log_file.keep();
  if (a.json) {
    nlohmann::json params{{"mdp", mdp_json(o.mdp)}, {"demonstrations_per_prompt", o.demonstrations}, {"expert_scale", o.expert_scale}, {"base_scale", o.base_scale}, {"beta", o.beta}, {"c", o.c}, {"steps_per_round", o.steps_per_round}, {"lambda", o.lambda}, {"mode", a.mode}, {"samples", o.samples}, {"seed", o.seed}, {"loss", "linear"}, {"step_size", "c / sqrt(TK)"}, {"measure", "exact ||grad l(theta)||^2, min over all iterates"}};
    nlohmann::json out{{"budgets", r.budgets},
                       {"min_grad_norm_sq", r.irft.min_grad_norm_sq},
                       {"slope", r.irft.fit.slope},
                       {"irft", series_json(r.irft)},
                       {"params", params}};
    if (o.rft) out["rft"] = series_json(r.rft);
    fmt::print("{}\n", out.dump());
    return;
  }
  fmt::print("Stationarity rate on a random token MDP: V = {}, H = {}, {} prompts{}, {} demonstrations per prompt\n",
             o.mdp.vocabulary, o.mdp.horizon, o.mdp.prompts, o.mdp.eos ? " (EOS = 0)" : "", o.demonstrations);
  fmt::print("eta = {} / sqrt(TK); IRFT: linear loss, K = {}, beta = {}; RFT: linear reward loss, exact policy step; {} generation\n\n",
             o.c, o.steps_per_round, o.beta, a.mode);
  fmt::print("{:>8} {:>12} {:>22} {:>22}\n", "TK", "eta", "IRFT min|grad l|^2", o.rft ? "RFT min|grad l|^2" : "");
  for (std::size_t i = 0; i < r.budgets.size(); ++i)
    fmt::print("{:>8} {:>12.6g} {:>22.6e} {:>22}\n", r.budgets[i], r.irft.step_size[i], r.irft.min_grad_norm_sq[i],
               o.rft ? fmt::format("{:.6e}", r.rft.min_grad_norm_sq[i]) : "");
  fmt::print("\nlog-log slope: IRFT {:.3f} (R^2 {:.3f})", r.irft.fit.slope, r.irft.fit.r_squared);
  if (o.rft) fmt::print(", RFT {:.3f} (R^2 {:.3f})", r.rft.fit.slope, r.rft.fit.r_squared);
  fmt::print("; the paper's rate O(1/sqrt(TK)) is a slope of -0.5\n");
}

// ---- robustness ----
struct robustness_args {
  experiments::toy_mdp_robustness_options o;
  std::string mode = "exact";
  std::string csv;
  bool no_baselines = false;
  bool json = false;
};

nlohmann::json row_json(const experiments::robustness_row& r) {
  return {{"method", r.method},
          {"eps", r.eps},
          {"seeds", r.seeds},
          {"true_reward_mean", r.true_reward_mean},
          {"true_reward_se", r.true_reward_se},
          {"logprob_gap_mean", r.logprob_gap_mean},
          {"logprob_gap_se", r.logprob_gap_se},
          {"logprob_gap_change_mean", r.logprob_gap_change_mean},
          {"logprob_gap_change_se", r.logprob_gap_change_se},
          {"implicit_accuracy_mean", r.implicit_accuracy_mean},
          {"implicit_accuracy_se", r.implicit_accuracy_se},
          {"win_rate_mean", r.win_rate_mean},
          {"win_rate_se", r.win_rate_se},
          {"kl_to_expert_mean", r.kl_to_expert_mean},
          {"kl_to_expert_se", r.kl_to_expert_se},
          {"win_rate_minus_sft_mean", r.win_rate_minus_sft_mean},
          {"win_rate_minus_sft_se", r.win_rate_minus_sft_se}};
}

void run_robustness(robustness_args& a) {
  auto& o = a.o;
  o.exact = a.mode == "exact";
  o.baselines = !a.no_baselines;
  experiments::validate(o);
  output_file csv_file(a.csv);
  const auto rows = experiments::run_toy_mdp_robustness(o);
  if (csv_file) {
    csv_writer w(*csv_file, {"method", "eps", "seeds", "true_reward_mean", "true_reward_se", "logprob_gap_mean",
                             "logprob_gap_se", "logprob_gap_change_mean", "logprob_gap_change_se",
                             "implicit_accuracy_mean", "implicit_accuracy_se", "win_rate_mean", "win_rate_se",
                             "kl_to_expert_mean", "kl_to_expert_se", "win_rate_minus_sft_mean", "win_rate_minus_sft_se"});
    for (const auto& r : rows)
      w.row({r.method, r.eps, static_cast<long long>(r.seeds), r.true_reward_mean, r.true_reward_se,
             r.logprob_gap_mean, r.logprob_gap_se, r.logprob_gap_change_mean, r.logprob_gap_change_se,
             r.implicit_accuracy_mean, r.implicit_accuracy_se, r.win_rate_mean, r.win_rate_se, r.kl_to_expert_mean,
             r.kl_to_expert_se, r.win_rate_minus_sft_mean, r.win_rate_minus_sft_se});
  }
  csv_file.keep();
  if (a.json) {
    nlohmann::json params{{"mdp", mdp_json(o.mdp)}, {"demonstrations", o.demonstrations}, {"eps", o.eps}, {"seeds", o.seeds}, {"seed", o.seed}, {"reward_scale", o.reward_scale}, {"base_scale", o.base_scale}, {"expert_beta", o.expert_beta}, {"beta", o.beta}, {"steps", o.steps}, {"lr", o.lr}, {"irft_lr", o.irft_lr}, {"irft_rounds", o.irft_rounds}, {"chunk_rounds", o.chunk_rounds}, {"rft_iterations", o.rft_iterations}, {"rft_lr", o.rft_lr}, {"rft_lambda", o.rft_lambda}, {"mode", a.mode}, {"samples", o.samples}, {"methods", o.methods}};
    nlohmann::json out{{"rows", nlohmann::json::array()}, {"params", params}};
    for (const auto& r : rows) out["rows"].push_back(row_json(r));
    fmt::print("{}\n", out.dump());
    return;
  }
  fmt::print("Robustness to low-quality demonstrations on random token MDPs: V = {}, H = {}, {} prompts, {} demonstrations, {} seeds\n",
             o.mdp.vocabulary, o.mdp.horizon, o.mdp.prompts, o.demonstrations, o.seeds);
  fmt::print("SFT/SPIN/IRFT: {} updates (IRFT T = {}), beta = {}; RFT: {} iterations; expert = soft-optimal for r* at beta {}; {} generation\n\n",
             o.steps, o.irft_rounds, o.beta, o.rft_iterations, o.expert_beta, a.mode);
  fmt::print("{:<8} {:>5} {:>18} {:>18} {:>18} {:>18} {:>18} {:>18}\n", "method", "eps", "true reward", "KL to expert",
             "log-prob gap", "gap change", "win vs initial", "win - SFT (paired)");
  auto pm = [](double m, double se) { return fmt::format("{:.4f} ± {:.4f}", m, se); };
  for (const auto& r : rows)
    fmt::print("{:<8} {:>5.2f} {:>18} {:>18} {:>18} {:>18} {:>18} {:>18}\n", r.method, r.eps,
               pm(r.true_reward_mean, r.true_reward_se), pm(r.kl_to_expert_mean, r.kl_to_expert_se),
               pm(r.logprob_gap_mean, r.logprob_gap_se), pm(r.logprob_gap_change_mean, r.logprob_gap_change_se),
               pm(r.win_rate_mean, r.win_rate_se), pm(r.win_rate_minus_sft_mean, r.win_rate_minus_sft_se));
}

}  // namespace

void add_toy_mdp_command(CLI::App& app) {
  auto* top = app.add_subcommand("toy-mdp", "Exact theory experiments on random token-level MDPs (rate, robustness)");
  top->require_subcommand(1);

  {
    auto args = std::make_shared<rate_args>();
    auto& o = args->o;
    auto* cmd = top->add_subcommand("rate", "IRFT/RFT stationarity against the budget TK with eta = c/sqrt(TK)");
    add_mdp_options(cmd, o.mdp);
    cmd->add_option("--demonstrations", o.demonstrations, "demonstrations per prompt")->check(count_range())->capture_default_str();
    cmd->add_option("--beta", o.beta, "KL weight beta")->check(finite_number())->capture_default_str();
    cmd->add_option("--c", o.c, "step-size constant c in eta = c / sqrt(TK)")->check(finite_number())->capture_default_str();
    cmd->add_option("--budgets", o.budgets, "budgets TK, comma-separated, increasing")->delimiter(',')->check(count_range())->capture_default_str();
    cmd->add_option("--steps-per-round,-K", o.steps_per_round, "IRFT steps per round K")->check(count_range())->capture_default_str();
    cmd->add_option("--lambda", o.lambda, "RFT's L2 weight on the reward")->check(finite_number())->capture_default_str();
    cmd->add_option("--expert-scale", o.expert_scale, "std of the expert's logits")->check(finite_number())->capture_default_str();
    cmd->add_option("--base-scale", o.base_scale, "std of the initial policy's logits")->check(finite_number())->capture_default_str();
    cmd->add_option("--mode", args->mode, "generation of y~")->check(mode_names())->capture_default_str();
    cmd->add_option("--samples", o.samples, "y~ per prompt in sampled mode")->check(count_range())->capture_default_str();
    cmd->add_option("--seed", o.seed, "random seed")->check(seed_range())->capture_default_str();
    cmd->add_flag("--no-rft", args->no_rft, "run IRFT only");
    cmd->add_option("--csv", args->csv, "also write the per-budget rows to this CSV file");
    cmd->add_option("--log", args->log, "also write every update (event + exact ||grad l||^2) to this JSONL file");
    cmd->add_flag("--json", args->json, "print one JSON object instead of a table");
    cmd->callback([args] { run_rate(*args); });
  }
  {
    auto args = std::make_shared<robustness_args>();
    auto& o = args->o;
    auto* cmd = top->add_subcommand("robustness", "SFT vs SPIN vs IRFT vs RFT with low-quality demonstrations");
    add_mdp_options(cmd, o.mdp);
    cmd->add_option("--demonstrations", o.demonstrations, "demonstrations in all")->check(count_range())->capture_default_str();
    cmd->add_option("--eps", o.eps, "fractions of low-quality demonstrations, comma-separated")->delimiter(',')->check(finite_range(0, 1))->capture_default_str();
    cmd->add_option("--seeds", o.seeds, "number of seeds")->check(count_range())->capture_default_str();
    cmd->add_option("--seed", o.seed, "base random seed")->check(seed_range())->capture_default_str();
    cmd->add_option("--reward-scale", o.reward_scale, "std of the hidden token reward r*")->check(finite_number())->capture_default_str();
    cmd->add_option("--base-scale", o.base_scale, "std of the initial policy's logits")->check(finite_number())->capture_default_str();
    cmd->add_option("--expert-beta", o.expert_beta, "KL weight of the expert's soft-optimal policy")->check(finite_number())->capture_default_str();
    cmd->add_option("--beta", o.beta, "KL weight of SPIN, IRFT and RFT")->check(finite_number())->capture_default_str();
    cmd->add_option("--steps", o.steps, "updates of SFT, SPIN and IRFT")->check(count_range())->capture_default_str();
    cmd->add_option("--lr", o.lr, "SFT learning rate (SGD)")->check(finite_number())->capture_default_str();
    cmd->add_option("--irft-lr", o.irft_lr, "SPIN/IRFT learning rate (SGD)")->check(finite_number())->capture_default_str();
    cmd->add_option("--irft-rounds", o.irft_rounds, "IRFT rounds T")->check(count_range())->capture_default_str();
    cmd->add_option("--chunk-rounds", o.chunk_rounds, "IRFT round t uses the t-th 1/T of the data (true/false)")->capture_default_str();
    cmd->add_option("--rft-iterations", o.rft_iterations, "RFT iterations")->check(count_range())->capture_default_str();
    cmd->add_option("--rft-lr", o.rft_lr, "RFT reward learning rate (SGD)")->check(finite_number())->capture_default_str();
    cmd->add_option("--rft-lambda", o.rft_lambda, "RFT's L2 weight on the reward")->check(finite_number())->capture_default_str();
    cmd->add_option("--mode", args->mode, "generation of y~")->check(mode_names())->capture_default_str();
    cmd->add_option("--samples", o.samples, "y~ per demonstration in sampled mode")->check(count_range())->capture_default_str();
    cmd->add_option("--methods", o.methods, "methods, comma-separated")->delimiter(',')->check(CLI::IsMember(experiments::toy_mdp_methods()))->capture_default_str();
    cmd->add_flag("--no-baselines", args->no_baselines, "omit the initial-policy and expert rows");
    cmd->add_option("--csv", args->csv, "also write the rows to this CSV file");
    cmd->add_flag("--json", args->json, "print one JSON object instead of a table");
    cmd->callback([args] { run_robustness(*args); });
  }
}

}  // namespace juice::cli
