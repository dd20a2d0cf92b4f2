// juice::transformer_config::validate: every size product checked for overflow, the bytes of a
// model's parameters and gradients computed and refused above juice's cap or the memory given,
// naming the field. Expected counts are GPT-2's published one and hand sums of the layer formula.
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <limits>
#include <string>

#include "juice/models/transformer_config.hpp"

using namespace juice;

namespace {

// The message of the invalid_argument `f` throws ("" when it throws none).
template <class F>
std::string refusal(F&& f) {
  try {
    f();
  } catch (const invalid_argument& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

BOOST_AUTO_TEST_CASE(bytes_are_parameters_and_gradients) {
  // GPT-2 small has 124,439,808 parameters; parameters and gradients in float: 8 bytes each.
  BOOST_TEST(transformer_config::gpt2_124m().model_bytes(4) == std::size_t{124439808} * 8);
  // {1,1,1,1,1}: wte 1 + wpe 1 + one layer of 12 C^2 + 13 C = 25 + ln_f 2 = 29 parameters.
  const transformer_config one{1, 1, 1, 1, 1};
  BOOST_TEST(one.trunk_parameters() == 29U);
  const std::size_t bytes = std::size_t{2} * 29 * 8;  // parameters and gradients, 8 bytes each
  BOOST_TEST(one.model_bytes(8) == bytes);
  BOOST_CHECK_NO_THROW(one.validate(8, bytes));
  const std::string m = refusal([&] { one.validate(8, bytes - 1); });
  BOOST_TEST_INFO(m);
  BOOST_TEST(contains(m, "this machine's 463 bytes of memory"));
}

BOOST_AUTO_TEST_CASE(sizes_beyond_int_are_refused_naming_the_field) {
  const std::size_t huge = std::numeric_limits<std::size_t>::max();
  BOOST_TEST(contains(refusal([&] { transformer_config{1, 1, 16, 32, huge}.validate(); }), "vocab (vocab_size) is 18446744073709551615"));
  BOOST_TEST(contains(refusal([&] { transformer_config{1, 1, 16, (std::size_t{1} << 62) + 1, 32}.validate(); }),
                      "context (n_positions) is 4611686018427387905"));
  BOOST_TEST(contains(refusal([&] { transformer_config{0, 1, 16, 32, 32}.validate(); }), "layers (n_layer) must be positive"));
}

BOOST_AUTO_TEST_CASE(overflowing_products_are_refused_not_wrapped) {
  // 2^32 channels: 12 C^2 = 3 * 2^66 does not fit 64 bits.
  const transformer_config wide{1, 1, std::size_t{1} << 32, 32, 32};
  const std::string m = refusal([&] { (void)wide.trunk_parameters(); });
  BOOST_TEST_INFO(m);
  BOOST_TEST(contains(m, "channels (n_embd)"));
  BOOST_TEST(contains(m, "overflows"));
  BOOST_TEST(!refusal([&] { wide.validate(); }).empty());
  // 2^60 layers of 29 - 4 = 25 parameters each (C = 1) overflow too.
  BOOST_TEST(contains(refusal([&] { transformer_config{std::size_t{1} << 60, 1, 1, 1, 1}.validate(); }), "layers (n_layer)"));
}

BOOST_AUTO_TEST_CASE(a_model_above_the_cap_names_its_largest_part) {
  // 10^9 positions x 768 channels = 7.68e11 parameters, 6.1e12 bytes with gradients: above 2^40.
  const std::string m = refusal([&] { transformer_config{1, 2, 768, 1000000000, 257}.validate(4, 0); });
  BOOST_TEST_INFO(m);
  BOOST_TEST(contains(m, "more than juice's cap of 1 TiB"));
  BOOST_TEST(contains(m, "the position embedding, context (1000000000) x channels (768)"));
  BOOST_TEST(contains(m, "Lower n_positions or n_embd"));
  // 10^6 vocab x 16 channels dominate a one-layer model; 2^20 bytes of memory are not enough.
  const std::string v = refusal([&] { transformer_config{1, 1, 16, 8, 1000000}.validate(4, std::size_t{1} << 20); });
  BOOST_TEST(contains(v, "the token embedding, vocab (1000000) x channels (16)"));
  BOOST_TEST(contains(v, "this machine's 1 MiB of memory"));
}
