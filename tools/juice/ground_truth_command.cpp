// `juice ground-truth`: SFT, SPIN, IRFT and RFT on a real transformer, scored by a programmatic true
// reward (juice/experiments/ground_truth/protocol.hpp, docs/results.md). Prints a table, or with
// --json one JSON object; --csv FILE also writes the rows (scripts/plot_run.py plots them). --quick
// starts from the small preset; options given explicitly override either preset.
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "options.hpp"
#include "juice/core/error.hpp"
#include "juice/diagnostics/writers.hpp"
#include "juice/experiments/ground_truth/protocol.hpp"

namespace juice::cli {

namespace {

namespace gt = juice::experiments::ground_truth;

struct ground_truth_args {
  gt::ground_truth_options values;  // what the options parse into (defaults shown by --help)
  std::vector<std::function<void(gt::ground_truth_options&)>> overrides;
  bool quick = false;
  bool json = false;
  bool progress = false;
  std::string csv;
};

// Registers --name bound to field, applied over the chosen preset only when given.
template <class T>
CLI::Option* add(CLI::App* cmd, const std::shared_ptr<ground_truth_args>& a, const std::string& name, T gt::ground_truth_options::*field,
                 const std::string& help) {
  CLI::Option* op = cmd->add_option(name, a->values.*field, help)->capture_default_str();
  ground_truth_args* raw = a.get();
  a->overrides.push_back([op, field, raw](gt::ground_truth_options& o) {
    if (op->count() > 0) o.*field = raw->values.*field;
  });
  return op;
}

// The help of a method's learning rate, whose default is its protocol's tuned rate.
std::string tuned_rate_help(const std::string& method, double gt::tuned_rates::*rate) {
  return fmt::format("{} learning rate (AdamW); default: tuned per protocol, sft-start {}, pi0 {}", method, gt::protocol_rates("sft-start").*rate,
                     gt::protocol_rates("pi0").*rate);
}

nlohmann::json settings_json(const gt::ground_truth_options& o, bool quick) {
  return {{"preset", quick ? "quick" : "default"},
          {"tasks", o.tasks},
          {"model", {{"layers", o.layers}, {"heads", o.heads}, {"channels", o.channels}, {"context", o.context}, {"vocab", 257}, {"max_new_tokens", o.max_new_tokens}}},
          {"pretrain_examples", o.pretrain_examples},
          {"pretrain_quality", o.pretrain_quality},
          {"pretrain_steps", o.pretrain_steps},
          {"pretrain_lr", o.pretrain_lr},
          {"demonstrations", o.demonstrations},
          {"eps", o.eps},
          {"methods", o.methods},
          {"steps", o.steps},
          {"batch_size", o.batch_size},
          {"lr", o.lr},
          {"spin_lr", o.spin_lr},
          {"irft_lr", o.irft_lr},
          {"ppo_lr", o.ppo_lr},
          {"spin_sft_lr", o.spin_sft_lr},
          {"irft_sft_lr", o.irft_sft_lr},
          {"beta", o.beta},
          {"irft_rounds", o.irft_rounds},
          {"ppo_epochs", o.ppo_epochs},
          {"reward_lr", o.reward_lr},
          {"reward_steps", o.reward_steps},
          {"protocol", o.protocol},
          {"sft_start_steps", o.sft_start_steps},
          {"spin_iterations", o.spin_iterations},
          {"spin_epochs", o.spin_epochs},
          {"irft_epochs", o.irft_epochs},
          {"irft_passes", o.irft_passes},
          {"rft_iterations", o.rft_iterations},
          {"reward_warmup", o.reward_warmup},
          {"gen_temperature", o.gen_temperature},
          {"sft_alpha", o.sft_alpha},
          {"warmup_fraction", o.warmup_fraction},
          {"eval_prompts", o.eval_prompts},
          {"eval_samples", o.eval_samples},
          {"seeds", o.seeds},
          {"seed", o.seed}};
}

void run(ground_truth_args& a) {
  gt::ground_truth_options o = a.quick ? gt::quick_options() : gt::ground_truth_options{};
  for (const auto& apply : a.overrides) apply(o);
  gt::validate(o);
  o = gt::with_tuned_rates(o);
  if (o.methods.empty()) o.methods = gt::default_methods(o.protocol);
  // The threads chosen for the model, as `juice train` chooses them for --threads 0.
  apply_threads(0, step_flops(transformer_config{o.layers, o.heads, o.channels, o.context, 257}, o.batch_size));
  if (a.progress) o.progress = [](const std::string& line) { fmt::print(stderr, "{}\n", line); };

  // Opened before the run so that a bad path fails at once; removed again unless the run completes.
  std::unique_ptr<std::ofstream> csv;
  if (!a.csv.empty()) {
    csv = std::make_unique<std::ofstream>(a.csv);
    if (!*csv) throw juice::invalid_argument("cannot open '" + a.csv + "' for writing");
  }
  const std::string csv_path = a.csv;
  struct remover {
    const std::string& path;
    bool keep = false;
    ~remover() {
      if (!path.empty() && !keep) std::remove(path.c_str());
    }
  } guard{csv_path};

  const gt::ground_truth_result r = gt::run_ground_truth(o);

  if (csv) {
    std::vector<std::string> cols{"method", "eps", "seeds", "policy_steps", "wall_s"};
    for (const auto& m : r.rows.front().metrics) {
      cols.push_back(m.name + "_mean");
      cols.push_back(m.name + "_se");
    }
    for (const auto& m : r.rows.front().metrics) {
      cols.push_back(m.name + "_minus_sft_mean");
      cols.push_back(m.name + "_minus_sft_se");
    }
    for (const char* c : {"vs_sft_same_steps", "vs_sft_same_total"})
      for (const char* f : {"win_rate", "true_reward"}) {
        cols.push_back(std::string(c) + "_" + f + "_mean");
        cols.push_back(std::string(c) + "_" + f + "_se");
      }
    cols.insert(cols.end(), {"reward_accuracy_mean", "reward_accuracy_se", "round", "demo_loglik", "heldout_loglik", "generation_loglik",
                             "passes", "round_wall_s"});
    csv_writer w(*csv, cols);
    for (const auto& row : r.rows) {
      std::vector<csv_writer::field> cells{row.method, row.eps, static_cast<long long>(row.seeds), static_cast<long long>(row.policy_steps),
                                           row.wall_seconds};
      for (const auto& m : row.metrics) {
        cells.emplace_back(m.value.mean);
        cells.emplace_back(m.value.se);
      }
      for (const auto& m : row.metrics) {
        cells.emplace_back(m.minus_sft.mean);
        cells.emplace_back(m.minus_sft.se);
      }
      for (const auto* c : {&row.vs_sft_same_steps, &row.vs_sft_same_total})
        for (const auto* v : {&c->win_rate, &c->true_reward}) {
          cells.emplace_back(v->mean);
          cells.emplace_back(v->se);
        }
      cells.emplace_back(row.reward_accuracy.mean);
      cells.emplace_back(row.reward_accuracy.se);
      // A row per round (the run's summary repeated; round -1 and empty round fields: the run itself).
      cells.insert(cells.end(), {-1LL, std::string(), std::string(), std::string(), std::string(), std::string()});
      w.row(cells);
      const std::size_t fixed = cells.size() - 6;
      for (const auto& rd : row.rounds) {
        cells.resize(fixed);
        cells.insert(cells.end(), {static_cast<long long>(rd.round), rd.demo_loglik, rd.heldout_loglik, rd.generation_loglik, rd.passes,
                                   rd.wall_seconds});
        w.row(cells);
      }
    }
    csv->flush();
    if (!*csv) throw juice::error("writing '" + a.csv + "' failed");
  }
  guard.keep = true;

  if (a.json) {
    nlohmann::json rows = nlohmann::json::array();
    for (const auto& row : r.rows) {
      nlohmann::json j{{"method", row.method}, {"eps", row.eps}, {"seeds", row.seeds}, {"policy_steps", row.policy_steps}, {"wall_s", row.wall_seconds}};
      for (const auto& m : row.metrics) {
        j[m.name] = m.value.mean;
        j[m.name + "_se"] = m.value.se;
        j[m.name + "_minus_sft"] = m.minus_sft.mean;
        j[m.name + "_minus_sft_se"] = m.minus_sft.se;
      }
      auto control = [](const gt::control_comparison& c) {
        return nlohmann::json{{"win_rate", c.win_rate.mean}, {"win_rate_se", c.win_rate.se}, {"true_reward", c.true_reward.mean}, {"true_reward_se", c.true_reward.se}};
      };
      if (row.method != "SFT") {
        j["vs_sft_same_steps"] = control(row.vs_sft_same_steps);
        j["vs_sft_same_total"] = control(row.vs_sft_same_total);
      }
      if (row.method == "RFT") {
        j["reward_accuracy"] = row.reward_accuracy.mean;
        j["reward_accuracy_se"] = row.reward_accuracy.se;
      }
      nlohmann::json rounds = nlohmann::json::array();
      for (const auto& rd : row.rounds)
        rounds.push_back({{"round", rd.round}, {"demo_loglik", rd.demo_loglik}, {"heldout_loglik", rd.heldout_loglik}, {"generation_loglik", rd.generation_loglik}, {"passes", rd.passes}, {"wall_s", rd.wall_seconds}});
      j["rounds"] = rounds;
      rows.push_back(j);
    }
    nlohmann::json base;
    for (const auto& m : r.base) {
      base[m.name] = m.value.mean;
      base[m.name + "_se"] = m.value.se;
    }
    nlohmann::json out{{"protocol", r.protocol},
                       {"rows", rows},
                       {"base", base},
                       {"settings", settings_json(o, a.quick)},
                       {"wall_seconds", r.total_seconds},
                       {"pretrain_seconds_per_seed", r.pretrain_seconds}};
    fmt::print("{}\n", out.dump());
    return;
  }
  fmt::print("Ground-truth benchmark ({} preset): tasks {}; GPT-2 L={} C={} context {}; {} seeds\n", a.quick ? "quick" : "default",
             fmt::join(o.tasks, ","), o.layers, o.channels, o.context, o.seeds);
  fmt::print("learning rates (AdamW): SFT {}, SPIN {}, IRFT {}, SPIN+SFT {}, IRFT+SFT {}, RFT policy {} and reward {}; beta {}\n", o.lr,
             o.spin_lr, o.irft_lr, o.spin_sft_lr, o.irft_sft_lr, o.ppo_lr, o.reward_lr, o.beta);
  fmt::print("pi_0: SFT {} steps on {} examples, {:.0f}% correct; {} demonstrations; batch {}\n", o.pretrain_steps, o.pretrain_examples,
             100 * o.pretrain_quality, o.demonstrations, o.batch_size);
  if (o.protocol == "pi0")
    fmt::print("protocol pi0: every method from pi_0, {} policy gradient steps each\n\n", o.steps);
  else
    fmt::print(
        "protocol sft-start: SPIN, IRFT and RFT start from SFT ({} steps from pi_0; the SFT row), which is their reference; "
        "SPIN {} iterations x {} epochs, IRFT {} rounds x {} epochs, RFT {} reward warm-up steps + {} iterations; y~ {}\n\n",
        o.sft_start_steps, o.spin_iterations, o.spin_epochs, o.irft_rounds, o.irft_epochs, o.reward_warmup, o.rft_iterations,
        o.gen_temperature == 0 ? std::string("greedy") : fmt::format("at temperature {}", o.gen_temperature));
  auto pm = [](const gt::mean_se& v) { return fmt::format("{:.3f} ± {:.3f}", v.mean, v.se); };
  fmt::print("pi_0: r* greedy {}, sampled {}, exact match {}, log-prob gap {}\n\n", pm(r.base[2].value), pm(r.base[3].value),
             pm(r.base[4].value), pm(r.base[5].value));
  fmt::print("{:<8} {:>5} {:>6} {:>16} {:>16} {:>16} {:>16} {:>16} {:>16} {:>16} {:>8}\n", "method", "eps", "steps", "win (greedy)",
             "r* (greedy)", "log-prob gap", "KL to pi_0", "r* - SFT same", "r* - SFT total", "win - SFT same", "time s");
  for (const auto& row : r.rows) {
    const bool sft = row.method == "SFT";
    fmt::print("{:<8} {:>5.2f} {:>6} {:>16} {:>16} {:>16} {:>16} {:>16} {:>16} {:>16} {:>8.1f}\n", row.method, row.eps, row.policy_steps,
               pm(row.metric("win_rate").value), pm(row.metric("true_reward").value), pm(row.metric("logprob_gap").value),
               pm(row.metric("kl_to_base").value), sft ? "" : pm(row.vs_sft_same_steps.true_reward),
               sft ? "" : pm(row.vs_sft_same_total.true_reward), sft ? "" : pm(row.vs_sft_same_steps.win_rate), row.wall_seconds);
  }
  bool any_rounds = false;
  for (const auto& row : r.rows) any_rounds = any_rounds || !row.rounds.empty();
  if (any_rounds) {
    fmt::print("\nper round (mean over seeds, at each round's start): log-likelihood of demonstrations / held-out correct / generations\n");
    for (const auto& row : r.rows) {
      if (row.rounds.empty()) continue;
      std::string line = fmt::format("{:<8} {:>5.2f}:", row.method, row.eps);
      for (const auto& rd : row.rounds) line += fmt::format(" {:.2f}/{:.2f}/{:.2f}", rd.demo_loglik, rd.heldout_loglik, rd.generation_loglik);
      fmt::print("{}\n", line);
    }
  }
  fmt::print("\nwall time {:.1f} s\n", r.total_seconds);
}

}  // namespace

void add_ground_truth_command(CLI::App& app) {
  auto a = std::make_shared<ground_truth_args>();
  auto* cmd = app.add_subcommand("ground-truth", "SFT vs SPIN vs IRFT vs RFT on a transformer, scored by a programmatic true reward");
  using O = gt::ground_truth_options;
  add(cmd, a, "--tasks", &O::tasks, "task families, comma-separated")->delimiter(',')->check(CLI::IsMember(gt::task_names()));
  add(cmd, a, "--layers", &O::layers, "transformer layers L")->check(count_range());
  add(cmd, a, "--heads", &O::heads, "attention heads")->check(count_range());
  add(cmd, a, "--channels", &O::channels, "channels C")->check(count_range());
  add(cmd, a, "--context", &O::context, "context (positions)")->check(count_range());
  add(cmd, a, "--max-new-tokens", &O::max_new_tokens, "response length cap")->check(count_range());
  add(cmd, a, "--pretrain-examples", &O::pretrain_examples, "pre-training corpus size")->check(count_range());
  add(cmd, a, "--pretrain-quality", &O::pretrain_quality, "fraction of correct answers in the pre-training corpus")->check(finite_range(0, 1));
  add(cmd, a, "--pretrain-steps", &O::pretrain_steps, "SFT steps that make pi_0")->check(count_range());
  add(cmd, a, "--pretrain-lr", &O::pretrain_lr, "pre-training learning rate (AdamW)")->check(learning_rate());
  add(cmd, a, "--demonstrations", &O::demonstrations, "demonstrations")->check(count_range());
  add(cmd, a, "--eps", &O::eps, "fractions of low-quality demonstrations, comma-separated")->delimiter(',')->check(finite_range(0, 1));
  add(cmd, a, "--methods", &O::methods, "methods, comma-separated (default: SFT,SPIN,IRFT,RFT,SPIN+SFT,IRFT+SFT; pi0: the first four)")->delimiter(',')->check(CLI::IsMember(gt::method_names()));
  add(cmd, a, "--steps", &O::steps, "policy gradient steps of every method")->check(count_range());
  add(cmd, a, "--batch-size", &O::batch_size, "demonstrations per step")->check(count_range());
  add(cmd, a, "--lr", &O::lr, "SFT learning rate (AdamW)")->check(learning_rate());
  add(cmd, a, "--spin-lr", &O::spin_lr, tuned_rate_help("SPIN", &gt::tuned_rates::spin))->check(learning_rate())->default_str("tuned");
  add(cmd, a, "--irft-lr", &O::irft_lr, tuned_rate_help("IRFT", &gt::tuned_rates::irft))->check(learning_rate())->default_str("tuned");
  add(cmd, a, "--ppo-lr", &O::ppo_lr, tuned_rate_help("RFT policy (PPO)", &gt::tuned_rates::ppo))->check(learning_rate())->default_str("tuned");
  add(cmd, a, "--spin-sft-lr", &O::spin_sft_lr, tuned_rate_help("SPIN+SFT", &gt::tuned_rates::spin_sft))->check(learning_rate())->default_str("tuned");
  add(cmd, a, "--irft-sft-lr", &O::irft_sft_lr, tuned_rate_help("IRFT+SFT", &gt::tuned_rates::irft_sft))->check(learning_rate())->default_str("tuned");
  add(cmd, a, "--beta", &O::beta, "SPIN/IRFT beta; RFT's KL weight")->check(kl_weight());
  add(cmd, a, "--irft-rounds", &O::irft_rounds, "IRFT rounds T")->check(count_range());
  add(cmd, a, "--ppo-epochs", &O::ppo_epochs, "RFT: PPO updates per iteration")->check(count_range());
  add(cmd, a, "--reward-lr", &O::reward_lr, "RFT reward-model learning rate (AdamW)")->check(learning_rate());
  add(cmd, a, "--reward-steps", &O::reward_steps, "RFT: reward-model updates per iteration")->check(count_range());
  add(cmd, a, "--eval-prompts", &O::eval_prompts, "held-out prompts")->check(count_range());
  add(cmd, a, "--eval-samples", &O::eval_samples, "sampled responses per held-out prompt")->check(count_range());
  add(cmd, a, "--protocol", &O::protocol, "sft-start: SPIN/IRFT/RFT from an SFT checkpoint, with SFT controls; pi0: every method from pi_0")
      ->check(CLI::IsMember(gt::protocol_names()));
  add(cmd, a, "--sft-start-steps", &O::sft_start_steps, "sft-start: SFT steps from pi_0 that make the start checkpoint")->check(count_range());
  add(cmd, a, "--spin-iterations", &O::spin_iterations, "sft-start: SPIN iterations (each regenerates y~)")->check(count_range());
  add(cmd, a, "--spin-epochs", &O::spin_epochs, "sft-start: SPIN passes over the data per iteration")->check(count_range());
  add(cmd, a, "--irft-epochs", &O::irft_epochs, "sft-start: IRFT cycles its rounds' chunks this often")->check(count_range());
  add(cmd, a, "--irft-passes", &O::irft_passes, "sft-start: IRFT passes over a round's chunk per generation")->check(count_range());
  add(cmd, a, "--rft-iterations", &O::rft_iterations, "sft-start: RFT iterations (--ppo-epochs policy steps each)")->check(count_range());
  add(cmd, a, "--reward-warmup", &O::reward_warmup, "sft-start: RFT reward-model steps before the first policy step")->check(count_range());
  add(cmd, a, "--gen-temperature", &O::gen_temperature, "sft-start: SPIN/IRFT's y~ sampling temperature; 0 = greedy")
      ->check(finite_range(0, 1e6));
  add(cmd, a, "--sft-alpha", &O::sft_alpha, "SPIN+SFT, IRFT+SFT: weight of the demonstrations' NLL in the loss")->check(finite_range(0, 1e6));
  add(cmd, a, "--warmup-fraction", &O::warmup_fraction, "sft-start: learning-rate warm-up over this fraction of each run")
      ->check(finite_range(0, 1));
  add(cmd, a, "--seeds", &O::seeds, "number of seeds")->check(count_range());
  add(cmd, a, "--seed", &O::seed, "base random seed")->check(seed_range());
  cmd->add_flag("--quick", a->quick, "the small preset (under 3 minutes on two cores)");
  cmd->add_flag("--progress", a->progress, "print a line per finished run to stderr");
  cmd->add_option("--csv", a->csv, "also write the rows to this CSV file");
  cmd->add_flag("--json", a->json, "print one JSON object instead of a table");
  cmd->callback([a] { run(*a); });
}

}  // namespace juice::cli
