// juice/io/float16.hpp, safetensors.hpp and atomic_file.hpp: the 16-bit conversions against
// values computed independently (ldexp for widening, a nearest-value search with ties to even for
// narrowing), files built byte by byte with known contents, every error path with its message, the
// writer's exact bytes, and atomic writes.
#include <boost/test/unit_test.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "juice/io/atomic_file.hpp"
#include "juice/io/float16.hpp"
#include "juice/io/safetensors.hpp"

using namespace juice;
using namespace juice::io;
namespace fs = std::filesystem;

namespace {

// ---- independent references for the 16-bit formats ---------------------------------------------

// Value of a binary16 / bfloat16 bit pattern from the IEEE 754 definition (double is exact here).
double f16_value(std::uint16_t h) {
  const int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  const double mag = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  return s ? -mag : mag;
}
double bf16_value(std::uint16_t b) {
  const int s = b >> 15, e = (b >> 7) & 255, m = b & 127;
  const double mag = e == 0 ? std::ldexp(m, -133) : std::ldexp(128 + m, e - 134);
  return s ? -mag : mag;
}

// The nearest representable pattern to x (finite, non-negative) among the monotone patterns
// 0 .. top (top = infinity's pattern), ties to the even pattern, infinity when x is at or beyond
// the midpoint between the largest finite value and the next power of two the format would have.
template <class Value>
std::uint16_t nearest(double x, std::uint16_t top, double overflow_at, Value value) {
  if (x >= overflow_at) return top;
  std::uint16_t lo = 0, hi = static_cast<std::uint16_t>(top - 1);  // value(lo) <= x < value(hi) or x >= value(hi)
  if (x >= value(hi)) return hi;
  while (hi - lo > 1) {
    const auto mid = static_cast<std::uint16_t>((lo + hi) / 2);
    if (value(mid) <= x) lo = mid;
    else hi = mid;
  }
  const double dl = x - value(lo), dh = value(hi) - x;  // exact in double
  if (dl < dh) return lo;
  if (dh < dl) return hi;
  return (lo & 1) ? hi : lo;
}

std::uint16_t f16_reference(float f) {
  const double x = std::abs(static_cast<double>(f));
  const std::uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  return static_cast<std::uint16_t>(sign | nearest(x, 0x7C00, 65520.0, f16_value));
}
std::uint16_t bf16_reference(float f) {
  const double x = std::abs(static_cast<double>(f));
  const std::uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  // Largest finite bfloat16 is (2 - 2^-7) 2^127; the rounding boundary is (2 - 2^-8) 2^127.
  return static_cast<std::uint16_t>(sign | nearest(x, 0x7F80, std::ldexp(2.0 - std::ldexp(1.0, -8), 127), bf16_value));
}

// ---- hand-built files ----------------------------------------------------------------------------

using bytes = std::vector<std::uint8_t>;

// 8-byte little-endian length, the header text, then the data bytes.
bytes make_file(const std::string& header, const bytes& data, std::uint64_t length_field) {
  bytes out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(length_field >> (8 * i)));
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}
bytes make_file(const std::string& header, const bytes& data) { return make_file(header, data, header.size()); }

// The message of the format_error that parsing `b` throws ("" if it does not throw).
std::string parse_error(const bytes& b) {
  try {
    safetensors_file f(b);
  } catch (const format_error& e) {
    return e.what();
  }
  return "";
}

void check_error(const bytes& b, const std::vector<std::string>& parts) {
  const std::string msg = parse_error(b);
  BOOST_TEST_INFO("message: " << msg);
  BOOST_REQUIRE(!msg.empty());
  for (const auto& p : parts) BOOST_CHECK_MESSAGE(msg.find(p) != std::string::npos, "'" << p << "' not in: " << msg);
}

fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("juice_test_io_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::size_t entries(const fs::path& d) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(d)) ++n;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(half_precision)

BOOST_AUTO_TEST_CASE(known_bit_patterns) {
  BOOST_TEST(f16_to_float(0x3C00) == 1.0f);
  BOOST_TEST(f16_to_float(0xC000) == -2.0f);
  BOOST_TEST(f16_to_float(0x7BFF) == 65504.0f);
  BOOST_TEST(f16_to_float(0x0400) == std::ldexp(1.0f, -14));
  BOOST_TEST(f16_to_float(0x0001) == std::ldexp(1.0f, -24));
  BOOST_TEST(f16_to_float(0x3555) == 0.333251953125f);
  BOOST_TEST(std::signbit(f16_to_float(0x8000)));
  BOOST_TEST(f16_to_float(0x7C00) == std::numeric_limits<float>::infinity());
  BOOST_TEST(std::isnan(f16_to_float(0x7E00)));
  BOOST_TEST(float_to_f16(1.0f) == 0x3C00);
  BOOST_TEST(float_to_f16(65504.0f) == 0x7BFF);
  BOOST_TEST(float_to_f16(65519.0f) == 0x7BFF);
  BOOST_TEST(float_to_f16(65520.0f) == 0x7C00);               // the tie rounds to the even pattern: infinity
  BOOST_TEST(float_to_f16(std::ldexp(1.0f, -25)) == 0x0000);  // tie between 0 and 2^-24: even
  BOOST_TEST(float_to_f16(std::ldexp(1.5f, -25)) == 0x0001);
  BOOST_TEST(float_to_f16(std::ldexp(3.0f, -25)) == 0x0002);  // tie between 1 and 2 units: even
  BOOST_TEST(float_to_f16(-0.0f) == 0x8000);
  BOOST_TEST(float_to_f16(1.0f / 3.0f) == 0x3555);
  BOOST_TEST((float_to_f16(std::numeric_limits<float>::quiet_NaN()) & 0x7FFF) > 0x7C00);
  BOOST_TEST(bf16_to_float(0x3F80) == 1.0f);
  BOOST_TEST(bf16_to_float(0x4049) == 3.140625f);
  BOOST_TEST(float_to_bf16(1.0f) == 0x3F80);
  BOOST_TEST(float_to_bf16(3.14159265f) == 0x4049);
  BOOST_TEST(float_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3F80);      // tie: even
  BOOST_TEST(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3F82);  // tie: even
  BOOST_TEST(float_to_bf16(std::numeric_limits<float>::max()) == 0x7F80);
  // A NaN whose payload lives only in the low 16 bits must not truncate to infinity.
  BOOST_TEST((float_to_bf16(std::bit_cast<float>(0x7F800001u)) & 0x7FFF) > 0x7F80);
}

BOOST_AUTO_TEST_CASE(widening_is_exact_for_every_pattern) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const auto b = static_cast<std::uint16_t>(h);
    const int e16 = (b >> 10) & 31, ebf = (b >> 7) & 255;
    if (e16 != 31) {
      BOOST_REQUIRE_MESSAGE(static_cast<double>(f16_to_float(b)) == f16_value(b), "F16 " << std::hex << h);
      BOOST_REQUIRE_MESSAGE(std::signbit(f16_to_float(b)) == bool(b >> 15), "F16 sign " << std::hex << h);
      BOOST_REQUIRE_MESSAGE(float_to_f16(f16_to_float(b)) == b, "F16 round trip " << std::hex << h);
    } else {
      BOOST_REQUIRE_MESSAGE(std::isnan(f16_to_float(b)) == ((b & 1023) != 0), "F16 inf/nan " << std::hex << h);
    }
    if (ebf != 255) {
      BOOST_REQUIRE_MESSAGE(static_cast<double>(bf16_to_float(b)) == bf16_value(b), "BF16 " << std::hex << h);
      BOOST_REQUIRE_MESSAGE(float_to_bf16(bf16_to_float(b)) == b, "BF16 round trip " << std::hex << h);
    }
  }
}

