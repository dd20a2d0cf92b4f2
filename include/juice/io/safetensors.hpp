// juice/io/safetensors.hpp
//
// Reading and writing the safetensors format (huggingface/safetensors): an 8-byte little-endian
// header length N, N bytes of UTF-8 JSON mapping tensor names to {dtype, shape, data_offsets} (plus
// an optional "__metadata__" string-to-string map), then the data buffer. The reader applies the
// reference implementation's checks, so a file it accepts is one the reference accepts too: N at
// most 100,000,000; the header valid UTF-8 and a JSON object with no key repeated and nothing but
// whitespace after it (the writer pads with spaces; a NUL byte and what follows it are refused); every dtype known; shapes of
// non-negative integers whose element counts and byte sizes are computed with overflow checks; the
// tensors' [begin, end) byte ranges, taken in offset order, contiguous from 0 with no overlap and no
// hole, each exactly as long as its shape and dtype require, together covering the whole buffer; and
// the file exactly 8 + N + buffer bytes long. Values of F32, F64, F16 and BF16 tensors convert to
// float or double (widening exactly; F64 to float rounds to nearest); I64 tensors read into
// std::int64_t exactly. The writer emits F32 or F64 (F16 and BF16 on request, rounded to nearest
// even) from floating-point values and I64 from 64-bit integers, tensors in name order, the header padded with
// spaces to a multiple of 8 bytes, and nothing that depends on time or memory addresses: the same
// tensors always give the same bytes. Every error names the file (or "<memory>"), the tensor when
// there is one, and the reason.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "juice/io/atomic_file.hpp"
#include "juice/io/float16.hpp"
#include "juice/io/json.hpp"

