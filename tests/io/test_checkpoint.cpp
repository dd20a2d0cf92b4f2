// juice/io/checkpoint.hpp and io/atomic_directory.hpp: a training checkpoint round-trips bit for bit
// (parameters, both AdamW moments, step count, counters, rng streams, options, F64/F32/I64
// tensors); training N steps straight equals N/2 steps, save, load into fresh objects, N/2 more,
// byte for byte; a child killed by SIGKILL at random moments while it saves in a loop always leaves
// a checkpoint that loads whole (old or new, never a mix); each stage of an interrupted swap
// resolves to a complete checkpoint and the next save tidies up; and every broken piece is refused
// with the file and the tensor or field named, leaving model and optimizer unchanged.
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "check_throws.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/core/batch_ops.hpp"
#include "juice/core/rng.hpp"
#include "juice/io/checkpoint.hpp"
#include "juice/io/hf_gpt2.hpp"
#include "juice/io/safetensors.hpp"
#include "juice/models/transformer.hpp"
#include "juice/optim/adamw.hpp"
#include "../cpu/model_support.hpp"

using namespace juice;
using namespace juice::io;
using juice::test::check_throws_with;
namespace fs = std::filesystem;

namespace {

const transformer_config cfg = test::tiny_config();  // L=2, NH=2, C=8, context 12, vocab 11

// A fresh folder per test under the system's temporary folder.
struct scratch {
  fs::path root;
  explicit scratch(const std::string& name) {
    root = fs::temp_directory_path() / ("juice_ckpt_" + name + "_" + std::to_string(::getpid()));
    fs::remove_all(root);
    fs::create_directories(root);
  }
  ~scratch() {
    std::error_code ec;
    fs::remove_all(root, ec);
  }
};

template <class T>
std::vector<T> params_of(transformer<cpu, T>& m) {
  auto p = m.parameter_block().value;
  return {p.begin(), p.end()};
}

template <class T>
bool same_bytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

adamw make_optimizer() {
  adamw_hyper h;
  h.lr = 3e-2;
  h.beta1 = 0.85;
  h.weight_decay = 0.01;
  adamw opt(h);
  opt.schedule([](std::size_t s) { return std::min(1.0, double(s + 1) / 3.0); });  // warm-up: needs the step count
  return opt;
}

// A toy IRFT-like run whose every ingredient a resume must restore: batches drawn from the rng,
// a reference (per-row sums of log-probs, F64) and its token ids (I64) cached at each round start,
// a loss weighting that depends on the reference, and AdamW with a warm-up schedule.
struct toy_run {
  static constexpr std::uint64_t steps_per_round = 4;
  transformer<cpu, float> model;
  adamw opt = make_optimizer();
  rng g{2024};
  training_state state;

  explicit toy_run(std::uint64_t init_seed) : model(cfg, init_seed) {
    state.options = {{"lr", 3e-2}, {"steps_per_round", steps_per_round}, {"algo", "toy"}};
  }

  sequence_batch draw_batch() {
    std::vector<std::pair<std::vector<int>, std::vector<int>>> rows;
    for (int r = 0; r < 3; ++r) {
      std::vector<int> prompt(1 + g.below(3)), response(1 + g.below(4));
      for (int& t : prompt) t = static_cast<int>(g.below(cfg.vocab));
      for (int& t : response) t = static_cast<int>(g.below(cfg.vocab));
      rows.emplace_back(prompt, response);
    }
    return test::make_batch(rows);
  }