BOOST_AUTO_TEST_CASE(narrowing_rounds_to_nearest_even) {
  std::mt19937_64 g(42);
  std::vector<float> xs;
  xs.reserve(200000);
  // Random bit patterns over the whole float range, and values near every F16 rounding boundary.
  for (int i = 0; i < 200000; ++i) xs.push_back(std::bit_cast<float>(static_cast<std::uint32_t>(g())));
  for (std::uint32_t h = 0; h < 0x7C00; h += 7) {
    const double mid = (f16_value(static_cast<std::uint16_t>(h)) + f16_value(static_cast<std::uint16_t>(h + 1))) / 2;
    for (float x : {static_cast<float>(mid), std::nextafter(static_cast<float>(mid), 0.0f),
                    std::nextafter(static_cast<float>(mid), 1e9f)})
      xs.push_back(x);
  }
  for (std::uint32_t b = 0; b < 0x7F80; b += 5) {
    const double mid = (bf16_value(static_cast<std::uint16_t>(b)) + bf16_value(static_cast<std::uint16_t>(b + 1))) / 2;
    xs.push_back(static_cast<float>(mid));
    xs.push_back(-static_cast<float>(mid));
  }
  for (float x : xs) {
    if (std::isnan(x)) continue;
    if (std::isinf(x)) {
      BOOST_REQUIRE(float_to_f16(x) == (std::signbit(x) ? 0xFC00 : 0x7C00));
      continue;
    }
    BOOST_REQUIRE_MESSAGE(float_to_f16(x) == f16_reference(x), "F16 of " << x << " (0x" << std::hex
                                                                         << std::bit_cast<std::uint32_t>(x) << ")");
    BOOST_REQUIRE_MESSAGE(float_to_bf16(x) == bf16_reference(x), "BF16 of " << x << " (0x" << std::hex
                                                                            << std::bit_cast<std::uint32_t>(x) << ")");
  }
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(reading)

BOOST_AUTO_TEST_CASE(every_dtype_from_known_bytes) {
  // Offsets by hand: d F64 [0,8), f F32 [8,16), h F16 [16,22), b BF16 [22,26), i I32 [26,30).
  const std::string header =
      R"({"__metadata__":{"format":"pt","note":"x"},)"
      R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[22,26]},)"
      R"("d":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},)"
      R"("f":{"dtype":"F32","shape":[2,1],"data_offsets":[8,16]},)"
      R"("h":{"dtype":"F16","shape":[3],"data_offsets":[16,22]},)"
      R"("i":{"dtype":"I32","shape":[],"data_offsets":[26,30]}})";
  const bytes data = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xF0, 0xBF,  // -1.0 (F64)
                      0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x20, 0xC1,  // 1.0, -10.0 (F32)
                      0x00, 0x3C, 0x00, 0xC0, 0x01, 0x00,              // 1.0, -2.0, 2^-24 (F16)
                      0x80, 0x3F, 0x49, 0x40,                          // 1.0, 3.140625 (BF16)
                      0x07, 0x00, 0x00, 0x00};                         // 7 (I32)
  const safetensors_file f(make_file(header, data));
  BOOST_TEST(f.tensors().size() == 5u);
  BOOST_TEST(f.metadata().at("format") == "pt");
  BOOST_TEST(f.metadata().at("note") == "x");
  BOOST_TEST(f.read<double>("d") == std::vector<double>{-1.0}, boost::test_tools::per_element());
  BOOST_TEST(f.read<float>("f") == (std::vector<float>{1.0f, -10.0f}), boost::test_tools::per_element());
  BOOST_TEST(f.read<double>("h") == (std::vector<double>{1.0, -2.0, std::ldexp(1.0, -24)}), boost::test_tools::per_element());
  BOOST_TEST(f.read<float>("b") == (std::vector<float>{1.0f, 3.140625f}), boost::test_tools::per_element());
  BOOST_TEST((f.at("f").shape == std::vector<std::size_t>{2, 1}));
  BOOST_TEST(f.at("i").shape.empty());
  BOOST_TEST(f.at("i").elements() == 1u);
  const auto raw = f.raw(f.at("i"));
  BOOST_TEST(raw.size() == 4u);
  BOOST_TEST(raw[0] == 7);
  // Integers are parsed and validated but not converted.
  try {
    (void)f.read<float>("i");
    BOOST_FAIL("reading an I32 tensor as float did not throw");
  } catch (const format_error& e) {
    BOOST_TEST(std::string(e.what()).find("tensor 'i' has dtype I32") != std::string::npos);
  }
  BOOST_CHECK_THROW((void)f.read<float>("missing"), format_error);
}

BOOST_AUTO_TEST_CASE(empty_and_zero_sized) {
  const safetensors_file empty(make_file("{}", {}));
  BOOST_TEST(empty.tensors().empty());
  const safetensors_file zero(make_file(R"({"z":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}})", {}));
  BOOST_TEST(zero.read<float>("z").empty());
}

