// `juice demo`: the whole tool in about a minute. First the one-state table (`juice toy`), then a
// small GPT-2 trained on a task juice writes itself: a prompt is a word of lower-case letters and
// '=', the answer is the word in capitals ("cab=" -> "CAB"), over the byte tokenizer. The model is
// trained by SFT, then by IRFT starting from the SFT model and, as its control, by SFT continued
// from the SFT model for the same number of steps (the paper compares IRFT with more SFT on the same
// data), each through `juice train`'s own code, and evaluated through `juice eval`'s code before and
// after each stage on held-out data: the
// per-token NLL of the right answers, greedy exact-match accuracy, and the preference pairs
// (right answer vs the word left in lower case): log-prob gap accuracy and, for IRFT, the implicit
// reward accuracy against the SFT model (for both continuations).
#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "data_loading.hpp"
#include "eval.hpp"
#include "juice/core/rng.hpp"
#include "juice/io/atomic_file.hpp"
#include "model_loading.hpp"
#include "train.hpp"

namespace juice::cli {

namespace {

namespace fs = std::filesystem;

struct demo_args {
  std::string out;  // working folder; default: a fresh folder under the system's temporary folder
  bool keep = false;
  std::size_t sft_steps = 150, irft_steps = 200;
  std::uint64_t seed = 1;
  int threads = 0;  // chosen for the model (one thread for this tiny one), as in train and eval
};

struct example {
  std::string prompt, answer, wrong;
};

std::vector<example> make_task(std::size_t n, rng& g) {
  std::vector<example> out;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t len = 3 + g.below(3);
    std::string w;
    for (std::size_t k = 0; k < len; ++k) w.push_back(static_cast<char>('a' + g.below(8)));
    std::string up = w;
    std::transform(up.begin(), up.end(), up.begin(), [](char c) { return static_cast<char>(c - 'a' + 'A'); });
    out.push_back({w + "=", up, w});
  }
  return out;
}

void write_demos(const fs::path& file, const std::vector<example>& xs) {
  std::string text;
  for (const auto& x : xs) text += nlohmann::json{{"prompt", x.prompt}, {"response", x.answer}}.dump() + "\n";
  io::write_file_atomically(file, text);
}

void write_pairs(const fs::path& file, const std::vector<example>& xs) {
  std::string text;
  for (const auto& x : xs) text += nlohmann::json{{"prompt", x.prompt}, {"chosen", x.answer}, {"rejected", x.wrong}}.dump() + "\n";
  io::write_file_atomically(file, text);
}

// Greedy answers of `model` to the test prompts, compared with the right answers.
double exact_match(const std::string& model, const std::vector<example>& test) {
  model_type m = load_model(model, 0, "--model");
  const any_tokenizer tok = load_tokenizer("byte");
  const token_t eos = tok.eos().value();  // the byte tokenizer has one
  m.generation().eos = eos;
  m.generation().sampling.temperature = 0;
  std::size_t width = 0;
  for (const auto& x : test) width = std::max(width, x.prompt.size());
  m.generation().max_new_tokens = 8;
  sequence_batch b(test.size(), width);
  for (std::size_t i = 0; i < test.size(); ++i) {
    const auto ids = tok.encode(test[i].prompt);
    std::copy(ids.begin(), ids.end(), &b.tokens(i, 0));
    b.prompt_length(i) = b.length(i) = static_cast<std::int32_t>(ids.size());
  }
  rng g(0);
  const sequence_batch y = m.sample(b, 1, g);
  std::size_t right = 0;
  for (std::size_t i = 0; i < test.size(); ++i) {
    std::vector<token_t> ids(&y.tokens(i, static_cast<std::size_t>(y.prompt_length(i))), &y.tokens(i, 0) + y.length(i));
    if (!ids.empty() && ids.back() == eos) ids.pop_back();
    right += tok.decode(ids) == test[i].answer ? 1 : 0;
  }
  return static_cast<double>(right) / static_cast<double>(test.size());
}

struct stage_row {
  std::string name;
  double nll = 0, match = 0, gap_acc = 0;
  std::optional<double> reward_acc;
};

stage_row evaluate(const std::string& name, const std::string& model, const std::string& ref, const fs::path& dir,
                   const std::vector<example>& test, int threads) {
  eval_args e;
  e.model = model;
  e.ref = ref;
  e.pairs = (dir / "test_pairs.jsonl").string();
  e.demos = (dir / "test.jsonl").string();
  e.threads = threads;
  const nlohmann::json r = run_eval(e);
  stage_row row{name, r["demos"]["nll_per_token"].get<double>(), exact_match(model, test),
                r["pairs"]["logp_gap_accuracy"].get<double>(), std::nullopt};
  if (!ref.empty()) row.reward_acc = r["pairs"]["rewards/accuracies"].get<double>();
  return row;
}

// The demo's working folder: --out, which must be new or empty (the demo writes train.jsonl,
// test.jsonl, model.json, sft/ and irft/ into it and never replaces a user's file), or a fresh
// folder under the system's temporary folder made by mkdtemp (an unpredictable name, mode 0700,
// created only if nothing is there: nothing planted at a guessable path is written through).
fs::path demo_folder(const demo_args& a) {
  std::error_code ec;
  if (a.out.empty()) {
    std::string pattern = (fs::temp_directory_path(ec) / "juice-demo-XXXXXX").string();
    if (ec) throw io::io_error("juice demo: there is no temporary folder (" + ec.message() + "); give --out.");
    if (::mkdtemp(pattern.data()) == nullptr)
      throw io::io_error("juice demo: cannot create a folder " + pattern + " (" + std::strerror(errno) + "); give --out.");
    return pattern;
  }
  const fs::path dir(a.out);
  const auto st = fs::status(dir, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st)) throw invalid_argument("--out " + dir.string() + ": exists and is not a folder; choose a new folder.");
    if (!fs::is_empty(dir, ec) || ec)
      throw invalid_argument("--out " + dir.string() + ": is not empty; juice demo writes its files into a new or empty folder.");
  }
  fs::create_directories(dir, ec);
  if (ec) throw io::io_error("--out " + dir.string() + ": cannot create the folder (" + ec.message() + ").");
  return dir;
}

