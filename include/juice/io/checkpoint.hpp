// juice/io/checkpoint.hpp
//
// Training checkpoints from which a run resumes exactly: the same parameters, optimizer moments,
// step count, random streams and round-cached tensors, bit for bit, so that a run killed and
// resumed ends where an uninterrupted one does. A checkpoint is a folder:
//   model.safetensors + config.json  the model in HF GPT-2 layout (io/hf_gpt2.hpp), stored in the
//                                    model's own precision (F32 or F64) with its value head, so any
//                                    HF tool, and juice's --model, loads it like an HF folder;
//   optimizer.safetensors            the optimizer's moments (juice/optim/optimizer_state.hpp) in
//                                    the same precision; rule, scalar type, step count and
//                                    hyper-parameters in its __metadata__;
//   state.json                       counters (step, round, step in round), the rng states, and the
//                                    caller's run options (a free JSON object, so a resume can refuse
//                                    changed options: check_resume_options);
//   reference.safetensors            the caller's named tensors (the round's cached reference
//                                    log-probs in F64, generated token ids in I64, F32 extras),
//                                    stored exactly.
// save_checkpoint writes the folder as a whole (io/atomic_directory.hpp): a kill at any moment
// leaves the previous complete checkpoint or the new one. load_checkpoint reads every piece and
// checks it before it changes the model or the optimizer; each error names the file and the tensor
// or field.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "juice/backends/cpu/cpu.hpp"
#include "juice/core/rng.hpp"
#include "juice/io/atomic_directory.hpp"
#include "juice/io/atomic_file.hpp"
#include "juice/io/hf_gpt2.hpp"
#include "juice/io/json.hpp"
#include "juice/io/safetensors.hpp"
#include "juice/models/transformer.hpp"
#include "juice/optim/gradient_descent.hpp"
#include "juice/optim/optimizer_state.hpp"