  void step() {
    if (state.step_in_round == 0) {  // round start: cache the reference on a fresh batch
      const sequence_batch ref = draw_batch();
      const auto lp = model.logprobs(ref);
      const auto sums = sequence_sum(lp, ref);
      host_tensor<double> r{{ref.rows()}, {}};
      for (std::size_t i = 0; i < ref.rows(); ++i) r.values.push_back(sums(i));
      host_tensor<std::int64_t> ids{{ref.rows(), ref.width()}, {}};
      for (std::size_t i = 0; i < ref.rows(); ++i)
        for (std::size_t t = 0; t < ref.width(); ++t) ids.values.push_back(ref.tokens(i, t));
      host_tensor<std::int64_t> meta{{ref.rows(), 2}, {}};
      for (std::size_t i = 0; i < ref.rows(); ++i) {
        meta.values.push_back(ref.prompt_length(i));
        meta.values.push_back(ref.length(i));
      }
      state.f64["reference.logp"] = r;
      state.i64["reference.tokens"] = ids;
      state.i64["reference.lengths"] = meta;
    }
    // Rebuild the cached batch from the stored ids (as a resumed run must).
    const auto& ids = state.i64.at("reference.tokens");
    const auto& meta = state.i64.at("reference.lengths");
    const std::size_t rows = ids.shape[0], width = ids.shape[1];
    sequence_batch ref(rows, width);
    for (std::size_t i = 0; i < rows; ++i) {
      for (std::size_t t = 0; t < width; ++t) ref.tokens(i, t) = static_cast<token_t>(ids.values[i * width + t]);
      ref.prompt_length(i) = static_cast<std::int32_t>(meta.values[2 * i]);
      ref.length(i) = static_cast<std::int32_t>(meta.values[2 * i + 1]);
    }
    const sequence_batch fresh = draw_batch();
    // Loss: on the cached batch, push log-probs up where they trail the reference (a weight that
    // depends on the stored F64 values), plus plain SFT on the fresh batch.
    const auto lp = model.logprobs(ref);
    const auto sums = sequence_sum(lp, ref);
    std::vector<double> per_row(rows);
    for (std::size_t i = 0; i < rows; ++i)
      per_row[i] = -(1.0 + std::tanh(state.f64.at("reference.logp").values[i] - sums(i) + 0.3)) / double(rows);
    model.zero_grad();
    model.backward(ref, spread_over_response<float>(per_row, ref));
    std::vector<double> sft(fresh.rows(), -1.0 / double(fresh.rows()));
    (void)model.logprobs(fresh);
    model.backward(fresh, spread_over_response<float>(sft, fresh));
    opt.step(model);
    ++state.step;
    if (++state.step_in_round == steps_per_round) {
      state.step_in_round = 0;
      ++state.round;
    }
  }

