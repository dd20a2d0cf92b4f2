// juice/data/unicode_normalize.hpp: Unicode NFC (UAX #15). The expected strings are written from the
// Unicode Character Database's decompositions, not from the code: U+00E9 is "e" + U+0301, U+00C5 is
// "A" + U+030A and the canonical singleton U+212B ANGSTROM SIGN decomposes to U+00C5; the Hangul
// syllable U+AC01 is the jamo L U+1100, V U+1161, T U+11A8 (UAX #15's algorithmic composition);
// U+1EAD is U+1EA1 + U+0302 and U+1EA1 is "a" + U+0323 (combining classes 220 < 230, so the marks
// are reordered first); U+0958 is in CompositionExclusions.txt; U+FB01, U+2460 and U+FF21 have only
// compatibility decompositions, which NFC leaves alone. Invalid UTF-8 is kept byte for byte, as the
// tokenizer keeps it.
#include <boost/test/unit_test.hpp>

#include <optional>
#include <string>

#include "juice/data/unicode_normalize.hpp"

using juice::data::nfc;
using juice::data::nfc_if_changed;

BOOST_AUTO_TEST_CASE(nfc_composes_canonically_equivalent_spellings) {
  BOOST_TEST(nfc("e\u0301") == "\u00e9");
  BOOST_TEST(nfc("A\u030a") == "\u00c5");
  BOOST_TEST(nfc("Cafe\u0301 cre\u0300me") == "Caf\u00e9 cr\u00e8me");
  BOOST_TEST(nfc("\u1100\u1161\u11a8") == "\uac01");
  BOOST_TEST(nfc("\u1100\u1161") == "\uac00");
  BOOST_TEST(nfc("\u212b") == "\u00c5");
  BOOST_TEST(nfc("10 \u212bngstro\u0308m") == "10 \u00c5ngstr\u00f6m");
  BOOST_TEST(nfc("a\u0302\u0323") == "\u1ead");  // reordered by combining class, then composed
  BOOST_TEST(nfc("\u0958") == "\u0915\u093c");   // a composition exclusion: decomposed, never recomposed
  BOOST_TEST((nfc_if_changed("e\u0301") == std::optional<std::string>("\u00e9")));
}

BOOST_AUTO_TEST_CASE(nfc_leaves_normal_and_compatibility_text_alone) {
  for (const char* text : {"", "plain ASCII, 123 <|endoftext|>", "caf\u00e9 \u00c5 \uac01 \u65e5\u672c \U0001F642",
                           "\ufb01", "\u2460", "\uff21\uff22", "e \u0301"}) {
    BOOST_TEST_CONTEXT(text) {
      BOOST_TEST(!nfc_if_changed(text).has_value());
      BOOST_TEST(nfc(text) == text);
    }
  }
}

// Bytes that start no valid UTF-8 character stay as they are, without an exception; each valid run
// between them is normalised on its own, so nothing composes across an invalid byte.
BOOST_AUTO_TEST_CASE(nfc_keeps_invalid_utf8_bytes) {
  BOOST_TEST(nfc("e\xFF") == "e\xFF");
  BOOST_TEST(nfc("\xC3") == "\xC3");                  // a lead byte without its continuation
  BOOST_TEST(nfc("\xED\xA0\x80") == "\xED\xA0\x80");  // an encoded surrogate
  BOOST_TEST(nfc("\xC0\xAF") == "\xC0\xAF");          // an overlong "/"
  BOOST_TEST(nfc("e\u0301\xFF"
                 "A\u030a") == "\u00e9\xFF\u00c5");
  BOOST_TEST(nfc("e\xFF\u0301") == "e\xFF\u0301");  // the mark after the byte composes with nothing
  BOOST_TEST(!nfc_if_changed("caf\xC3\xA9\xFF\x80").has_value());
}
