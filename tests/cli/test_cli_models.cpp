// The juice tool on inputs built here, which the files in tests/cli/data cannot hold: model folders
// with a NaN or an infinite weight, with a causal-mask buffer of a layer the model does not have,
// with a safetensors header that has bytes after its JSON, with a weight one in-range step overflows;
// and an empty --prompt, which a CMake test cannot pass. A refusal is a non-zero exit, nothing on stdout and one stderr line naming the tensor
// (or the byte).
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "juice/backends/cpu/cpu.hpp"
#include "juice/io/atomic_file.hpp"
#include "juice/io/hf_gpt2.hpp"
#include "juice/models/transformer.hpp"
#include "scratch_dir.hpp"

using namespace juice;
namespace fs = std::filesystem;

namespace {

using model = transformer<cpu, float>;

const transformer_config tiny{1, 2, 16, 32, 257};

struct scratch : test::scratch_dir {
  scratch() : scratch_dir("juice-test-cli-models") {}
};

struct outcome {
  int rc = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs `juice <args>` through the shell (args quoted by the caller).
outcome juice_run(const scratch& s, const std::string& args) {
  const fs::path o = s.dir / "stdout", e = s.dir / "stderr";
  const std::string cmd = std::string(JUICE_EXE) + " " + args + " >" + o.string() + " 2>" + e.string();
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(o), slurp(e)};
}

void expect_refusal(const outcome& r, const std::string& part) {
  BOOST_TEST_INFO("stderr: " << r.err);
  BOOST_CHECK_NE(r.rc, 0);
  BOOST_CHECK(r.out.empty());
  BOOST_CHECK(!r.err.empty() && r.err.find('\n') == r.err.size() - 1);  // one line
  BOOST_CHECK_MESSAGE(r.err.find(part) != std::string::npos, "'" << part << "' not in: " << r.err);
}

void write_demos(const scratch& s) { std::ofstream(s.dir / "demos.jsonl") << "{\"prompt\": \"ab=\", \"response\": \"AB\"}\n"; }

std::string eval_args(const scratch& s, const fs::path& m) {
  return "eval --model " + m.string() + " --demos " + (s.dir / "demos.jsonl").string();
}

}  // namespace

BOOST_AUTO_TEST_CASE(a_model_with_a_non_finite_weight_is_refused_naming_the_tensor) {
  scratch s;
  write_demos(s);
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
    model m(tiny, 3);
    io::detail::hf_parameter_spans(m).at("h.0.ln_2.bias")[5] = bad;
    io::export_hf_gpt2(m, s.dir / "m");
    expect_refusal(juice_run(s, eval_args(s, s.dir / "m")),
                   (s.dir / "m" / "model.safetensors").string() + ": tensor 'h.0.ln_2.bias' holds " + (std::isnan(bad) ? "NaN" : "an infinity") +
                       " at element 5; juice refuses non-finite weights.");
    fs::remove_all(s.dir / "m");
  }
}

BOOST_AUTO_TEST_CASE(a_mask_buffer_of_a_layer_the_model_lacks_is_refused) {
  scratch s;
  write_demos(s);
  const model m(tiny, 3);
  io::safetensors_writer w = io::hf_gpt2_tensors(m);
  w.add("h.0.attn.bias", {1, 1, tiny.context, tiny.context}, std::span<const float>(std::vector<float>(tiny.context * tiny.context, 1.0F)));
  fs::create_directories(s.dir / "ok");
  w.write(s.dir / "ok" / "model.safetensors");
  io::write_file_atomically(s.dir / "ok" / "config.json", io::hf_gpt2_config_json(tiny));
  BOOST_CHECK_EQUAL(juice_run(s, eval_args(s, s.dir / "ok")).rc, 0);  // layer 0's buffer: ignored, as HF saves it

  w.add("h.99.attn.bias", {1, 1, tiny.context, tiny.context}, std::span<const float>(std::vector<float>(tiny.context * tiny.context, 1.0F)));
  fs::create_directories(s.dir / "stray");
  w.write(s.dir / "stray" / "model.safetensors");
  io::write_file_atomically(s.dir / "stray" / "config.json", io::hf_gpt2_config_json(tiny));
  expect_refusal(juice_run(s, eval_args(s, s.dir / "stray")), "tensor 'h.99.attn.bias' is not part of a GPT-2 with n_layer = 1");
}