  void save(const fs::path& dir) {
    state.rngs["data"] = g.state();
    save_checkpoint(dir, model, opt, state);
  }
  void load(const fs::path& dir) {
    state = load_checkpoint(dir, model, opt);
    g = rng::from_state(state.rngs.at("data"));
  }
};

training_state rich_state() {
  training_state s;
  s.step = 7;
  s.round = 2;
  s.step_in_round = 3;
  rng a(5), b = rng::stream(5, 1);
  for (int i = 0; i < 9; ++i) (void)a();
  s.rngs["data"] = a.state();
  s.rngs["sampling"] = b.state();
  s.options = {{"lr", 0.1}, {"beta", 1e-1 / 3}, {"loss", "sigmoid"}, {"batch", 4}, {"nested", {{"k", {1, 2}}}}};
  s.f64["ref.logp"] = {{2, 2}, {-1.5, std::nextafter(-2.0, 0.0), 1e-300, -0.0}};
  s.f32["extra"] = {{3}, {0.1f, -3e38f, 1e-45f}};
  s.i64["ids"] = {{2, 3}, {0, 50256, -1, INT64_MAX, INT64_MIN, 7}};
  s.i64["empty"] = {{0}, {}};
  return s;
}

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_checkpoint_round_trips_bit_for_bit) {
  scratch tmp("roundtrip");
  transformer<cpu, float> model(cfg, 1);
  adamw opt = make_optimizer();
  toy_run warm(1);  // steps a model and optimizer so that the moments are non-trivial
  for (int s = 0; s < 3; ++s) warm.step();
  const training_state st = rich_state();
  save_checkpoint(tmp.root / "ck", warm.model, warm.opt, st);

  transformer<cpu, float> fresh(cfg, 77);
  adamw fresh_opt(adamw_hyper{0.9});
  const training_state back = load_checkpoint(tmp.root / "ck", fresh, fresh_opt);
  BOOST_TEST(same_bytes(params_of(fresh), params_of(warm.model)));
  const optimizer_state a = warm.opt.export_state(warm.model), b = fresh_opt.export_state(fresh);
  BOOST_TEST(b.steps == 3u);
  BOOST_TEST(a.hyper == b.hyper);
  BOOST_REQUIRE(a.tensors.size() == 2u);
  BOOST_REQUIRE(b.tensors.size() == 2u);
  for (std::size_t k = 0; k < 2; ++k) {
    BOOST_TEST(a.tensors[k].name == b.tensors[k].name);
    BOOST_TEST(same_bytes(a.tensors[k].values, b.tensors[k].values));
  }
  BOOST_TEST(back.step == 7u);
  BOOST_TEST(back.round == 2u);
  BOOST_TEST(back.step_in_round == 3u);
  BOOST_TEST(back.options == st.options);
  BOOST_TEST(back.options["beta"].get<double>() == 1e-1 / 3);  // doubles survive the JSON exactly
  BOOST_TEST((back.rngs.size() == 2 && back.rngs.at("data") == st.rngs.at("data") && back.rngs.at("sampling") == st.rngs.at("sampling")));
  BOOST_TEST((back.f64 == st.f64));
  BOOST_TEST((back.f32 == st.f32));
  BOOST_TEST((back.i64 == st.i64));
  BOOST_TEST(std::signbit(back.f64.at("ref.logp").values[3]));
  // The restored rng continues the saved stream.
  rng original(5);
  for (int i = 0; i < 9; ++i) (void)original();
  BOOST_TEST(rng::from_state(back.rngs.at("data"))() == original());

  // The model half is an HF GPT-2 folder that the HF loader reads (float stays F32, exactly).
  auto hf = load_hf_gpt2<float>(tmp.root / "ck", 5);
  BOOST_TEST(same_bytes(params_of(hf), params_of(warm.model)));
  // Saving the same thing again writes the same bytes (nothing time-dependent).
  const auto first = read_file(tmp.root / "ck" / "optimizer.safetensors");
  const auto state1 = read_file(tmp.root / "ck" / "state.json");
  save_checkpoint(tmp.root / "ck", warm.model, warm.opt, st);
  BOOST_TEST((read_file(tmp.root / "ck" / "optimizer.safetensors") == first));
  BOOST_TEST((read_file(tmp.root / "ck" / "state.json") == state1));
  // Only the checkpoint itself is left in the parent folder.
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(tmp.root)) ++entries;
  BOOST_TEST(entries == 1u);
}

BOOST_AUTO_TEST_CASE(a_double_model_round_trips_in_f64) {
  scratch tmp("double");
  transformer<cpu, double> m(cfg, 3);
  adamw opt(adamw_hyper{0.01});
  m.zero_grad();
  const auto b = test::make_batch({{{1, 2}, {3, 4, 5}}});
  const auto lp = m.logprobs(b);
  (void)lp;
  m.backward(b, spread_over_response<double>(std::vector<double>{-1.0}, b));
  opt.step(m);
  save_checkpoint(tmp.root / "ck", m, opt, training_state{});
  transformer<cpu, double> fresh(cfg, 4);
  adamw fresh_opt;
  (void)load_checkpoint(tmp.root / "ck", fresh, fresh_opt);
  BOOST_TEST(same_bytes(params_of(fresh), params_of(m)));
  BOOST_TEST(same_bytes(fresh_opt.export_state(fresh).tensors[1].values, opt.export_state(m).tensors[1].values));
}

