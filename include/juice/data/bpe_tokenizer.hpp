// juice/data/bpe_tokenizer.hpp
//
// GPT-2's byte-level BPE tokenizer (Radford et al. 2019; the encoder OpenAI released with GPT-2).
// Text is cut into pieces by the GPT-2 pattern (data/pretokenizer.hpp); each piece, as bytes, starts
// as one token per byte and is merged pairwise, always merging the adjacent pair of lowest rank
// (leftmost first on ties), until no adjacent pair has a rank. Two vocabulary forms are read:
//   - a tiktoken rank file (one "base64(token bytes) rank" per line; rank = id), where a pair's rank
//     is the rank of its concatenation, as tiktoken encodes;
//   - HF's vocab.json (token text -> id, bytes spelled through data/byte_unicode.hpp) + merges.txt
//     (one "left right" pair per line, the line order being the rank), as HF's GPT2Tokenizer encodes.
// Special tokens (by default "<|endoftext|>", id 50256 for GPT-2) always decode to their text; they
// are recognised inside input text only when bpe_options::recognise_special is set, so user data
// cannot smuggle in an end-of-sequence by default. Merging uses a heap over a linked list (n log n in
// the piece length, never quadratic), and per-piece results are cached, which makes encoding run at
// millions of bytes per second. The tokenizer is immutable apart from that cache (guarded by a mutex),
// so one instance may be shared by threads. bpe_options::normalization = nfc rewrites the text between
// recognised special tokens to Unicode NFC before it is cut (data/unicode_normalize.hpp), as
// tokenizer.json's NFC normalizer asks; decode then gives the NFC form of the text, not the text.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <istream>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "juice/concepts/tokenizer.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/error.hpp"
#include "juice/data/byte_unicode.hpp"
#include "juice/data/data_error.hpp"
#include "juice/data/pretokenizer.hpp"
#include "juice/data/unicode_normalize.hpp"

namespace juice {

struct bpe_options {
  // Encode occurrences of the special tokens' text in the input as their ids (HF's and tiktoken's
  // allowed_special="all"); off, such text is ordinary text.
  bool recognise_special = false;
  // The special tokens. A tiktoken file gets them appended after its ranks (GPT-2: 50256); in HF
  // form they must be entries of vocab.json.
  std::vector<std::string> special_tokens{"<|endoftext|>"};
  // The special token that eos() returns (none if empty or not among the special tokens).
  std::string eos_token = "<|endoftext|>";
  // Piece results kept by the cache before it starts over.
  std::size_t cache_entries = 1u << 16;
  // Applied to the text between recognised special tokens before it is cut into pieces (special
  // tokens themselves are matched on the text as given).
  unicode_normalization normalization = unicode_normalization::none;
};

namespace data::detail {

struct string_hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <class V>
using string_map = std::unordered_map<std::string, V, string_hash, std::equal_to<>>;

// Standard base64 (RFC 4648, with padding); nothing if `text` is not such.
inline std::optional<std::string> base64_decode(std::string_view text) {
  const auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (text.empty() || text.size() % 4) return std::nullopt;
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 4) {
    const bool last = i + 4 == text.size();
    const int pad = last ? (text[i + 3] == '=') + (text[i + 2] == '=' && text[i + 3] == '=') : 0;
    std::uint32_t bits = 0;
    for (std::size_t k = 0; k < 4; ++k) {
      const int v = k >= 4u - static_cast<std::size_t>(pad) ? 0 : value(text[i + k]);
      if (v < 0) return std::nullopt;
      bits = (bits << 6) | static_cast<std::uint32_t>(v);
    }
    out.push_back(static_cast<char>(bits >> 16));
    if (pad < 2) out.push_back(static_cast<char>((bits >> 8) & 0xFF));
    if (pad < 1) out.push_back(static_cast<char>(bits & 0xFF));
  }
  return out;
}

// Cached merge results per piece. Copies start empty (a cache is not part of a tokenizer's value).
class piece_cache {
public:
  piece_cache() = default;
  piece_cache(const piece_cache&) {}
  piece_cache& operator=(const piece_cache&) { return *this; }