// The header of a file juice wrote, with "\0garbage" put after its JSON (the header length grown to
// match): the reference implementation refuses it, and so must juice.
BOOST_AUTO_TEST_CASE(a_safetensors_header_with_bytes_after_its_json_is_refused) {
  scratch s;
  write_demos(s);
  const model m(tiny, 3);
  io::export_hf_gpt2(m, s.dir / "m");
  const std::vector<std::uint8_t> b = io::read_file(s.dir / "m" / "model.safetensors");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | b[static_cast<std::size_t>(i)];
  std::string header(b.begin() + 8, b.begin() + 8 + static_cast<std::ptrdiff_t>(n));
  header.erase(header.find_last_not_of(' ') + 1);  // the writer's padding
  const std::size_t json_end = header.size();
  header += std::string("\0garbage", 8);
  std::vector<std::uint8_t> out(8);
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(header.size() >> (8 * i));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), b.begin() + 8 + static_cast<std::ptrdiff_t>(n), b.end());
  io::write_file_atomically(s.dir / "m" / "model.safetensors", out);
  expect_refusal(juice_run(s, eval_args(s, s.dir / "m")),
                 "model.safetensors: the header is not valid JSON: a NUL byte at column " + std::to_string(json_end + 1));
}

// --bos is what makes an empty prompt usable (its help says so): the prompt is the start token alone.
BOOST_AUTO_TEST_CASE(generate_takes_an_empty_prompt_with_bos) {
  scratch s;
  const std::string model_json = (s.dir / "tiny.json").string();
  std::ofstream(model_json) << R"({"n_layer": 1, "n_head": 2, "n_embd": 16, "n_positions": 32, "vocab_size": 257})";
  const outcome ok = juice_run(s, "generate --model " + model_json + " --prompt '' --bos --max-new-tokens 3 --temperature 0");
  BOOST_TEST_INFO("stderr: " << ok.err);
  BOOST_CHECK_EQUAL(ok.rc, 0);
  BOOST_CHECK(!ok.out.empty() && ok.out.back() == '\n');
  expect_refusal(juice_run(s, "generate --model " + model_json + " --prompt ''"), "--prompt: the prompt is empty");
}

// A run whose parameters become infinite is refused before final/ is written, with flags inside
// their ranges: the model's last position embedding (a position the one short demonstration never
// reaches, so the loss and the gradient stay finite) holds 3e38, and one step of AdamW's decoupled
// decay with --lr 10 --weight-decay 10 multiplies it by 1 - 100, past the largest float.
BOOST_AUTO_TEST_CASE(a_run_whose_parameters_overflow_writes_no_final) {
  scratch s;
  write_demos(s);
  model m(tiny, 3);
  auto wpe = io::detail::hf_parameter_spans(m).at("wpe");
  std::fill(wpe.end() - static_cast<std::ptrdiff_t>(tiny.channels), wpe.end(), 3e38F);
  io::export_hf_gpt2(m, s.dir / "m");
  const fs::path out = s.dir / "run";
  expect_refusal(juice_run(s, "train --model " + (s.dir / "m").string() + " --demos " + (s.dir / "demos.jsonl").string() +
                                  " --steps 1 --batch-size 1 --threads 1 --quiet --lr 10 --weight-decay 10 --out " + out.string()),
                 "juice train: after step 1: the parameter 'wpe' is infinite at element " +
                     std::to_string((tiny.context - 1) * tiny.channels) + "; final/ is not written");
  BOOST_CHECK(!fs::exists(out / "final"));
}