// The decisive property: an interrupted and resumed run ends bit-identical to an uninterrupted one.
BOOST_AUTO_TEST_CASE(resuming_from_a_checkpoint_reaches_bit_identical_parameters) {
  scratch tmp("resume");
  constexpr int N = 10;  // two and a half rounds; the save falls mid-round (round 1, step 1 of 4)
  toy_run straight(11);
  for (int s = 0; s < N; ++s) straight.step();

  toy_run first(11);
  for (int s = 0; s < N / 2; ++s) first.step();
  first.save(tmp.root / "ck");
  toy_run resumed(999);  // freshly constructed objects, other initial weights and optimizer
  resumed.opt = adamw(adamw_hyper{0.5});
  resumed.opt.schedule([](std::size_t s) { return std::min(1.0, double(s + 1) / 3.0); });
  resumed.g = rng(1);
  resumed.load(tmp.root / "ck");
  check_resume_options(resumed.state.options, first.state.options, "ck");
  BOOST_TEST(resumed.state.step == std::uint64_t{N / 2});
  BOOST_TEST(resumed.state.round == 1u);
  BOOST_TEST(resumed.state.step_in_round == 1u);
  for (int s = N / 2; s < N; ++s) resumed.step();

  BOOST_TEST(same_bytes(params_of(straight.model), params_of(resumed.model)));
  BOOST_TEST((straight.g.state() == resumed.g.state()));
  BOOST_TEST(straight.opt.steps() == resumed.opt.steps());
  // And the control: without the checkpoint's reference tensors the run diverges, so the test sees them.
  toy_run partial(999);
  partial.opt = make_optimizer();
  partial.load(tmp.root / "ck");
  partial.state.f64["reference.logp"].values[0] += 1e-3;
  for (int s = N / 2; s < N; ++s) partial.step();
  BOOST_TEST(!same_bytes(params_of(straight.model), params_of(partial.model)));
}

BOOST_AUTO_TEST_CASE(changed_options_are_refused_by_name) {
  const nlohmann::json saved = {{"lr", 0.1}, {"beta", 0.1}, {"loss", "sigmoid"}};
  check_resume_options(saved, saved, "ck");
  check_resume_options(saved, {{"lr", 0.1}, {"beta", 0.1}, {"loss", "sigmoid"}}, "ck");
  check_throws_with<invalid_argument>([&] { check_resume_options(saved, {{"lr", 0.2}, {"beta", 0.1}, {"loss", "sigmoid"}}, "ck"); },
                                      "ck: the option 'lr' was 0.1 when the checkpoint was written but is 0.2 now");
  check_throws_with<invalid_argument>([&] { check_resume_options(saved, {{"lr", 0.1}, {"loss", "sigmoid"}}, "ck"); },
                                      "the option 'beta' was 0.1 when the checkpoint was written but is not set now");
  check_throws_with<invalid_argument>(
      [&] { check_resume_options(saved, {{"lr", 0.1}, {"beta", 0.1}, {"loss", "sigmoid"}, {"T", 5}}, "ck"); },
      "the option 'T' is 5 now but was not set");
}