  std::mutex mutex;
  string_map<std::pair<std::uint32_t, std::uint32_t>> index;  // piece -> (offset, count) in store
  std::vector<token_t> store;
};

}  // namespace data::detail

class bpe_tokenizer {
public:
  // From a tiktoken rank file (e.g. GPT-2's gpt2.tiktoken): ranks must be 0..n-1, each once.
  static bpe_tokenizer from_tiktoken(const std::string& path, bpe_options options = {}) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw data_error(path + ": cannot be opened.");
    return from_tiktoken(in, path, std::move(options));
  }
  static bpe_tokenizer from_tiktoken(std::istream& in, const std::string& name, bpe_options options = {}) {
    struct entry {
      std::size_t rank, line;
      std::string bytes;
    };
    std::vector<entry> entries;
    std::string line;
    for (std::size_t number = 1; std::getline(in, line); ++number) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      const auto space = line.find(' ');
      const auto where = data::detail::where(name, number);
      if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
        throw data_error(where + ": expected \"<base64 token> <rank>\".");
      auto bytes = data::detail::base64_decode(std::string_view(line).substr(0, space));
      if (!bytes) throw data_error(where + ": the token is not valid base64.");
      const std::string rank_text = line.substr(space + 1);
      if (rank_text.empty() || rank_text.size() > 9 || rank_text.find_first_not_of("0123456789") != std::string::npos)
        throw data_error(where + ": the rank \"" + rank_text + "\" is not a non-negative integer below 10^9.");
      entries.push_back(entry{static_cast<std::size_t>(std::stoul(rank_text)), number, std::move(*bytes)});
    }
    // Ranks are ids: they must be exactly 0..n-1 (checked without allocating by the largest rank).
    std::vector<std::size_t> line_of(entries.size(), 0);
    for (const auto& e : entries) {
      if (e.rank >= entries.size())
        throw data_error(data::detail::where(name, e.line) + ": rank " + std::to_string(e.rank) +
                         " is not below the number of tokens, " + std::to_string(entries.size()) +
                         " (ranks must be 0..n-1).");
      if (line_of[e.rank])
        throw data_error(data::detail::where(name, e.line) + ": rank " + std::to_string(e.rank) +
                         " is given again (first on line " + std::to_string(line_of[e.rank]) + ").");
      line_of[e.rank] = e.line;
    }
    std::vector<std::string> tokens(entries.size());
    for (auto& e : entries) tokens[e.rank] = std::move(e.bytes);
    bpe_tokenizer t(std::move(options), /*pair_merges=*/false);
    for (std::size_t id = 0; id < tokens.size(); ++id)
      if (!t.ranks_.emplace(tokens[id], static_cast<token_t>(id)).second)
        throw data_error(data::detail::where(name, line_of[id]) + ": the token repeats an earlier token.");
    t.tokens_ = std::move(tokens);
    for (const auto& special : t.options_.special_tokens) {
      t.specials_.emplace_back(special, static_cast<token_t>(t.tokens_.size()));
      t.tokens_.push_back(special);
    }
    t.finish(name);
    return t;
  }

  // From HF's vocab.json + merges.txt (GPT-2's as transformers saves it).
  static bpe_tokenizer from_hf(const std::string& vocab_path, const std::string& merges_path,
                               bpe_options options = {}) {
    std::ifstream vocab(vocab_path, std::ios::binary), merges(merges_path, std::ios::binary);
    if (!vocab) throw data_error(vocab_path + ": cannot be opened.");
    if (!merges) throw data_error(merges_path + ": cannot be opened.");
    return from_hf(vocab, vocab_path, merges, merges_path, std::move(options));
  }
  static bpe_tokenizer from_hf(std::istream& vocab, const std::string& vocab_name, std::istream& merges,
                               const std::string& merges_name, bpe_options options = {}) {
    nlohmann::json json;
    try {
      json = nlohmann::json::parse(vocab);
    } catch (const nlohmann::json::exception& e) {
      throw data_error(vocab_name + ": not valid JSON (" + e.what() + ").");
    }
    if (!json.is_object()) throw data_error(vocab_name + ": expected a JSON object mapping token to id.");
    bpe_tokenizer t(std::move(options), /*pair_merges=*/true);
    std::vector<std::optional<std::string>> tokens(json.size());
    for (const auto& [text, id] : json.items()) {
      if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() >= static_cast<std::int64_t>(json.size()))
        throw data_error(vocab_name + ": the id of token \"" + text + "\" is not an integer in [0, " +
                         std::to_string(json.size()) + ") (ids must be 0..n-1).");
      const auto i = id.get<std::size_t>();
      if (tokens[i]) throw data_error(vocab_name + ": id " + std::to_string(i) + " is given to two tokens.");
      const bool special = std::find(t.options_.special_tokens.begin(), t.options_.special_tokens.end(), text) !=
                           t.options_.special_tokens.end();
      auto bytes = special ? std::optional<std::string>(text) : data::gpt2_unicode_to_bytes(text);
      if (!bytes)
        throw data_error(vocab_name + ": token \"" + text + "\" has a character outside GPT-2's byte-to-unicode map.");
      if (special) t.specials_.emplace_back(text, static_cast<token_t>(i));
      else if (!t.ranks_.emplace(*bytes, static_cast<token_t>(i)).second)
        throw data_error(vocab_name + ": token \"" + text + "\" spells the same bytes as another token.");
      tokens[i] = std::move(bytes);
    }
    t.tokens_.reserve(tokens.size());
    // All set: ids are distinct and < size.
    for (auto& token : tokens) t.tokens_.push_back(std::move(*token));  // NOLINT(bugprone-unchecked-optional-access)

    std::string line;
    std::uint32_t priority = 0;
    for (std::size_t number = 1; std::getline(merges, line); ++number) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty() || (number == 1 && line.starts_with("#version"))) continue;
      const auto where = data::detail::where(merges_name, number);
      const auto space = line.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 == line.size() ||
          line.find(' ', space + 1) != std::string::npos)
        throw data_error(where + ": expected \"<left> <right>\".");
      const auto left = data::gpt2_unicode_to_bytes(std::string_view(line).substr(0, space));
      const auto right = data::gpt2_unicode_to_bytes(std::string_view(line).substr(space + 1));
      if (!left || !right) throw data_error(where + ": a character outside GPT-2's byte-to-unicode map.");
      const auto l = t.ranks_.find(*left), r = t.ranks_.find(*right), m = t.ranks_.find(*left + *right);
      if (l == t.ranks_.end() || r == t.ranks_.end())
        throw data_error(where + ": a side of the merge is not a token of " + vocab_name + ".");
      if (m == t.ranks_.end()) throw data_error(where + ": the merged token is not in " + vocab_name + ".");
      t.merges_.emplace(pair_key(l->second, r->second), merge{priority++, m->second});  // first line wins
    }
    t.finish(vocab_name);
    return t;
  }

  // From the parts of a byte-level BPE as HF's tokenizer.json holds them (data/tokenizer_json.hpp
  // reads that file): `vocab` maps token text spelled through GPT-2's byte-to-unicode map to its id,
  // `merges` are pairs of such texts in rank order, `added` are the added (special) tokens with their
  // ids, recognised by their text and decoded to it (they replace options.special_tokens), and
  // `pattern` is the pre-tokenisation regex. Ids, of vocab and added tokens together, must be 0..n-1,
  // each once (an added token may repeat its own vocab entry). `name` (the file) starts messages.
  struct byte_level_parts {
    std::vector<std::pair<std::string, std::int64_t>> vocab;
    std::vector<std::pair<std::string, std::string>> merges;
    std::vector<std::pair<std::string, std::int64_t>> added;
    std::string pattern{data::gpt2_pattern};
  };
  static bpe_tokenizer from_parts(const byte_level_parts& parts, bpe_options options, const std::string& name) {
    options.special_tokens.clear();
    for (const auto& [text, id] : parts.added) options.special_tokens.push_back(text);
    bpe_tokenizer t(std::move(options), /*pair_merges=*/true, parts.pattern);
    std::int64_t n = 0;
    for (const auto& [text, id] : parts.vocab) n = std::max(n, id + 1);
    for (const auto& [text, id] : parts.added) n = std::max(n, id + 1);
    if (n > std::int64_t{1} << 30) throw data_error(name + ": token id " + std::to_string(n - 1) + " is beyond 2^30.");
    std::vector<std::optional<std::string>> tokens(static_cast<std::size_t>(n));
    for (const auto& [text, id] : parts.added) {
      if (id < 0) throw data_error(name + ": added token \"" + text + "\" has the negative id " + std::to_string(id) + ".");
      auto& slot = tokens[static_cast<std::size_t>(id)];
      if (slot) throw data_error(name + ": id " + std::to_string(id) + " is given to two added tokens.");
      slot = text;
      t.specials_.emplace_back(text, static_cast<token_t>(id));
    }
    for (const auto& entry : parts.vocab) {
      const auto& [text, id] = entry;
      if (id < 0) throw data_error(name + ": the id of token \"" + text + "\" is negative.");
      const auto i = static_cast<std::size_t>(id);
      const bool added = std::any_of(parts.added.begin(), parts.added.end(), [&](const auto& a) { return a == entry; });
      if (added) continue;
      if (tokens[i]) throw data_error(name + ": id " + std::to_string(i) + " is given to two tokens.");
      auto bytes = data::gpt2_unicode_to_bytes(text);
      if (!bytes) throw data_error(name + ": token \"" + text + "\" has a character outside the byte-level map (not a byte-level BPE vocabulary).");
      if (!t.ranks_.emplace(*bytes, static_cast<token_t>(i)).second)
        throw data_error(name + ": token \"" + text + "\" spells the same bytes as another token.");
      tokens[i] = std::move(bytes);
    }
    t.tokens_.reserve(tokens.size());
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (!tokens[i]) throw data_error(name + ": no token has id " + std::to_string(i) + " (ids must be 0..n-1).");
      t.tokens_.push_back(std::move(*tokens[i]));  // NOLINT(bugprone-unchecked-optional-access): checked on the line above
    }
    std::uint32_t priority = 0;
    for (std::size_t k = 0; k < parts.merges.size(); ++k) {
      const auto where = name + ": merge " + std::to_string(k) + " (\"" + parts.merges[k].first + "\", \"" + parts.merges[k].second + "\")";
      const auto left = data::gpt2_unicode_to_bytes(parts.merges[k].first), right = data::gpt2_unicode_to_bytes(parts.merges[k].second);
      if (!left || !right) throw data_error(where + ": a character outside the byte-level map.");
      const auto l = t.ranks_.find(*left), r = t.ranks_.find(*right), m = t.ranks_.find(*left + *right);
      if (l == t.ranks_.end() || r == t.ranks_.end()) throw data_error(where + ": a side of the merge is not a token of the vocabulary.");
      if (m == t.ranks_.end()) throw data_error(where + ": the merged token is not in the vocabulary.");
      t.merges_.emplace(pair_key(l->second, r->second), merge{priority++, m->second});  // first wins
    }
    t.finish(name);
    return t;
  }

  [[nodiscard]] std::vector<token_t> encode(std::string_view text) const {
    std::vector<token_t> out;
    out.reserve(text.size() / 3 + 1);
    std::lock_guard lock(cache_.mutex);
    while (options_.recognise_special && !specials_.empty()) {
      std::size_t first = std::string_view::npos;
      const std::pair<std::string, token_t>* which = nullptr;
      for (const auto& special : specials_) {
        const auto at = text.find(special.first);
        if (at < first) first = at, which = &special;
      }
      if (!which) break;
      encode_ordinary(text.substr(0, first), out);
      out.push_back(which->second);
      text.remove_prefix(first + which->first.size());
    }
    encode_ordinary(text, out);
    return out;
  }

  [[nodiscard]] std::string decode(std::span<const token_t> ids) const {
    std::string text;
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] < 0 || static_cast<std::size_t>(ids[i]) >= tokens_.size())
        throw invalid_argument("juice::bpe_tokenizer::decode: token id " + std::to_string(ids[i]) + " at position " +
                               std::to_string(i) + " is out of range (vocabulary of " +
                               std::to_string(tokens_.size()) + ").");
      text += tokens_[static_cast<std::size_t>(ids[i])];
    }
    return text;
  }

  [[nodiscard]] std::size_t vocab_size() const { return tokens_.size(); }
  [[nodiscard]] std::optional<token_t> eos() const { return eos_; }
  // What encode applies to the text before it is cut (decode does not undo it).
  [[nodiscard]] unicode_normalization normalization() const { return options_.normalization; }
  // The bytes of token `id` (a special token's text for a special id).
  [[nodiscard]] const std::string& token_bytes(token_t id) const { return tokens_.at(static_cast<std::size_t>(id)); }