namespace juice::io {

// A tensor on the host: its shape and its values in row-major order.
template <class T>
struct host_tensor {
  std::vector<std::size_t> shape;
  std::vector<T> values;
  friend bool operator==(const host_tensor&, const host_tensor&) = default;
};

// Everything of a training run a checkpoint stores besides the model and the optimizer.
struct training_state {
  std::uint64_t step = 0;                                // optimizer updates of the policy so far
  std::uint64_t round = 0;                               // outer round (IRFT/RFT), 0-based
  std::uint64_t step_in_round = 0;                       // updates taken within that round
  std::map<std::string, rng_state> rngs;                 // the run's random streams, by name
  nlohmann::json options = nlohmann::json::object();     // the run's options, as the caller sees them
  std::map<std::string, host_tensor<double>> f64;        // e.g. the round's reference log-probs
  std::map<std::string, host_tensor<std::int64_t>> i64;  // e.g. the round's generated token ids
  std::map<std::string, host_tensor<float>> f32;         // anything else in single precision
  // Tensor names are shared by the three maps (one file): a name may appear in only one of them.
};

// The format's identity in state.json.
inline constexpr const char* checkpoint_format = "juice-training-checkpoint";
inline constexpr int checkpoint_version = 1;

namespace detail {

[[noreturn]] inline void checkpoint_fail(const std::filesystem::path& file, const std::string& why) {
  throw format_error("juice::io::checkpoint: " + file.string() + ": " + why);
}

template <class T>
constexpr dtype dtype_of() {
  if constexpr (std::is_same_v<T, float>)
    return dtype::F32;
  else if constexpr (std::is_same_v<T, double>)
    return dtype::F64;
  else
    return dtype::I64;
}

// A double as JSON text that reads back to the same bits (nlohmann prints the shortest round trip).
inline std::string exact_number(double x) { return nlohmann::json(x).dump(); }

inline std::string state_json(const training_state& s) {
  nlohmann::json rngs = nlohmann::json::object();
  for (const auto& [name, r] : s.rngs) rngs[name] = {{"seed", r.seed}, {"draws", r.draws}};
  nlohmann::json j = {{"format", checkpoint_format},
                      {"version", checkpoint_version},
                      {"step", s.step},
                      {"round", s.round},
                      {"step_in_round", s.step_in_round},
                      {"rngs", rngs},
                      {"options", s.options}};
  return j.dump(2) + "\n";
}

inline std::uint64_t json_count(const nlohmann::json& j, const char* key, const std::filesystem::path& file,
                                const std::string& where = "") {
  auto it = j.find(key);
  if (it == j.end()) checkpoint_fail(file, "the field '" + where + key + "' is missing.");
  if (!it->is_number_unsigned())
    checkpoint_fail(file, "the field '" + where + key + "' must be a non-negative integer, not " + it->dump() + ".");
  return it->get<std::uint64_t>();
}

// Parses state.json into the counters, rngs and options of a training_state.
inline training_state parse_state_json(const std::filesystem::path& file) {
  const std::vector<std::uint8_t> bytes = read_file(file);
  nlohmann::json j;
  try {  // strict: a repeated key or a NUL byte is refused, as in every JSON file juice reads
    j = parse_json(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  } catch (const json_error& e) {
    checkpoint_fail(file, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object()) checkpoint_fail(file, "not a JSON object.");
  if (auto it = j.find("format"); it == j.end() || *it != checkpoint_format)
    checkpoint_fail(file, std::string("the field 'format' must be \"") + checkpoint_format + "\".");
  if (json_count(j, "version", file) != static_cast<std::uint64_t>(checkpoint_version))
    checkpoint_fail(file, "the field 'version' is " + j["version"].dump() + "; this juice reads version " +
                              std::to_string(checkpoint_version) + ".");
  training_state s;
  s.step = json_count(j, "step", file);
  s.round = json_count(j, "round", file);
  s.step_in_round = json_count(j, "step_in_round", file);
  auto rngs = j.find("rngs");
  if (rngs == j.end() || !rngs->is_object()) checkpoint_fail(file, "the field 'rngs' is missing or not an object.");
  for (auto it = rngs->begin(); it != rngs->end(); ++it) {
    const std::string where = "rngs." + it.key() + ".";
    if (!it->is_object()) checkpoint_fail(file, "the field 'rngs." + it.key() + "' is not an object.");
    s.rngs[it.key()] = rng_state{json_count(*it, "seed", file, where), json_count(*it, "draws", file, where)};
  }
  auto options = j.find("options");
  if (options == j.end() || !options->is_object()) checkpoint_fail(file, "the field 'options' is missing or not an object.");
  s.options = *options;
  return s;
}

// The optimizer state stored in optimizer.safetensors (values and metadata checked for form here;
// against the model by gradient_descent::check_state).
inline optimizer_state parse_optimizer_file(const safetensors_file& f, const std::filesystem::path& file) {
  optimizer_state s;
  auto meta = [&](const std::string& key) -> const std::string& {
    auto it = f.metadata().find(key);
    if (it == f.metadata().end()) checkpoint_fail(file, "the metadata field '" + key + "' is missing.");
    return it->second;
  };
  s.rule = meta("rule");
  s.scalar = meta("scalar");
  if (s.scalar != "float" && s.scalar != "double")
    checkpoint_fail(file, "the metadata field 'scalar' is '" + s.scalar + "', not 'float' or 'double'.");
  const std::string& steps = meta("steps");
  try {
    const nlohmann::json n = nlohmann::json::parse(steps);
    if (!n.is_number_unsigned()) throw std::invalid_argument("not a count");
    s.steps = static_cast<std::size_t>(n.get<std::uint64_t>());
  } catch (const std::exception&) {
    checkpoint_fail(file, "the metadata field 'steps' is '" + steps + "', not a non-negative integer.");
  }
  for (const auto& [key, value] : f.metadata()) {
    if (key.rfind("hyper.", 0) != 0) continue;
    try {
      const nlohmann::json n = nlohmann::json::parse(value);
      if (!n.is_number()) throw std::invalid_argument("not a number");
      s.hyper[key.substr(6)] = n.get<double>();
    } catch (const std::exception&) {
      checkpoint_fail(file, "the metadata field '" + key + "' is '" + value + "', not a number.");
    }
  }
  const dtype want = s.scalar == "float" ? dtype::F32 : dtype::F64;
  for (const tensor_info& t : f.tensors()) {
    if (t.type != want)
      checkpoint_fail(file, "tensor '" + t.name + "' is " + std::string(dtype_name(t.type)) + " but the optimizer's state is " +
                                s.scalar + " (" + std::string(dtype_name(want)) + ").");
    if (t.shape.size() != 1)
      checkpoint_fail(file, "tensor '" + t.name + "' has shape " + shape_text(t.shape) + "; optimizer state is one-dimensional.");
    s.tensors.push_back({t.name, f.read<double>(t.name)});
  }
  return s;
}

// The named tensors of reference.safetensors, sorted into the state's three maps by dtype.
inline void parse_reference_file(const safetensors_file& f, const std::filesystem::path& file, training_state& s) {
  for (const tensor_info& t : f.tensors()) {
    switch (t.type) {
      case dtype::F64:
        s.f64[t.name] = {t.shape, f.read<double>(t.name)};
        break;
      case dtype::F32:
        s.f32[t.name] = {t.shape, f.read<float>(t.name)};
        break;
      case dtype::I64:
        s.i64[t.name] = {t.shape, f.read<std::int64_t>(t.name)};
        break;
      default:
        checkpoint_fail(file, "tensor '" + t.name + "' is " + std::string(dtype_name(t.type)) +
                                  "; a checkpoint's tensors are F64, F32 or I64.");
    }
  }
}

}  // namespace detail

// Writes the checkpoint folder `dir` (see the header comment) for `model`, `optimizer` (which must
// be the model's: it exports the model's moments) and `state`, replacing any previous checkpoint
// there as a whole. Deterministic: the same parameters, state and options give the same bytes.
template <class T, class Rule>
void save_checkpoint(const std::filesystem::path& dir, transformer<cpu, T>& model, const gradient_descent<Rule>& optimizer,
                     const training_state& state) {
  // Everything is serialised in memory first, so a refusal (a misshapen tensor, a name used twice)
  // leaves the previous checkpoint untouched.
  hf_export_options model_options;
  model_options.type = detail::dtype_of<T>();
  model_options.value_head = true;
  const std::vector<std::uint8_t> model_bytes = hf_gpt2_tensors(model, model_options).bytes();
  const std::string config = hf_gpt2_config_json(model.config());

  const optimizer_state o = optimizer.export_state(model);
  safetensors_writer ow;
  ow.set_metadata("rule", o.rule);
  ow.set_metadata("scalar", o.scalar);
  ow.set_metadata("steps", std::to_string(o.steps));
  for (const auto& [key, value] : o.hyper) ow.set_metadata("hyper." + key, detail::exact_number(value));
  for (const auto& t : o.tensors) ow.add(t.name, {t.values.size()}, std::span<const double>(t.values), detail::dtype_of<T>());
  const std::vector<std::uint8_t> optimizer_bytes = ow.bytes();

  safetensors_writer rw;
  for (const auto& [name, t] : state.f64) rw.add(name, t.shape, std::span<const double>(t.values), dtype::F64);
  for (const auto& [name, t] : state.f32) rw.add(name, t.shape, std::span<const float>(t.values), dtype::F32);
  for (const auto& [name, t] : state.i64) rw.add(name, t.shape, std::span<const std::int64_t>(t.values));
  const std::vector<std::uint8_t> reference_bytes = rw.bytes();
  if (!state.options.is_object())
    throw invalid_argument("juice::io::save_checkpoint: training_state::options must be a JSON object, not " +
                           std::string(state.options.type_name()) + ".");
  const std::string state_text = detail::state_json(state);

  write_directory_atomically(dir, [&](const std::filesystem::path& tmp) {
    write_file_synced(tmp / "model.safetensors", model_bytes);
    write_file_synced(tmp / "config.json", config);
    write_file_synced(tmp / "optimizer.safetensors", optimizer_bytes);
    write_file_synced(tmp / "reference.safetensors", reference_bytes);
    write_file_synced(tmp / "state.json", state_text);
  });
}

// Reads the checkpoint folder `dir` into `model` and `optimizer` (freshly constructed ones of the
// shape the checkpoint was saved from) and returns the rest of the state. Every file is read and
// checked first (its presence, form, tensor names, shapes and dtypes; the model's precision must be
// the one it was saved in); on any error nothing has been changed and a juice::io::format_error or
// io_error (a missing file) names the file and the tensor or field. Leftovers of an interrupted save
// are ignored (io/atomic_directory.hpp); the next save removes them.
template <class T, class Rule>
training_state load_checkpoint(const std::filesystem::path& dir, transformer<cpu, T>& model, gradient_descent<Rule>& optimizer) {
  namespace fs = std::filesystem;
  const auto found = resolve_directory(dir);
  if (!found) throw io_error("juice::io::load_checkpoint: there is no checkpoint at " + dir.string() + " (no such folder).");
  const fs::path& d = *found;
  auto need = [&](const char* name) {
    fs::path p = d / name;
    std::error_code ec;
    if (!fs::is_regular_file(p, ec))
      throw io_error("juice::io::load_checkpoint: " + p.string() + " is missing; " + d.string() + " is not a complete checkpoint.");
    return p;
  };

  const fs::path state_file = need("state.json"), config_file = need("config.json"), model_file = need("model.safetensors"),
                 optimizer_file = need("optimizer.safetensors"), reference_file = need("reference.safetensors");
  training_state state = detail::parse_state_json(state_file);
  detail::parse_reference_file(safetensors_file::load(reference_file), reference_file, state);

  const transformer_config c = read_hf_gpt2_config(config_file), &m = model.config();
  auto differ = [&](const char* key, std::size_t file, std::size_t mine) {
    if (file != mine)
      detail::checkpoint_fail(config_file, std::string(key) + " is " + std::to_string(file) + " but the model has " +
                                               std::to_string(mine) + ".");
  };
  differ("n_layer", c.layers, m.layers);
  differ("n_head", c.heads, m.heads);
  differ("n_embd", c.channels, m.channels);
  differ("n_positions", c.context, m.context);
  differ("vocab_size", c.vocab, m.vocab);
  const safetensors_file model_tensors = safetensors_file::load(model_file);
  for (const tensor_info& t : model_tensors.tensors())
    if (t.type != detail::dtype_of<T>())
      detail::checkpoint_fail(model_file, "tensor '" + t.name + "' is " + std::string(dtype_name(t.type)) + " but the model is " +
                                              scalar_name<T>() + " (" + std::string(dtype_name(detail::dtype_of<T>())) +
                                              "); a checkpoint resumes in the precision it was saved in.");
  for (const auto& t : hf_value_head_layout(m))
    if (!model_tensors.find(t.name)) detail::checkpoint_fail(model_file, "tensor '" + t.name + "' (the value head) is missing.");

  const optimizer_state o = detail::parse_optimizer_file(safetensors_file::load(optimizer_file), optimizer_file);
  try {
    optimizer.check_state(model, o);
  } catch (const invalid_argument& e) {
    detail::checkpoint_fail(optimizer_file, e.what());
  }
  // All checked: import_hf_gpt2 checks its own file before it copies, and the optimizer's state
  // was just checked against this model.
  import_hf_gpt2(model, model_tensors);
  optimizer.import_state(model, o);
  return state;
}

// Refuses to resume with changed options: throws juice::invalid_argument naming the first option
// (top-level key) whose value differs between `saved` (the checkpoint's) and `now`, or that only
// one of them has. `source` names the checkpoint in the message.
inline void check_resume_options(const nlohmann::json& saved, const nlohmann::json& now, const std::string& source) {
  auto fail = [&](const std::string& why) {
    throw invalid_argument("juice::io::checkpoint: " + source + ": " + why + "; resume with the options the run started with.");
  };
  if (!saved.is_object() || !now.is_object()) fail("the options are not JSON objects");
  for (auto it = saved.begin(); it != saved.end(); ++it) {
    auto other = now.find(it.key());
    if (other == now.end()) fail("the option '" + it.key() + "' was " + it->dump() + " when the checkpoint was written but is not set now");
    if (*other != *it)
      fail("the option '" + it.key() + "' was " + it->dump() + " when the checkpoint was written but is " + other->dump() + " now");
  }
  for (auto it = now.begin(); it != now.end(); ++it)
    if (!saved.contains(it.key())) fail("the option '" + it.key() + "' is " + it->dump() + " now but was not set when the checkpoint was written");
}

}  // namespace juice::io
