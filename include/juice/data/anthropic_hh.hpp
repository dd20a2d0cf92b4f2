// juice/data/anthropic_hh.hpp
//
// Anthropic's HH-RLHF form of a preference pair: two whole dialogues, "chosen" and "rejected", that
// share every turn but the last assistant answer. The prompt is their shared prefix up to and
// including the last "\n\nAssistant:" inside it; the responses are what follows in each dialogue.
// Taking the last marker within the shared prefix (not the last marker of the chosen dialogue) keeps
// an answer that itself quotes "\n\nAssistant:" from being cut.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace juice::data {

inline constexpr std::string_view hh_assistant_marker = "\n\nAssistant:";

struct hh_split {
  std::string prompt, chosen, rejected;
};

// The split of an HH pair, or nothing if the dialogues share no prefix ending in the marker.
inline std::optional<hh_split> split_hh_dialogues(std::string_view chosen, std::string_view rejected) {
  const auto mismatch = std::mismatch(chosen.begin(), chosen.end(), rejected.begin(), rejected.end());
  const auto common = static_cast<std::size_t>(mismatch.first - chosen.begin());
  if (common < hh_assistant_marker.size()) return std::nullopt;
  const auto at = chosen.rfind(hh_assistant_marker, common - hh_assistant_marker.size());
  if (at == std::string_view::npos) return std::nullopt;
  const std::size_t end = at + hh_assistant_marker.size();
  return hh_split{std::string(chosen.substr(0, end)), std::string(chosen.substr(end)), std::string(rejected.substr(end))};
}

}  // namespace juice::data