// Every stage a save can be interrupted in, built by hand: the folder that loads is complete, and
// the next save tidies up.
BOOST_AUTO_TEST_CASE(each_stage_of_an_interrupted_save_resolves_to_a_complete_checkpoint) {
  scratch tmp("stages");
  transformer<cpu, float> m(cfg, 1);
  adamw opt;
  training_state a, b;
  a.step = 1;
  b.step = 2;
  const fs::path ck = tmp.root / "ck", fresh = tmp.root / ".ck.juice-new", old = tmp.root / ".ck.juice-old";
  auto load_step = [&] {
    transformer<cpu, float> f(cfg, 2);
    adamw o;
    return load_checkpoint(ck, f, o).step;
  };
  auto build = [&](const fs::path& where, const training_state& s) {
    save_checkpoint(tmp.root / "build", m, opt, s);
    fs::rename(tmp.root / "build", where);
  };
  check_throws_with<io_error>([&] { (void)load_step(); }, "there is no checkpoint at");

  // During step 1 (a half-written temporary folder, no checkpoint yet).
  fs::create_directories(tmp.root / ".ck.juice-tmp.1.2");
  write_text(tmp.root / ".ck.juice-tmp.1.2" / "state.json", "{");
  check_throws_with<io_error>([&] { (void)load_step(); }, "there is no checkpoint at");
  // After step 2 of the first save: only the complete new folder.
  build(fresh, a);
  BOOST_TEST(load_step() == 1u);
  // After step 2 of a later save: the old checkpoint and the complete new one.
  fs::rename(fresh, ck);
  build(fresh, b);
  BOOST_TEST(load_step() == 1u);  // the checkpoint in place wins; the new one is discarded
  // After step 3: no checkpoint in place, the old one and the new one beside it.
  fs::rename(ck, old);
  BOOST_TEST(load_step() == 2u);
  // The next save tidies: it finishes the swap, removes the temporaries and the old folder.
  training_state c;
  c.step = 3;
  save_checkpoint(ck, m, opt, c);
  BOOST_TEST(load_step() == 3u);
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(tmp.root)) names.push_back(e.path().filename().string());
  BOOST_TEST(names == std::vector<std::string>{"ck"});
  // A folder left only under the old name (moved by hand) still loads.
  fs::rename(ck, old);
  BOOST_TEST(load_step() == 3u);
}

// A child saves checkpoints in a loop (each one's pieces carry its number) and is killed with
// SIGKILL at a random moment; the folder must then load as one complete checkpoint.
BOOST_AUTO_TEST_CASE(a_save_killed_at_a_random_moment_leaves_a_complete_checkpoint) {
  scratch tmp("kill");
  const fs::path ck = tmp.root / "ck";
  std::mt19937 pick(20261130);
  std::uint64_t newest = 0;
  // Built before fork: the child then runs no OpenMP region (GNU libgomp's thread pool does not
  // survive a fork), only plain loops, transfers and file writes.
  transformer<cpu, float> m0(cfg, 1);
  adamw opt0(adamw_hyper{0.1});
  for (int round = 0; round < 6; ++round) {
    const pid_t child = ::fork();
    BOOST_REQUIRE(child >= 0);
    if (child == 0) {
      // The child: checkpoint k has parameters filled with k, an optimizer at step k and state step k.
      try {
        auto& m = m0;
        auto& opt = opt0;
        std::uint64_t k = newest;
        for (;;) {
          ++k;
          for (float& x : m.parameter_block().value) x = static_cast<float>(k);
          optimizer_state os = opt.export_state(m);
          os.steps = k;
          for (auto& t : os.tensors) std::fill(t.values.begin(), t.values.end(), double(k));
          opt.import_state(m, os);
          training_state s;
          s.step = k;
          s.f64["k"] = {{1}, {double(k)}};
          save_checkpoint(ck, m, opt, s);
        }
      } catch (...) {
        ::_exit(3);
      }
    }
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(5000, 150000)(pick)));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    BOOST_TEST_REQUIRE(WIFSIGNALED(status), "the child stopped by itself (status " << status << ")");
    if (!resolve_directory(ck)) continue;  // killed before its first save completed
    transformer<cpu, float> m(cfg, 5);
    adamw opt;
    const training_state s = load_checkpoint(ck, m, opt);
    const auto k = s.step;
    BOOST_TEST_MESSAGE("kill " << round << ": checkpoint " << k << " loads whole");
    BOOST_TEST(k >= newest);
    bool all = true;
    for (float x : m.parameter_block().value) all = all && x == static_cast<float>(k);
    BOOST_TEST(all, "parameters of another checkpoint than state.json's step " << k);
    BOOST_TEST(opt.steps() == k);
    BOOST_TEST(opt.export_state(m).tensors[1].values[0] == double(k));
    BOOST_TEST(s.f64.at("k").values[0] == double(k));
    newest = k;
  }
  BOOST_TEST(newest > 0u);  // at least one save completed, so the loads above were exercised
}