BOOST_AUTO_TEST_CASE(every_error_names_the_reason) {
  const std::string one_f32 = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  const bytes four = {0, 0, 0x80, 0x3F};
  BOOST_REQUIRE(parse_error(make_file(one_f32, four)).empty());  // the well-formed base case
  check_error(bytes{1, 2, 3}, {"<memory>", "truncated", "3 bytes"});
  check_error(make_file(one_f32, four, one_f32.size() + 100), {"truncated", "header length is"});
  check_error(make_file("", {}, 100'000'001), {"exceeds", "100000000"});
  check_error(make_file(one_f32, {0, 0, 0x80}), {"tensor 'a'", "is truncated"});
  check_error(make_file(one_f32, {0, 0, 0x80, 0x3F, 0}), {"1 trailing bytes"});
  check_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[2,6]}})",
                        bytes(6)),
              {"tensor 'b'", "overlaps tensor 'a'"});
  check_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                        bytes(12)),
              {"tensor 'b'", "leaves a hole"});
  check_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", bytes(8)), {"tensor 'a'", "hole"});
  check_error(make_file(R"({"a":{"dtype":"F17","shape":[1],"data_offsets":[0,4]}})", four), {"tensor 'a'", "unknown dtype 'F17'"});
  check_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", four),
              {"tensor 'a'", "spanning 4 bytes", "needs 8 bytes"});
  check_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", bytes(8)),
              {"tensor 'a'", "spanning 8 bytes", "needs 4 bytes"});
  check_error(make_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", four), {"tensor 'a'", "non-negative"});
  check_error(make_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}})", four),
              {"tensor 'a'", "overflows"});
  check_error(make_file(R"({"a":{"dtype":"F64","shape":[4294967296,1073741824],"data_offsets":[0,4]}})", four),
              {"tensor 'a'", "byte size overflows"});
  check_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", four), {"tensor 'a'", "end before"});
  check_error(make_file(R"({"a":{"dtype":"F32","shape":[1]}})", four), {"tensor 'a'", "data_offsets"});
  check_error(make_file(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", four), {"tensor 'a'", "dtype"});
  check_error(make_file(R"([1,2])", {}), {"not a JSON object"});
  check_error(make_file(R"({"a":)", {}), {"not valid JSON"});
  check_error(make_file("{\"\xFF\":1}", {}), {"not valid UTF-8", "byte 2"});
  check_error(make_file("{\"\xC0\x80\":1}", {}), {"not valid UTF-8"});  // overlong encoding of NUL
  check_error(make_file(R"({"__metadata__":{"k":1}})", {}), {"__metadata__ entry 'k'"});
  check_error(make_file(R"({"a":3})", {}), {"tensor 'a'", "JSON object"});
}

// What the reference implementation (serde_json) refuses and nlohmann alone would accept: a NUL byte
// ends nlohmann's input, so whatever follows it was never looked at; a key given twice keeps the
// last value. Trailing whitespace (the writer's padding) is JSON and stays accepted.
BOOST_AUTO_TEST_CASE(header_bytes_after_the_json_and_repeated_keys_are_refused) {
  const std::string one_f32 = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  const bytes four{0, 0, 0x80, 0x3F};
  BOOST_REQUIRE(parse_error(make_file(one_f32 + "    ", four)).empty());
  BOOST_REQUIRE(parse_error(make_file(one_f32 + " \n", four)).empty());
  check_error(make_file(one_f32 + std::string("\0garbage", 8), four), {"not valid JSON", "NUL byte at column " + std::to_string(one_f32.size() + 1)});
  check_error(make_file(one_f32 + std::string(3, '\0'), four), {"not valid JSON", "NUL byte"});
  check_error(make_file(one_f32 + "x", four), {"not valid JSON"});
  check_error(make_file(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", four),
              {"the key \"a\" appears twice"});
  check_error(make_file(R"({"a":{"dtype":"F32","dtype":"F64","shape":[1],"data_offsets":[0,4]}})", four), {"the key \"dtype\" appears twice"});
}

BOOST_AUTO_TEST_CASE(file_errors_name_the_file) {
  const fs::path d = fresh_dir("names");
  const fs::path p = d / "short.safetensors";
  { std::ofstream(p, std::ios::binary) << "abc"; }
  try {
    (void)safetensors_file::load(p);
    BOOST_FAIL("a 3-byte file was accepted");
  } catch (const format_error& e) {
    BOOST_TEST(std::string(e.what()).find(p.string()) != std::string::npos);
  }
  BOOST_CHECK_THROW((void)safetensors_file::load(d / "absent.safetensors"), io_error);
  // A folder is refused before its (meaningless) size is used to allocate anything.
  try {
    (void)safetensors_file::load(d);
    BOOST_FAIL("a folder was read as a file");
  } catch (const io_error& e) {
    BOOST_TEST(std::string(e.what()).find("not a regular file") != std::string::npos, e.what());
  }
  fs::remove_all(d);
}

BOOST_AUTO_TEST_CASE(fuzz_corpus_parses_or_is_refused) {
  // Every input the safetensors fuzzer keeps (seeds, and inputs that once crashed the reader) must
  // parse or be refused with a format_error; the seeds are well-formed and must parse.
  std::size_t files = 0, parsed = 0, refused = 0;
  for (const auto& e : fs::directory_iterator(JUICE_FUZZ_CORPUS)) {
    ++files;
    try {
      const safetensors_file f = safetensors_file::load(e.path());
      for (const auto& t : f.tensors())
        if (t.type == dtype::F32 || t.type == dtype::F64 || t.type == dtype::F16 || t.type == dtype::BF16)
          (void)f.read<double>(t.name);
      ++parsed;
    } catch (const format_error&) {
      ++refused;
    }
  }
  BOOST_TEST(files >= 3u);
  BOOST_TEST(parsed >= 3u);
  BOOST_TEST(parsed + refused == files);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(writing)

BOOST_AUTO_TEST_CASE(exact_bytes_of_a_small_file) {
  safetensors_writer w;
  w.add("b", {1}, std::vector<float>{1.0f}, dtype::F16);
  w.add("a", {1}, std::vector<double>{-2.0}, dtype::F32);
  const std::string header = R"({"a":{"data_offsets":[0,4],"dtype":"F32","shape":[1]},"b":{"data_offsets":[4,6],"dtype":"F16","shape":[1]}})";
  std::string padded = header;
  while ((padded.size()) % 8 != 0) padded += ' ';
  const bytes expected = make_file(padded, {0x00, 0x00, 0x00, 0xC0, 0x00, 0x3C});
  BOOST_TEST(w.bytes() == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(round_trip_every_dtype) {
  const std::vector<float> fv{0.0f, -0.0f, 1.0f, -2.5f, 1e-3f, 65504.0f, 3.0e38f, std::ldexp(1.0f, -24)};
  const std::vector<double> dv{1.0 / 3.0, -1e300, 5e-324, 0.0};
  safetensors_writer w;
  w.set_metadata("format", "pt");
  w.add("f32", {2, 4}, fv);
  w.add("f64", {4}, dv, dtype::F64);
  w.add("f16", {8}, fv, dtype::F16);
  w.add("bf16", {8}, fv, dtype::BF16);
  w.add("empty", {0}, std::vector<float>{});
  const bytes b = w.bytes();
  const std::uint64_t n = b[0] | (std::uint64_t(b[1]) << 8);
  BOOST_TEST(n % 8 == 0u);
  const safetensors_file f(b);
  BOOST_TEST(f.metadata().at("format") == "pt");
  BOOST_TEST(f.read<float>("f32") == fv, boost::test_tools::per_element());
  BOOST_TEST(f.read<double>("f64") == dv, boost::test_tools::per_element());
  std::vector<float> f16, bf16;
  for (float x : fv) f16.push_back(static_cast<float>(f16_value(f16_reference(x))));
  for (float x : fv) bf16.push_back(static_cast<float>(bf16_value(bf16_reference(x))));
  f16[5] = 65504.0f;                                // exact in F16
  f16[6] = std::numeric_limits<float>::infinity();  // 3e38 overflows F16
  BOOST_TEST(f.read<float>("f16") == f16, boost::test_tools::per_element());
  BOOST_TEST(f.read<float>("bf16") == bf16, boost::test_tools::per_element());
  BOOST_TEST((f.at("f16").type == dtype::F16));
  BOOST_TEST(f.at("empty").elements() == 0u);
}

// 64-bit integers (token ids in checkpoints) are written as I64, little-endian two's complement,
// and read back exactly; they are not read as floats, nor floats as integers.
BOOST_AUTO_TEST_CASE(i64_tensors_are_exact) {
  safetensors_writer w;
  w.add("ids", {3}, std::vector<std::int64_t>{-1, 258, std::numeric_limits<std::int64_t>::min()});
  const std::string header = R"({"ids":{"data_offsets":[0,24],"dtype":"I64","shape":[3]}})";
  std::string padded = header;
  while (padded.size() % 8 != 0) padded += ' ';
  const bytes expected = make_file(padded, {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,  //
                                            0x02, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  //
                                            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80});
  BOOST_TEST(w.bytes() == expected, boost::test_tools::per_element());
  w.add("x", {1}, std::vector<float>{1.5f});
  const safetensors_file f(w.bytes());
  BOOST_TEST(f.read<std::int64_t>("ids") == (std::vector<std::int64_t>{-1, 258, std::numeric_limits<std::int64_t>::min()}),
             boost::test_tools::per_element());
  BOOST_CHECK_THROW((void)f.read<double>("ids"), format_error);
  BOOST_CHECK_THROW((void)f.read<std::int64_t>("x"), format_error);
  BOOST_CHECK_THROW(w.add("ids", {1}, std::vector<std::int64_t>{1}), invalid_argument);
  BOOST_CHECK_THROW(w.add("y", {2}, std::vector<std::int64_t>{1}), invalid_argument);
}

BOOST_AUTO_TEST_CASE(writer_refuses_bad_tensors) {
  safetensors_writer w;
  w.add("a", {1}, std::vector<float>{1});
  BOOST_CHECK_THROW(w.add("a", {1}, std::vector<float>{1}), invalid_argument);
  BOOST_CHECK_THROW(w.add("b", {2}, std::vector<float>{1}), invalid_argument);
  BOOST_CHECK_THROW(w.add("__metadata__", {1}, std::vector<float>{1}), invalid_argument);
  BOOST_CHECK_THROW(w.add("c", {1}, std::vector<float>{1}, dtype::I32), invalid_argument);
}

BOOST_AUTO_TEST_CASE(atomic_write_replaces_whole_and_leaves_nothing_on_failure) {
  const fs::path d = fresh_dir("atomic");
  const fs::path p = d / "m.safetensors";
  const bytes big(1 << 20, 0xAB), small{1, 2, 3};
  write_file_atomically(p, big);
  write_file_atomically(p, small);
  BOOST_TEST(read_file(p) == small, boost::test_tools::per_element());
  BOOST_TEST(entries(d) == 1u);

  // A missing folder: an error naming the target, nothing created.
  try {
    write_file_atomically(d / "missing" / "x.safetensors", small);
    BOOST_FAIL("writing into a missing folder did not throw");
  } catch (const io_error& e) {
    BOOST_TEST(std::string(e.what()).find((d / "missing" / "x.safetensors").string()) != std::string::npos);
  }
  BOOST_TEST(!fs::exists(d / "missing"));

  // A folder in the way: the temporary file is written, the rename fails, the temporary is removed.
  fs::create_directories(d / "dir.safetensors" / "inside");
  BOOST_CHECK_THROW(write_file_atomically(d / "dir.safetensors", small), io_error);
  BOOST_TEST(entries(d) == 2u);  // m.safetensors and the folder, no temporary
  BOOST_TEST(fs::is_directory(d / "dir.safetensors" / "inside"));

  // A write that fails half way (the file-size limit stands in for a full disk): the old file stays
  // whole and the temporary file is removed.
  {
    rlimit old{};
    ::getrlimit(RLIMIT_FSIZE, &old);
    rlimit low = old;
    low.rlim_cur = 1 << 16;
    auto previous = std::signal(SIGXFSZ, SIG_IGN);
    BOOST_REQUIRE(::setrlimit(RLIMIT_FSIZE, &low) == 0);
    bool threw = false;
    try {
      write_file_atomically(p, big);
    } catch (const io_error& e) {
      threw = std::string(e.what()).find("writing") != std::string::npos;
    }
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, previous);
    BOOST_TEST(threw);
    BOOST_TEST(read_file(p) == small, boost::test_tools::per_element());
    BOOST_TEST(entries(d) == 2u);
  }

  // An unwritable folder (only meaningful when not root: root writes anywhere).
  if (::geteuid() != 0) {
    fs::create_directories(d / "ro");
    fs::permissions(d / "ro", fs::perms::owner_read | fs::perms::owner_exec);
    BOOST_CHECK_THROW(write_file_atomically(d / "ro" / "x", small), io_error);
    BOOST_TEST(entries(d / "ro") == 0u);
    fs::permissions(d / "ro", fs::perms::owner_all);
  } else {
    BOOST_TEST_MESSAGE("running as root: the read-only-folder case is not checked");
  }

  // The writer goes through the same path.
  safetensors_writer w;
  w.add("a", {1}, std::vector<float>{1});
  BOOST_CHECK_THROW(w.write(d / "missing" / "y.safetensors"), io_error);
  w.write(p);
  BOOST_TEST(safetensors_file::load(p).read<float>("a") == std::vector<float>{1.0f}, boost::test_tools::per_element());
  fs::remove_all(d);
}

BOOST_AUTO_TEST_SUITE_END()
