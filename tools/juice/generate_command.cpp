// `juice generate`: responses sampled from a model (KV-cache decoding) for one prompt given on the
// command line, or for every {"prompt": ...} line of a JSONL file, printed as JSONL
// {"prompt", "response"} (a demonstration file, ready for `juice train` or `juice eval`).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "data_loading.hpp"
#include "juice/core/rng.hpp"
#include "model_loading.hpp"

namespace juice::cli {

namespace {

struct generate_args {
  std::string model, prompt, prompts;
  bool has_prompt = false, has_prompts = false;  // given on the command line (an empty --prompt is a prompt)
  data_args data;
  sampling_args gen{};
  std::size_t batch_size = 16;
  std::uint64_t seed = 0;
  int threads = 0;
};

struct prompt_line {
  std::string text;
  std::vector<token_t> ids;
};

std::vector<prompt_line> read_prompts(const generate_args& a, const any_tokenizer& tok, const batch_options& bo,
                                      const transformer_config& c) {
  std::vector<prompt_line> out;
  std::vector<std::size_t> lines;
  std::string name = "--prompt";
  if (a.has_prompts) {
    name = a.prompts;
    auto in = data::detail::open(a.prompts);
    data::detail::for_each_jsonl_object(in, a.prompts, [&](const nlohmann::json& j, const std::string& here, std::size_t line) {
      out.push_back({data::detail::string_field(j, "prompt", here, true), {}});
      lines.push_back(line);
    });
    if (out.empty()) throw data_error(a.prompts + ": holds no records.");
  } else {
    out.push_back({a.prompt, {}});
    lines.push_back(0);
  }
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::string here = a.has_prompts ? data::detail::where(name, lines[i]) : std::string("--prompt");
    auto& p = out[i];
    p.ids = data::detail::encode_prompt(tok, p.text, bo);
    if (p.ids.empty()) throw data_error(here + ": the prompt is empty; the first token needs one to follow (use --bos).");
    if (bo.truncate_prompt)  // keep the newest tokens: room for --max-new-tokens, and at least one prompt token (after the start token)
      data::detail::fit(p.ids, std::min(a.gen.max_new_tokens, c.context - (bo.bos ? 2 : 1)), bo, here);
    if (p.ids.size() >= c.context)
      throw data_error(here + ": the prompt (" + std::to_string(p.ids.size()) + " tokens) leaves no room in the context of " +
                       std::to_string(c.context) + " tokens.");
    detail::check_ids(p.ids, c, name, lines[i]);
  }
  return out;
}

void run_generate(const generate_args& a) {
  if (a.has_prompt == a.has_prompts) throw invalid_argument("juice generate: give exactly one of --prompt and --prompts.");
  model_type m = load_model(a.model, a.seed, "--model");
  apply_threads(a.threads, step_flops(m.config(), a.batch_size) / 3);  // forward passes only
  const any_tokenizer tok = load_tokenizer_option(a.data);
  const batch_options bo = make_batch_options(a.data, tok, m.config());
  const auto prompts = read_prompts(a, tok, bo, m.config());
  m.generation().eos = tok.eos() ? *tok.eos() : -1;
  m.generation().sampling = a.gen.sampling;
  rng g(a.seed);
  for (std::size_t first = 0; first < prompts.size(); first += a.batch_size) {
    const std::size_t n = std::min(a.batch_size, prompts.size() - first);
    std::size_t width = 0;
    for (std::size_t i = 0; i < n; ++i) width = std::max(width, prompts[first + i].ids.size());
    sequence_batch b(n, width);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& ids = prompts[first + i].ids;
      std::copy(ids.begin(), ids.end(), &b.tokens(i, 0));
      b.prompt_length(i) = b.length(i) = static_cast<std::int32_t>(ids.size());
    }
    m.generation().max_new_tokens = a.gen.max_new_tokens;  // the model caps each row at its own prompt's room
    const sequence_batch y = m.sample(b, 1, g);
    for (std::size_t i = 0; i < n; ++i) {
      std::vector<token_t> ids(&y.tokens(i, static_cast<std::size_t>(y.prompt_length(i))), &y.tokens(i, 0) + y.length(i));
      if (!ids.empty() && tok.eos() && ids.back() == *tok.eos()) ids.pop_back();
      const std::string text = tok.decode(ids);
      if (!a.has_prompts) fmt::print("{}\n", text);
      else fmt::print("{}\n", nlohmann::json{{"prompt", prompts[first + i].text}, {"response", text}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
  }
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto a = std::make_shared<generate_args>();
  auto* cmd = app.add_subcommand("generate", "Sample responses from a model");
  cmd->add_option("--model", a->model, "model folder (HF GPT-2 layout) or config")->required();
  auto* prompt = cmd->add_option("--prompt", a->prompt, "one prompt (may be empty with --bos); prints the response");
  auto* prompts = cmd->add_option("--prompts", a->prompts, "JSONL file of {\"prompt\": ...}; prints JSONL {\"prompt\", \"response\"}");
  add_sampling_options(cmd, a->gen, "--max-new-tokens", "most tokens generated per response");
  cmd->add_option("--batch-size", a->batch_size, "prompts decoded at once")->check(CLI::Range(1.0, 1e6))->capture_default_str();
  add_data_options(cmd, a->data, false);
  cmd->add_option("--seed", a->seed, "random seed of the sampler")->check(seed_range())->capture_default_str();
  add_threads_option(cmd, a->threads);
  cmd->callback([a, prompt, prompts] {
    a->has_prompt = prompt->count() > 0;
    a->has_prompts = prompts->count() > 0;
    run_generate(*a);
  });
}

}  // namespace juice::cli