namespace juice::io {

// Element types of the format (byte-sized ones; the reference's sub-byte F4/F6 types are refused).
enum class dtype { BOOL,
                   U8,
                   I8,
                   F8_E5M2,
                   F8_E4M3,
                   F8_E8M0,
                   I16,
                   U16,
                   F16,
                   BF16,
                   I32,
                   U32,
                   F32,
                   F64,
                   I64,
                   U64,
                   C64 };

namespace detail {
struct dtype_entry {
  dtype type;
  std::string_view name;
  std::size_t bytes;
};
inline constexpr dtype_entry dtype_table[] = {
    {dtype::BOOL, "BOOL", 1},
    {dtype::U8, "U8", 1},
    {dtype::I8, "I8", 1},
    {dtype::F8_E5M2, "F8_E5M2", 1},
    {dtype::F8_E4M3, "F8_E4M3", 1},
    {dtype::F8_E8M0, "F8_E8M0", 1},
    {dtype::I16, "I16", 2},
    {dtype::U16, "U16", 2},
    {dtype::F16, "F16", 2},
    {dtype::BF16, "BF16", 2},
    {dtype::I32, "I32", 4},
    {dtype::U32, "U32", 4},
    {dtype::F32, "F32", 4},
    {dtype::F64, "F64", 8},
    {dtype::I64, "I64", 8},
    {dtype::U64, "U64", 8},
    {dtype::C64, "C64", 8},
};
}  // namespace detail

// The format's name of a dtype ("F32").
inline std::string_view dtype_name(dtype t) {
  for (const auto& e : detail::dtype_table)
    if (e.type == t) return e.name;
  return "?";
}
// Bytes per element.
inline std::size_t dtype_size(dtype t) {
  for (const auto& e : detail::dtype_table)
    if (e.type == t) return e.bytes;
  return 0;
}
// The dtype named `name`, if the format knows it.
inline std::optional<dtype> dtype_from_name(std::string_view name) {
  for (const auto& e : detail::dtype_table)
    if (e.name == name) return e.type;
  return std::nullopt;
}

// Where a tensor lies in a parsed file.
struct tensor_info {
  std::string name;
  io::dtype type = dtype::F32;
  std::vector<std::size_t> shape;
  std::size_t begin = 0, end = 0;  // byte range in the data buffer
  [[nodiscard]] std::size_t elements() const {
    std::size_t n = 1;
    for (std::size_t d : shape) n *= d;  // checked for overflow when the file was parsed
    return n;
  }
};

// "[2, 3]"
inline std::string shape_text(std::span<const std::size_t> shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

namespace detail {

inline constexpr std::uint64_t max_header_bytes = 100'000'000;  // the reference's limit

inline std::uint64_t load_u64_le(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

// Offset of the first byte that breaks UTF-8 (overlong forms, surrogates and values above
// U+10FFFF included), or npos.
inline std::size_t utf8_error(std::span<const std::uint8_t> s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const std::uint8_t c = s[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    std::uint32_t cp = 0, min = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1Fu;
      min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0Fu;
      min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07u;
      min = 0x10000;
    } else return i;
    for (std::size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size() || (s[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (s[i + k] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n + 1;
  }
  return std::string_view::npos;
}

// a * b, or nullopt on overflow.
inline std::optional<std::size_t> mul(std::size_t a, std::size_t b) {
  if (a != 0 && b > std::numeric_limits<std::size_t>::max() / a) return std::nullopt;
  return a * b;
}

}  // namespace detail

// A parsed, validated safetensors file held in memory.
class safetensors_file {
public:
  // Parses `bytes` (the whole file); `source` names it in messages.
  explicit safetensors_file(std::vector<std::uint8_t> bytes, std::string source = "<memory>")
      : bytes_(std::move(bytes)), source_(std::move(source)) {
    parse();
  }
  safetensors_file(std::span<const std::uint8_t> bytes, std::string source = "<memory>")
      : safetensors_file(std::vector<std::uint8_t>(bytes.begin(), bytes.end()), std::move(source)) {}

  // Reads and parses the file at `path`.
  static safetensors_file load(const std::filesystem::path& path) { return safetensors_file(read_file(path), path.string()); }

  // Where the bytes came from (a path or "<memory>").
  [[nodiscard]] const std::string& source() const { return source_; }
  // The tensors in data-offset order.
  [[nodiscard]] const std::vector<tensor_info>& tensors() const { return tensors_; }
  // The "__metadata__" map (empty if the file has none).
  [[nodiscard]] const std::map<std::string, std::string>& metadata() const { return metadata_; }
  // The tensor called `name`, or null.
  [[nodiscard]] const tensor_info* find(std::string_view name) const {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }
  // The tensor called `name`; throws juice::io::format_error naming the file if there is none.
  [[nodiscard]] const tensor_info& at(std::string_view name) const {
    if (const tensor_info* t = find(name)) return *t;
    throw format_error("juice::io::safetensors: " + source_ + ": no tensor named '" + std::string(name) + "'.");
  }
  // The tensor's raw little-endian bytes.
  [[nodiscard]] std::span<const std::uint8_t> raw(const tensor_info& t) const {
    return std::span<const std::uint8_t>(bytes_).subspan(data_start_ + t.begin, t.end - t.begin);
  }

  // The values of a floating-point tensor (F32, F64, F16, BF16) converted to T (float or double),
  // written into `out`, which must have exactly the tensor's element count.
  template <class T>
  void read_into(const tensor_info& t, std::span<T> out) const {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "juice::io::safetensors reads into float or double");
    if (out.size() != t.elements())
      throw format_error(where(t.name) + "holds " + std::to_string(t.elements()) + " elements (shape " + shape_text(t.shape) +
                         ") but " + std::to_string(out.size()) + " were asked for.");
    const std::uint8_t* p = bytes_.data() + data_start_ + t.begin;
    const std::size_t n = out.size();
    switch (t.type) {
      case dtype::F32:
        for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(std::bit_cast<float>(load<std::uint32_t>(p + 4 * i)));
        break;
      case dtype::F64:
        for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(std::bit_cast<double>(load<std::uint64_t>(p + 8 * i)));
        break;
      case dtype::F16:
        for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(f16_to_float(load<std::uint16_t>(p + 2 * i)));
        break;
      case dtype::BF16:
        for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<T>(bf16_to_float(load<std::uint16_t>(p + 2 * i)));
        break;
      default:
        throw format_error(where(t.name) + "has dtype " + std::string(dtype_name(t.type)) +
                           "; juice reads only the floating-point dtypes F32, F64, F16 and BF16.");
    }
  }
  // The values of an I64 tensor (token ids and counts, stored exactly), written into `out`.
  void read_into(const tensor_info& t, std::span<std::int64_t> out) const {
    if (out.size() != t.elements())
      throw format_error(where(t.name) + "holds " + std::to_string(t.elements()) + " elements (shape " + shape_text(t.shape) +
                         ") but " + std::to_string(out.size()) + " were asked for.");
    if (t.type != dtype::I64)
      throw format_error(where(t.name) + "has dtype " + std::string(dtype_name(t.type)) + " but I64 integers were expected.");
    const std::uint8_t* p = bytes_.data() + data_start_ + t.begin;
    for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::int64_t>(load<std::uint64_t>(p + 8 * i));
  }
  // The tensor `name` read as T (float or double from a floating-point tensor, std::int64_t from I64).
  template <class T>
  [[nodiscard]] std::vector<T> read(std::string_view name) const {
    const tensor_info& t = at(name);
    std::vector<T> out(t.elements());
    read_into(t, std::span<T>(out));
    return out;
  }

private:
  template <class U>
  static U load(const std::uint8_t* p) {
    U v = 0;
    for (std::size_t i = sizeof(U); i-- > 0;) v = static_cast<U>((v << 8) | p[i]);
    return v;
  }

  [[nodiscard]] std::string where(const std::string& tensor) const {
    return "juice::io::safetensors: " + source_ + ": tensor '" + tensor + "' ";
  }
  [[noreturn]] void fail(const std::string& reason) const {
    throw format_error("juice::io::safetensors: " + source_ + ": " + reason);
  }
  [[noreturn]] void fail_tensor(const std::string& tensor, const std::string& reason) const {
    throw format_error(where(tensor) + reason);
  }

  void parse() {
    const std::size_t size = bytes_.size();
    if (size < 8)
      fail("truncated: " + std::to_string(size) + " bytes, but a safetensors file starts with an 8-byte header length.");
    const std::uint64_t n = detail::load_u64_le(bytes_.data());
    if (n > detail::max_header_bytes)
      fail("the header length " + std::to_string(n) + " exceeds the format's limit of 100000000 bytes.");
    if (n > size - 8)
      fail("truncated: the header length is " + std::to_string(n) + " bytes but only " + std::to_string(size - 8) +
           " bytes follow it.");
    const std::span<const std::uint8_t> header(bytes_.data() + 8, static_cast<std::size_t>(n));
    if (const std::size_t bad = detail::utf8_error(header); bad != std::string_view::npos)
      fail("the header is not valid UTF-8 (byte " + std::to_string(bad) + " of the header).");
    if (n == 0 || header[0] != '{') fail("the header is not a JSON object (it does not start with '{').");
    nlohmann::json j;
    try {
      j = parse_json(std::string_view(reinterpret_cast<const char*>(header.data()), header.size()));
    } catch (const json_error& e) {
      fail(std::string("the header is not valid JSON: ") + e.what());
    }
    if (!j.is_object()) fail("the header is a JSON " + std::string(j.type_name()) + ", not an object.");
    data_start_ = 8 + static_cast<std::size_t>(n);
    const std::size_t buffer = size - data_start_;

    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string& key = it.key();
      const nlohmann::json& v = it.value();
      if (key == "__metadata__") {
        if (!v.is_object()) fail("__metadata__ is not a JSON object of strings.");
        for (auto m = v.begin(); m != v.end(); ++m) {
          if (!m.value().is_string()) fail("__metadata__ entry '" + m.key() + "' is not a string.");
          metadata_[m.key()] = m.value().get<std::string>();
        }
        continue;
      }
      tensors_.push_back(parse_tensor(key, v));
    }

    // Contiguity: in (begin, end) order every tensor starts where the previous one ended.
    std::sort(tensors_.begin(), tensors_.end(),
              [](const tensor_info& a, const tensor_info& b) { return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name); });
    std::size_t expected = 0;
    const tensor_info* previous = nullptr;
    for (const tensor_info& t : tensors_) {
      const std::string range = "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + ")";
      if (t.begin < expected)
        fail_tensor(t.name, "overlaps tensor '" + previous->name + "': its " + range + " begin before byte " +
                                std::to_string(expected) + ", where that tensor ends.");
      if (t.begin > expected)
        fail_tensor(t.name, "leaves a hole: its " + range + " begin at byte " + std::to_string(t.begin) +
                                " but the previous data end at byte " + std::to_string(expected) + ".");
      if (t.end > buffer)
        fail_tensor(t.name, "is truncated: its " + range + " reach past the end of the " + std::to_string(buffer) +
                                "-byte data buffer.");
      expected = t.end;
      previous = &t;
    }
    if (expected != buffer)
      fail("the data buffer has " + std::to_string(buffer - expected) + " trailing bytes after the last tensor (" +
           std::to_string(buffer) + " bytes, the tensors cover " + std::to_string(expected) + ").");
    for (std::size_t i = 0; i < tensors_.size(); ++i) index_[tensors_[i].name] = i;
  }

  tensor_info parse_tensor(const std::string& name, const nlohmann::json& v) const {
    if (!v.is_object()) fail_tensor(name, "is not described by a JSON object.");
    tensor_info t;
    t.name = name;
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) fail_tensor(name, "has no string field 'dtype'.");
    auto type = dtype_from_name(dt->get_ref<const std::string&>());
    if (!type) fail_tensor(name, "has the unknown dtype '" + dt->get<std::string>() + "'.");
    t.type = *type;
    auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array()) fail_tensor(name, "has no array field 'shape'.");
    std::size_t elements = 1;
    for (const auto& d : *sh) {
      if (!d.is_number_unsigned()) fail_tensor(name, "has a shape entry that is not a non-negative integer: " + d.dump() + ".");
      const std::uint64_t dim = d.get<std::uint64_t>();
      if (dim > std::numeric_limits<std::size_t>::max()) fail_tensor(name, "has a dimension too large for this machine.");
      t.shape.push_back(static_cast<std::size_t>(dim));
      auto e = detail::mul(elements, static_cast<std::size_t>(dim));
      if (!e) fail_tensor(name, "has shape " + shape_text(t.shape) + ", whose element count overflows.");
      elements = *e;
    }
    auto bytes = detail::mul(elements, dtype_size(t.type));
    if (!bytes) fail_tensor(name, "has shape " + shape_text(t.shape) + ", whose byte size overflows.");
    auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2 || !(*off)[0].is_number_unsigned() ||
        !(*off)[1].is_number_unsigned())
      fail_tensor(name, "has no field 'data_offsets' of two non-negative integers.");
    const std::uint64_t b = (*off)[0].get<std::uint64_t>(), e = (*off)[1].get<std::uint64_t>();
    if (e < b)
      fail_tensor(name, "has data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + ") that end before they begin.");
    if (e > std::numeric_limits<std::size_t>::max())
      fail_tensor(name, "has data_offsets too large for this machine.");
    t.begin = static_cast<std::size_t>(b);
    t.end = static_cast<std::size_t>(e);
    if (t.end - t.begin != *bytes)
      fail_tensor(name, "has data_offsets [" + std::to_string(b) + ", " + std::to_string(e) + ") spanning " +
                            std::to_string(t.end - t.begin) + " bytes, but shape " + shape_text(t.shape) + " of " +
                            std::string(dtype_name(t.type)) + " needs " + std::to_string(*bytes) + " bytes.");
    return t;
  }

  std::vector<std::uint8_t> bytes_;
  std::string source_;
  std::size_t data_start_ = 0;
  std::vector<tensor_info> tensors_;
  std::map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// Collects tensors and writes them as one safetensors file.