void run_demo(const demo_args& a) {
  const bool temporary = a.out.empty();
  const fs::path dir = demo_folder(a);
  std::error_code ec;
  fmt::print("== 1. The paper's one-state example (juice toy)\n\n");
  print_toy_table();
  std::fflush(stdout);

  rng g(a.seed);
  const auto train = make_task(512, g), test = make_task(64, g);
  write_demos(dir / "train.jsonl", train);
  write_demos(dir / "test.jsonl", test);
  write_pairs(dir / "test_pairs.jsonl", test);
  io::write_file_atomically(dir / "model.json",
                            R"({"n_layer": 2, "n_head": 2, "n_embd": 32, "n_positions": 16, "vocab_size": 257})"
                            "\n");

  fmt::print("\n== 2. A small GPT-2 (2 layers, 32 channels, byte tokens) learns to capitalise words: \"cab=\" -> \"CAB\"\n");
  fmt::print("   data in {}: {} training demonstrations, {} held-out ones, and held-out pairs (right answer vs lower case)\n\n",
             dir.string(), train.size(), test.size());

  train_args t;
  t.model = (dir / "model.json").string();
  t.demos = (dir / "train.jsonl").string();
  t.seed = a.seed;
  t.threads = a.threads;
  t.batch_size = 16;
  t.quiet = true;
  t.algo = "sft";
  t.steps = a.sft_steps;
  t.lr = 3e-3;
  t.out = (dir / "sft").string();
  fmt::print("SFT:  juice train --algo sft --model model.json --steps {} --lr {} ...\n", t.steps, t.lr);
  std::fflush(stdout);
  run_train(t);

  t.algo = "irft";
  t.model = (dir / "sft" / "final").string();
  t.steps = a.irft_steps;
  t.rounds = 2;
  t.beta = 0.1;
  t.loss = "ipo";  // on this task the sigmoid loss lowers the demonstrations' likelihood; IPO's bounded margin does not
  t.lr = 3e-4;
  t.gen.max_new_tokens = 8;
  t.out = (dir / "irft").string();
  fmt::print("IRFT: juice train --algo irft --model sft/final --loss ipo --steps {} --rounds {} --beta {} --lr {} ...\n", t.steps,
             t.rounds, t.beta, t.lr);
  std::fflush(stdout);
  run_train(t);

  // The control: SFT continued from the same model for the same steps, at SFT's learning rate.
  t.algo = "sft";
  t.lr = 3e-3;
  t.out = (dir / "sft_more").string();
  fmt::print("SFT continued: juice train --algo sft --model sft/final --steps {} --lr {} ...\n\n", t.steps, t.lr);
  std::fflush(stdout);
  run_train(t);

  const std::string sft_final = (dir / "sft" / "final").string();
  const std::vector<stage_row> rows{evaluate("initial", (dir / "model.json").string(), "", dir, test, a.threads),
                                    evaluate("after SFT", sft_final, "", dir, test, a.threads),
                                    evaluate("+ IRFT", (dir / "irft" / "final").string(), sft_final, dir, test, a.threads),
                                    evaluate("+ SFT", (dir / "sft_more" / "final").string(), sft_final, dir, test, a.threads)};
  fmt::print("{:<12} {:>14} {:>12} {:>16} {:>22}\n", "model", "NLL per token", "exact match", "pairs: gap acc.",
             "reward acc. vs SFT");
  for (const auto& r : rows)
    fmt::print("{:<12} {:>14.3f} {:>12.3f} {:>16.3f} {:>22}\n", r.name, r.nll, r.match, r.gap_acc,
               r.reward_acc ? fmt::format("{:.3f}", *r.reward_acc) : std::string("-"));
  fmt::print(
      "\n(held-out: {} demonstrations and pairs; NLL of the right answers, greedy answers that match exactly,\n"
      " pairs whose right answer is likelier than the lower-case one, and the implicit reward\n"
      " beta log(pi/pi_SFT) ranking the right answer first; \"+ IRFT\" and \"+ SFT\" both continue from\n"
      " the SFT model for {} steps: SFT continued is IRFT's control)\n",
      test.size(), a.irft_steps);
  if (temporary && !a.keep) fs::remove_all(dir, ec);
  else fmt::print("\nfiles kept in {}\n", dir.string());
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto a = std::make_shared<demo_args>();
  auto* cmd = app.add_subcommand("demo", "The one-state example, then SFT and IRFT of a small transformer on a task juice writes");
  cmd->add_option("--out", a->out, "working folder (kept); default: a temporary folder, removed at the end");
  cmd->add_flag("--keep", a->keep, "keep the temporary folder");
  cmd->add_option("--sft-steps", a->sft_steps, "SFT steps")->check(CLI::Range(1.0, 1e6))->capture_default_str();
  cmd->add_option("--irft-steps", a->irft_steps, "IRFT steps (and those of SFT continued, its control)")->check(CLI::Range(2.0, 1e6))->capture_default_str();
  cmd->add_option("--seed", a->seed, "random seed")->check(seed_range())->capture_default_str();
  add_threads_option(cmd, a->threads);
  cmd->callback([a] { run_demo(*a); });
}

}  // namespace juice::cli