private:
  struct merge {
    std::uint32_t priority;
    token_t merged;
  };

  bpe_tokenizer(bpe_options options, bool pair_merges, std::string_view pattern = data::gpt2_pattern)
      : options_(std::move(options)), pair_merges_(pair_merges), pretokenizer_(pattern) {
    for (const auto& special : options_.special_tokens)
      if (special.empty()) throw invalid_argument("juice::bpe_tokenizer: a special token cannot be empty text.");
  }

  static std::uint64_t pair_key(token_t a, token_t b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
  }

  // Checks shared by both forms: every byte is a token; finds the EOS.
  void finish(const std::string& name) {
    for (unsigned b = 0; b < 256; ++b) {
      const auto it = ranks_.find(std::string(1, static_cast<char>(b)));
      if (it == ranks_.end())
        throw data_error(name + ": byte " + std::to_string(b) + " is not a token (a byte-level vocabulary has all 256).");
      byte_id_[b] = it->second;
    }
    for (const auto& [text, id] : specials_)
      if (text == options_.eos_token) eos_ = id;
  }

  std::optional<merge> merge_of(token_t a, token_t b, std::string& scratch) const {
    if (pair_merges_) {
      const auto it = merges_.find(pair_key(a, b));
      return it == merges_.end() ? std::nullopt : std::optional<merge>(it->second);
    }
    scratch.assign(tokens_[static_cast<std::size_t>(a)]);
    scratch += tokens_[static_cast<std::size_t>(b)];
    const auto it = ranks_.find(scratch);
    return it == ranks_.end() ? std::nullopt
                              : std::optional<merge>(merge{static_cast<std::uint32_t>(it->second), it->second});
  }

  void encode_ordinary(std::string_view text, std::vector<token_t>& out) const {
    std::optional<std::string> normal;
    if (options_.normalization == unicode_normalization::nfc) normal = data::nfc_if_changed(text);
    pretokenizer_.split(normal ? std::string_view(*normal) : text, [&](std::string_view piece) { encode_piece(piece, out); });
  }

  void encode_piece(std::string_view piece, std::vector<token_t>& out) const {
    if (piece.size() == 1) {
      out.push_back(byte_id_[static_cast<unsigned char>(piece[0])]);
      return;
    }
    constexpr std::size_t longest_cached = 256;  // long pieces rarely repeat: not worth the memory
    if (piece.size() <= longest_cached) {
      if (const auto it = cache_.index.find(piece); it != cache_.index.end()) {
        const auto [offset, count] = it->second;
        out.insert(out.end(), cache_.store.begin() + offset, cache_.store.begin() + offset + count);
        return;
      }
    }
    const std::size_t before = out.size();
    merge_piece(piece, out);
    if (piece.size() <= longest_cached) {
      if (cache_.index.size() >= options_.cache_entries) {
        cache_.index.clear();
        cache_.store.clear();
      }
      const auto offset = static_cast<std::uint32_t>(cache_.store.size());
      cache_.store.insert(cache_.store.end(), out.begin() + static_cast<std::ptrdiff_t>(before), out.end());
      cache_.index.emplace(std::string(piece), std::make_pair(offset, static_cast<std::uint32_t>(out.size() - before)));
    }
  }

  // Lowest-rank-first merging of one piece. Node i starts as byte i; a merge keeps the left node and
  // unlinks the right one, so a node's index stays the byte offset where its token starts, which
  // breaks ties between equal ranks leftmost-first. Heap entries are checked when popped: an entry
  // whose two nodes changed since it was pushed is stale (token ids only grow in length, so a node
  // never regains an id it had).
  void merge_piece(std::string_view piece, std::vector<token_t>& out) const {
    const std::size_t n = piece.size();
    struct node {
      token_t id;
      std::int32_t prev, next;
    };
    struct entry {
      std::uint32_t priority;
      std::int32_t left;
      token_t left_id, right_id, merged;
      bool operator>(const entry& o) const {
        return priority != o.priority ? priority > o.priority : left > o.left;
      }
    };
    std::vector<node> nodes(n);
    for (std::size_t i = 0; i < n; ++i)
      nodes[i] = node{byte_id_[static_cast<unsigned char>(piece[i])], static_cast<std::int32_t>(i) - 1,
                      i + 1 < n ? static_cast<std::int32_t>(i + 1) : -1};
    std::vector<entry> heap;
    std::string scratch;
    const auto push = [&](std::int32_t left) {
      if (left < 0) return;
      const std::int32_t right = nodes[static_cast<std::size_t>(left)].next;
      if (right < 0) return;
      const token_t a = nodes[static_cast<std::size_t>(left)].id, b = nodes[static_cast<std::size_t>(right)].id;
      if (const auto m = merge_of(a, b, scratch)) {
        heap.push_back(entry{m->priority, left, a, b, m->merged});
        std::push_heap(heap.begin(), heap.end(), std::greater<>{});
      }
    };
    for (std::size_t i = 0; i + 1 < n; ++i) push(static_cast<std::int32_t>(i));
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), std::greater<>{});
      const entry e = heap.back();
      heap.pop_back();
      node& left = nodes[static_cast<std::size_t>(e.left)];
      if (left.id != e.left_id || left.next < 0) continue;
      node& right = nodes[static_cast<std::size_t>(left.next)];
      if (right.id != e.right_id) continue;
      left.id = e.merged;
      left.next = right.next;
      if (right.next >= 0) nodes[static_cast<std::size_t>(right.next)].prev = e.left;
      right.id = -1;
      push(left.prev);
      push(e.left);
    }
    for (std::int32_t i = 0; i >= 0; i = nodes[static_cast<std::size_t>(i)].next) out.push_back(nodes[static_cast<std::size_t>(i)].id);
  }

  bpe_options options_;
  bool pair_merges_;                                 // HF form: merges by pair; tiktoken form: by rank
  std::vector<std::string> tokens_;                  // id -> bytes (special tokens: their text)
  data::detail::string_map<token_t> ranks_;          // mergeable token bytes -> id
  std::unordered_map<std::uint64_t, merge> merges_;  // HF form: (left id, right id) -> merge
  std::vector<std::pair<std::string, token_t>> specials_;
  std::array<token_t, 256> byte_id_{};
  std::optional<token_t> eos_;
  data::pretokenizer pretokenizer_;
  mutable data::detail::piece_cache cache_;
};

static_assert(Tokenizer<bpe_tokenizer>);

}  // namespace juice