class safetensors_writer {
public:
  // Adds a tensor from float or double values, stored as `as` (F32 by default; F64, F16 or BF16 on
  // request). The values are copied; the element count must match the shape.
  template <class T>
  void add(std::string name, std::vector<std::size_t> shape, std::span<const T> values, dtype as = dtype::F32) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "juice::io::safetensors writes float or double values");
    if (as != dtype::F32 && as != dtype::F64 && as != dtype::F16 && as != dtype::BF16)
      throw invalid_argument("juice::io::safetensors_writer: tensor '" + name + "' cannot be written as " +
                             std::string(dtype_name(as)) + "; juice writes F32, F64, F16 or BF16 (and I64 from integers).");
    const std::size_t n = check_new(name, shape, values.size());
    entry e{as, std::move(shape), {}};
    e.data.resize(n * dtype_size(as));
    std::uint8_t* p = e.data.data();
    for (std::size_t i = 0; i < n; ++i) {
      switch (as) {
        case dtype::F32:
          store(p + 4 * i, std::bit_cast<std::uint32_t>(static_cast<float>(values[i])));
          break;
        case dtype::F64:
          store(p + 8 * i, std::bit_cast<std::uint64_t>(static_cast<double>(values[i])));
          break;
        case dtype::F16:
          store(p + 2 * i, float_to_f16(static_cast<float>(values[i])));
          break;
        default:
          store(p + 2 * i, float_to_bf16(static_cast<float>(values[i])));
          break;
      }
    }
    entries_.emplace(std::move(name), std::move(e));
  }
  template <class T>
  void add(std::string name, std::vector<std::size_t> shape, const std::vector<T>& values, dtype as = dtype::F32) {
    add(std::move(name), std::move(shape), std::span<const T>(values), as);
  }

  // Adds a tensor of 64-bit integers, stored exactly as I64.
  void add(std::string name, std::vector<std::size_t> shape, std::span<const std::int64_t> values) {
    std::size_t n = check_new(name, shape, values.size());
    entry e{dtype::I64, std::move(shape), {}};
    e.data.resize(n * 8);
    for (std::size_t i = 0; i < n; ++i) store(e.data.data() + 8 * i, static_cast<std::uint64_t>(values[i]));
    entries_.emplace(std::move(name), std::move(e));
  }
  void add(std::string name, std::vector<std::size_t> shape, const std::vector<std::int64_t>& values) {
    add(std::move(name), std::move(shape), std::span<const std::int64_t>(values));
  }

  // Sets a "__metadata__" entry.
  void set_metadata(std::string key, std::string value) { metadata_[std::move(key)] = std::move(value); }

  // The file's bytes: tensors in name order, the header padded with spaces to a multiple of 8.
  [[nodiscard]] std::vector<std::uint8_t> bytes() const {
    nlohmann::json header = nlohmann::json::object();
    if (!metadata_.empty()) header["__metadata__"] = metadata_;
    std::size_t offset = 0;
    for (const auto& [name, e] : entries_) {
      header[name] = {{"dtype", dtype_name(e.type)}, {"shape", e.shape}, {"data_offsets", {offset, offset + e.data.size()}}};
      offset += e.data.size();
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    std::vector<std::uint8_t> out(8 + text.size() + offset);
    const std::uint64_t n = text.size();
    for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
    std::memcpy(out.data() + 8, text.data(), text.size());
    std::size_t at = 8 + text.size();
    for (const auto& [name, e] : entries_) {
      if (!e.data.empty()) std::memcpy(out.data() + at, e.data.data(), e.data.size());
      at += e.data.size();
    }
    return out;
  }

  // Writes the file atomically (temporary file, fsync, rename).
  void write(const std::filesystem::path& path) const {
    const std::vector<std::uint8_t> b = bytes();
    write_file_atomically(path, std::span<const std::uint8_t>(b));
  }

private:
  struct entry {
    dtype type;
    std::vector<std::size_t> shape;
    std::vector<std::uint8_t> data;
  };
  // Checks a new tensor's name and shape against `count` values; returns the element count.
  std::size_t check_new(const std::string& name, const std::vector<std::size_t>& shape, std::size_t count) const {
    auto fail = [&](const std::string& why) {
      throw invalid_argument("juice::io::safetensors_writer: tensor '" + name + "' " + why);
    };
    if (name == "__metadata__") fail("has the name the format reserves for its metadata.");
    if (entries_.count(name)) fail("was added twice.");
    std::size_t n = 1;
    for (std::size_t d : shape) {
      const auto e = detail::mul(n, d);
      if (!e) fail("has a shape whose element count overflows.");
      n = e.value();
    }
    if (n != count)
      fail("has shape " + shape_text(shape) + " (" + std::to_string(n) + " elements) but " + std::to_string(count) + " values.");
    return n;
  }
  template <class U>
  static void store(std::uint8_t* p, U v) {
    for (std::size_t i = 0; i < sizeof(U); ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
  }
  std::map<std::string, entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace juice::io