// --- refusals ---

namespace {
// A saved checkpoint to break, and fresh objects to load it into.
struct broken_fixture {
  scratch tmp{"broken"};
  fs::path ck = tmp.root / "ck";
  transformer<cpu, float> model{cfg, 1};
  adamw opt{adamw_hyper{0.01}};
  broken_fixture() {
    (void)model.logprobs(test::make_batch({{{1}, {2, 3}}}));
    model.zero_grad();
    const auto b = test::make_batch({{{1}, {2, 3}}});
    (void)model.logprobs(b);
    model.backward(b, spread_over_response<float>(std::vector<double>{-1.0}, b));
    opt.step(model);
    save_checkpoint(ck, model, opt, rich_state());
  }
  // Loading must fail with `needle` in the message and leave a fresh model and optimizer unchanged.
  template <class E = juice::error>
  void refuse(const std::string& needle) {
    transformer<cpu, float> fresh(cfg, 42);
    adamw fresh_opt(adamw_hyper{0.5});
    const auto before = params_of(fresh);
    check_throws_with<E>([&] { (void)load_checkpoint(ck, fresh, fresh_opt); }, needle);
    BOOST_TEST(same_bytes(params_of(fresh), before));
    BOOST_TEST(fresh_opt.steps() == 0u);
    BOOST_TEST(fresh_opt.hyper().lr == 0.5);
  }
  // Rewrites a safetensors file of the checkpoint through `edit`.
  template <class F>
  void rewrite(const char* file, F edit) {
    const safetensors_file f = safetensors_file::load(ck / file);
    safetensors_writer w;
    for (const auto& [k, v] : f.metadata()) w.set_metadata(k, v);
    edit(f, w);
    fs::remove(ck / file);
    w.write(ck / file);
  }
};
}  // namespace

BOOST_AUTO_TEST_CASE(a_missing_file_is_named) {
  for (const char* name : {"model.safetensors", "config.json", "optimizer.safetensors", "reference.safetensors", "state.json"}) {
    broken_fixture f;
    fs::remove(f.ck / name);
    f.refuse<io_error>(std::string(name) + " is missing");
  }
}

BOOST_AUTO_TEST_CASE(a_truncated_file_is_named) {
  for (const char* name : {"model.safetensors", "optimizer.safetensors", "reference.safetensors"}) {
    broken_fixture f;
    fs::resize_file(f.ck / name, fs::file_size(f.ck / name) - 4);
    f.refuse<format_error>(std::string(name) + ": tensor '");  // the reader names the tensor cut short
  }
  broken_fixture f;
  const auto text = read_file(f.ck / "state.json");
  write_text(f.ck / "state.json", std::string(text.begin(), text.begin() + 40));
  f.refuse<format_error>("state.json: not valid JSON");
}

BOOST_AUTO_TEST_CASE(a_model_of_another_shape_or_precision_is_refused) {
  broken_fixture f;
  transformer<cpu, float> wider(transformer_config{2, 2, 16, 12, 11}, 1);
  adamw o;
  check_throws_with<format_error>([&] { (void)load_checkpoint(f.ck, wider, o); }, "config.json: n_embd is 8 but the model has 16");
  transformer<cpu, double> dbl(cfg, 1);
  check_throws_with<format_error>([&] { (void)load_checkpoint(f.ck, dbl, o); },
                                  "model.safetensors: tensor 'h.0.attn.c_attn.bias' is F32 but the model is double");
  // A model tensor of the wrong shape (still F32): the HF importer names it.
  f.rewrite("model.safetensors", [](const safetensors_file& file, safetensors_writer& w) {
    for (const auto& t : file.tensors()) {
      auto v = file.read<float>(t.name);
      if (t.name == "ln_f.bias") v.pop_back();
      w.add(t.name, t.name == "ln_f.bias" ? std::vector<std::size_t>{v.size()} : t.shape, v);
    }
  });
  f.refuse<format_error>("ln_f.bias");
}

