// juice/io/hf_safetensors_folder.hpp
//
// The weights of a Hugging Face model folder: `model.safetensors`, or, when transformers sharded
// them (save_pretrained with max_shard_size), `model.safetensors.index.json` whose "weight_map" names
// the shard (`model-00001-of-00003.safetensors`, ...) holding each tensor. Either way the result is
// one set of named tensors, each remembered with the file it came from so that every message names
// both. A shard name that is not a plain file name of the folder, a tensor the index places in a
// shard that lacks it, a tensor stored in a shard the index does not list it in, and a tensor
// stored twice are refused: an index and its shards that disagree say different things to
// different readers.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "juice/io/atomic_file.hpp"
#include "juice/io/json.hpp"
#include "juice/io/safetensors.hpp"

namespace juice::io {

class hf_safetensors_folder {
public:
  // Reads `dir`/model.safetensors if it exists, else `dir`/model.safetensors.index.json and its shards.
  static hf_safetensors_folder load(const std::filesystem::path& dir) {
    hf_safetensors_folder f;
    if (std::filesystem::exists(dir / "model.safetensors")) {
      f.files_.push_back(safetensors_file::load(dir / "model.safetensors"));
      for (const tensor_info& t : f.files_[0].tensors()) f.where_.emplace(t.name, 0);
      return f;
    }
    const std::filesystem::path index = dir / "model.safetensors.index.json";
    if (!std::filesystem::exists(index))
      throw io_error("juice::io::hf_model: " + dir.string() + " holds neither model.safetensors nor model.safetensors.index.json.");
    auto fail = [&](const std::string& why) -> void { throw format_error("juice::io::hf_model: " + index.string() + ": " + why); };
    const std::vector<std::uint8_t> bytes = read_file(index);
    nlohmann::json j;
    try {
      j = parse_json(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    } catch (const json_error& e) {
      fail(std::string("not valid JSON: ") + e.what());
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      fail("expected a JSON object with an object \"weight_map\" (tensor name -> shard file).");
    std::map<std::string, std::size_t> shard_index;  // shard file name -> position in files_
    std::map<std::string, std::string> listed;       // tensor -> shard, as the index says
    for (const auto& [tensor, shard] : j["weight_map"].items()) {
      if (!shard.is_string()) fail("the shard of tensor '" + tensor + "' is not a file name: " + shard.dump() + ".");
      const std::string name = shard.get<std::string>();
      if (name.empty() || name.find('/') != std::string::npos || name.find('\\') != std::string::npos || name == "." || name == "..")
        fail("the shard \"" + name + "\" of tensor '" + tensor + "' is not a file name of the folder.");
      listed[tensor] = name;
      if (!shard_index.count(name)) {
        shard_index.emplace(name, f.files_.size());
        f.files_.push_back(safetensors_file::load(dir / name));
      }
    }
    for (std::size_t i = 0; i < f.files_.size(); ++i)
      for (const tensor_info& t : f.files_[i].tensors()) {
        auto it = listed.find(t.name);
        if (it == listed.end() || shard_index.at(it->second) != i)
          throw format_error("juice::io::hf_model: " + f.files_[i].source() + ": tensor '" + t.name + "' is stored here but " +
                             (it == listed.end() ? std::string("the index does not list it")
                                                 : "the index places it in " + it->second) +
                             " (" + index.string() + ").");
        f.where_.emplace(t.name, i);
      }
    for (const auto& [tensor, shard] : listed)
      if (!f.where_.count(tensor)) fail("tensor '" + tensor + "' is listed in shard " + shard + ", which does not hold it.");
    return f;
  }

  // Every tensor's name with the file that holds it.
  [[nodiscard]] const std::map<std::string, std::size_t>& tensors() const { return where_; }
  // The tensor called `name`, or null.
  [[nodiscard]] const tensor_info* find(const std::string& name) const {
    auto it = where_.find(name);
    return it == where_.end() ? nullptr : files_[it->second].find(name);
  }
  // The file that holds tensor `name` (which must exist).
  [[nodiscard]] const safetensors_file& file_of(const std::string& name) const { return files_[where_.at(name)]; }
  // Where tensor `name` lies, for messages: its file's path.
  [[nodiscard]] const std::string& source_of(const std::string& name) const { return file_of(name).source(); }
  // The files, in the order they were read.
  [[nodiscard]] const std::vector<safetensors_file>& files() const { return files_; }

private:
  std::vector<safetensors_file> files_;
  std::map<std::string, std::size_t> where_;  // tensor -> index in files_
};

}  // namespace juice::io
