// libFuzzer target: a checkpoint's state.json as `juice train --resume` reads it. A valid IRFT
// checkpoint of a tiny model (a run of 4 steps in 2 rounds over 4 demonstrations, saved after step
// 1 with its round cache) is written once per process with save_train_checkpoint; each input
// replaces its state.json, and load_train_checkpoint restores a fresh train_state from it with the
// run's options, as the tool does: state.json parsed, the options and input identities compared,
// the rng's draw count bounded, the counters checked against the data and the options. A
// juice::error is a clean refusal; anything else (a crash, a sanitizer report, another exception,
// a huge allocation, a hang such as replaying an rng for 2^64 draws) is a bug.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "../tools/juice/train_checkpoint.hpp"
#include "juice/core/error.hpp"

namespace {

namespace fs = std::filesystem;
using namespace juice;

// A folder of this process's own, removed at exit, holding the run's inputs and its checkpoint.
struct scratch_run {
  fs::path path;
  cli::train_args args;
  nlohmann::json options;
  static constexpr std::size_t demos = 4;

  scratch_run() {
    std::string pattern = (fs::temp_directory_path() / "juice-fuzz-checkpoint-XXXXXX").string();
    if (!mkdtemp(pattern.data())) std::abort();
    path = pattern;
    write(path / "tiny.json", R"({"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 32, "vocab_size": 257})"
                              "\n");
    write(path / "demos.jsonl",
          "{\"prompt\": \"cca=\", \"response\": \"CCA\"}\n{\"prompt\": \"dba=\", \"response\": \"DBA\"}\n"
          "{\"prompt\": \"bac=\", \"response\": \"BAC\"}\n{\"prompt\": \"abc=\", \"response\": \"ABC\"}\n");
    args.algo = "irft";
    args.model = (path / "tiny.json").string();
    args.demos = (path / "demos.jsonl").string();
    args.out = (path / "run").string();
    args.steps = 4;
    args.batch_size = 2;
    args.rounds = 2;
    args.gen.max_new_tokens = 4;
    args.threads = 1;
    options = cli::run_options(args);
    // After step 1 of round 0: the round's rows 0 and 1, their responses and reference log-probs,
    // the minibatch order one batch in, the rng some draws on.
    cli::train_state st = fresh();
    st.step = 1;
    st.g = rng::from_state({args.seed, 24});
    st.order = juice::detail::minibatches::restore({1, 0}, args.batch_size, 2);
    st.cache = {0, true, {0, 1}, {{65, 66, 10}, {67}}, {-1.5, -2.25}, {-3.5, -4.0}};
    cli::save_train_checkpoint(checkpoint(), st, options);
  }
  scratch_run(const scratch_run&) = delete;
  scratch_run& operator=(const scratch_run&) = delete;
  ~scratch_run() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }

  [[nodiscard]] fs::path checkpoint() const { return path / "run" / "checkpoint"; }
  // The state `juice train` builds before it resumes.
  [[nodiscard]] cli::train_state fresh() const {
    const transformer_config c = io::read_hf_gpt2_config(args.model);
    const adamw_hyper h{args.lr, 0.9, 0.999, 1e-8, args.weight_decay, 1, 1};
    return cli::train_state{cli::model_type(c, args.seed), adamw(h), rng(args.seed), 0, 0, {0, 0}, {}, std::nullopt};
  }

  static void write(const fs::path& file, std::string_view bytes) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) std::abort();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const scratch_run run;
  scratch_run::write(run.checkpoint() / "state.json", std::string_view(reinterpret_cast<const char*>(data), size));
  cli::train_state st = run.fresh();
  try {
    cli::load_train_checkpoint(run.checkpoint(), st, run.args, run.options, scratch_run::demos);
  } catch (const juice::error&) {
  }
  return 0;
}