BOOST_AUTO_TEST_CASE(a_model_without_its_value_head_is_refused) {
  broken_fixture f;
  f.rewrite("model.safetensors", [](const safetensors_file& file, safetensors_writer& w) {
    for (const auto& t : file.tensors())
      if (t.name.rfind("juice.", 0) != 0) w.add(t.name, t.shape, file.read<float>(t.name));
  });
  f.refuse<format_error>("model.safetensors: tensor 'juice.value_head.weight' (the value head) is missing");
}

BOOST_AUTO_TEST_CASE(broken_optimizer_state_is_named) {
  {
    broken_fixture f;  // a moment of the wrong length
    f.rewrite("optimizer.safetensors", [](const safetensors_file& file, safetensors_writer& w) {
      for (const auto& t : file.tensors()) {
        auto v = file.read<float>(t.name);
        if (t.name == "parameters.exp_avg_sq") v.resize(v.size() - 1);
        w.add(t.name, {v.size()}, v);
      }
    });
    f.refuse<format_error>("optimizer.safetensors: juice::gradient_descent::check_state: tensor 'parameters.exp_avg_sq' has");
  }
  {
    broken_fixture f;  // a moment missing
    f.rewrite("optimizer.safetensors", [](const safetensors_file& file, safetensors_writer& w) {
      w.add("parameters.exp_avg", file.at("parameters.exp_avg").shape, file.read<float>("parameters.exp_avg"));
    });
    f.refuse<format_error>("tensor 'parameters.exp_avg_sq' is missing");
  }
  {
    broken_fixture f;  // stored in the wrong precision
    f.rewrite("optimizer.safetensors", [](const safetensors_file& file, safetensors_writer& w) {
      for (const auto& t : file.tensors()) w.add(t.name, t.shape, file.read<double>(t.name), dtype::F64);
    });
    f.refuse<format_error>("optimizer.safetensors: tensor 'parameters.exp_avg' is F64 but the optimizer's state is float");
  }
  for (const char* key : {"steps", "rule", "hyper.beta2"}) {
    broken_fixture f;  // metadata missing
    f.rewrite("optimizer.safetensors", [&](const safetensors_file& file, safetensors_writer& w) {
      w = safetensors_writer{};
      for (const auto& [k, v] : file.metadata())
        if (k != key) w.set_metadata(k, v);
      for (const auto& t : file.tensors()) w.add(t.name, t.shape, file.read<float>(t.name));
    });
    f.refuse<format_error>(std::string("optimizer.safetensors: ") +
                           (std::string(key) == "hyper.beta2" ? "juice::gradient_descent::check_state: the hyper-parameter 'beta2' is missing"
                                                              : "the metadata field '" + std::string(key) + "' is missing"));
  }
  {
    broken_fixture f;  // a state for SGD loaded into AdamW
    f.rewrite("optimizer.safetensors", [](const safetensors_file& file, safetensors_writer& w) {
      w.set_metadata("rule", "sgd");
      for (const auto& t : file.tensors()) w.add(t.name, t.shape, file.read<float>(t.name));
    });
    f.refuse<format_error>("the state is of the 'sgd' optimizer, not 'adamw'");
  }
}

BOOST_AUTO_TEST_CASE(broken_state_json_is_named) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {R"({"format": "juice-training-checkpoint", "version": 1, "round": 0, "step_in_round": 0, "rngs": {}, "options": {}})",
       "state.json: the field 'step' is missing"},
      {R"({"format": "juice-training-checkpoint", "version": 1, "step": -1, "round": 0, "step_in_round": 0, "rngs": {}, "options": {}})",
       "state.json: the field 'step' must be a non-negative integer, not -1"},
      {R"({"format": "juice-training-checkpoint", "version": 2, "step": 1, "round": 0, "step_in_round": 0, "rngs": {}, "options": {}})",
       "state.json: the field 'version' is 2; this juice reads version 1"},
      {R"({"format": "other", "version": 1, "step": 1, "round": 0, "step_in_round": 0, "rngs": {}, "options": {}})",
       "state.json: the field 'format' must be \"juice-training-checkpoint\""},
      {R"({"format": "juice-training-checkpoint", "version": 1, "step": 1, "round": 0, "step_in_round": 0, "rngs": {"data": {"seed": 1}}, "options": {}})",
       "state.json: the field 'rngs.data.draws' is missing"},
      {R"({"format": "juice-training-checkpoint", "version": 1, "step": 1, "round": 0, "step_in_round": 0, "rngs": {}, "options": []})",
       "state.json: the field 'options' is missing or not an object"},
      {R"([1, 2])", "state.json: not a JSON object"},
      // Readers disagree on which of two equal keys counts: refused, as in every JSON file juice reads.
      {R"({"format": "juice-training-checkpoint", "version": 1, "step": 1, "step": 9, "round": 0, "step_in_round": 0, "rngs": {}, "options": {}})",
       "state.json: not valid JSON: the key \"step\" appears twice in one object"},
  };
  for (const auto& [text, needle] : cases) {
    broken_fixture f;
    write_text(f.ck / "state.json", text);
    f.refuse<format_error>(needle);
  }
}

BOOST_AUTO_TEST_CASE(a_reference_tensor_of_another_dtype_is_named) {
  broken_fixture f;
  f.rewrite("reference.safetensors", [](const safetensors_file&, safetensors_writer& w) {
    w.add("ref.half", {2}, std::vector<float>{1, 2}, dtype::F16);
  });
  f.refuse<format_error>("reference.safetensors: tensor 'ref.half' is F16; a checkpoint's tensors are F64, F32 or I64");
}

BOOST_AUTO_TEST_CASE(a_refused_save_leaves_the_previous_checkpoint) {
  broken_fixture f;
  const auto before = read_file(f.ck / "state.json");
  training_state bad = rich_state();
  bad.f32["ids"] = {{1}, {1.0f}};  // also an I64 tensor's name: one file cannot hold both
  check_throws_with<invalid_argument>([&] { save_checkpoint(f.ck, f.model, f.opt, bad); }, "tensor 'ids' was added twice");
  bad = rich_state();
  bad.f64["ref.logp"].shape = {3};
  check_throws_with<invalid_argument>([&] { save_checkpoint(f.ck, f.model, f.opt, bad); }, "tensor 'ref.logp' has shape [3]");
  bad = rich_state();
  bad.options = nlohmann::json::array();
  check_throws_with<invalid_argument>([&] { save_checkpoint(f.ck, f.model, f.opt, bad); }, "options must be a JSON object");
  BOOST_TEST((read_file(f.ck / "state.json") == before));
  // Something that is not a folder where the checkpoint should go.
  write_text(f.tmp.root / "file", "x");
  check_throws_with<io_error>([&] { save_checkpoint(f.tmp.root / "file", f.model, f.opt, rich_state()); }, "is not a folder is in the way");
  // An unwritable parent (a file where a folder should be).
  check_throws_with<io_error>([&] { save_checkpoint(f.tmp.root / "file" / "ck", f.model, f.opt, rich_state()); }, "cannot create the folder");
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(f.tmp.root)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  BOOST_TEST(names == (std::vector<std::string>{"ck", "file"}));  // no temporary folder left behind
}
