// JSONL readers (include/juice/data/jsonl.hpp, anthropic_hh.hpp): the three forms, and one error per
// kind of bad input, each naming the file and the line.
#include <boost/test/unit_test.hpp>

#include <sstream>
#include <string>
#include <utility>

#include "juice/data/data.hpp"
#include "check_throws.hpp"

namespace {

juice::demonstration_set demos(const std::string& text) {
  std::istringstream in(text);
  return juice::read_demonstrations(in, "d.jsonl");
}
juice::preference_set pairs(const std::string& text, juice::pair_format f = juice::pair_format::automatic) {
  std::istringstream in(text);
  return juice::read_pairs(in, "p.jsonl", f);
}

// Reader errors must be juice::data_error, not just any juice::error.
template <class F>
void check_throws_with(F&& f, const std::string& needle) {
  juice::test::check_throws_with<juice::data_error>(std::forward<F>(f), needle);
}

}  // namespace

BOOST_AUTO_TEST_CASE(demonstrations_are_read_with_their_lines) {
  const auto set = demos(
      "{\"prompt\": \"2+2=\", \"response\": \"4\"}\n"
      "\n"
      "{\"response\": \"caf\\u00e9\", \"prompt\": \"\", \"extra\": 1}\r\n");
  BOOST_TEST(set.name == "d.jsonl");
  BOOST_REQUIRE(set.records.size() == 2u);
  BOOST_TEST(set.records[0].prompt == "2+2=");
  BOOST_TEST(set.records[0].response == "4");
  BOOST_TEST(set.records[0].line == 1u);
  BOOST_TEST(set.records[1].prompt == "");
  BOOST_TEST(set.records[1].response == "caf\xC3\xA9");
  BOOST_TEST(set.records[1].line == 3u);
}

BOOST_AUTO_TEST_CASE(bad_demonstrations_name_file_and_line) {
  const std::string good = "{\"prompt\": \"a\", \"response\": \"b\"}\n";
  check_throws_with([&] { demos(good + "{\"prompt\": \"a\", \"response\": \"b\"\n"); }, "d.jsonl line 2: malformed JSON");
  check_throws_with([&] { demos(good + "[1, 2]\n"); }, "d.jsonl line 2: expected a JSON object, found array");
  check_throws_with([&] { demos(good + good + "{\"prompt\": \"a\"}\n"); }, "d.jsonl line 3: the field \"response\" is missing");
  check_throws_with([&] { demos("{\"prompt\": 3, \"response\": \"b\"}\n"); }, "d.jsonl line 1: the field \"prompt\" is number, not a string");
  check_throws_with([&] { demos("{\"prompt\": \"a\", \"response\": \"\"}\n"); }, "d.jsonl line 1: the field \"response\" is empty");
  check_throws_with([&] { demos("{\"prompt\": \"\xFF\", \"response\": \"b\"}\n"); }, "d.jsonl line 1: malformed JSON");
  check_throws_with([&] { demos(good + "{\"prompt\": 1e999, \"response\": \"b\"}\n"); }, "d.jsonl line 2: malformed JSON");
  check_throws_with([&] { demos("\n  \n"); }, "d.jsonl: holds no records");
  check_throws_with([] { juice::read_demonstrations("/nonexistent/demos.jsonl"); }, "/nonexistent/demos.jsonl: cannot be opened");
}

// nlohmann alone stops at a NUL byte (dropping the record after it) and keeps the last of two equal
// keys; both are refused, naming the line.
BOOST_AUTO_TEST_CASE(nul_bytes_and_repeated_keys_are_refused) {
  const std::string good = "{\"prompt\": \"a\", \"response\": \"b\"}";
  check_throws_with([&] { demos(good + "\n" + good + std::string(1, '\0') + good + "\n"); },
                    "d.jsonl line 2: a NUL byte at column " + std::to_string(good.size() + 1));
  check_throws_with([&] { demos(std::string(1, '\0') + "\n"); }, "d.jsonl line 1: a NUL byte at column 1");
  check_throws_with([&] { demos("{\"prompt\": \"a\", \"response\": \"b\", \"prompt\": \"c\"}\n"); },
                    "d.jsonl line 1: the key \"prompt\" appears twice");
  check_throws_with([&] { pairs("{\"prompt\": \"Q\", \"chosen\": \"y\", \"rejected\": \"n\", \"meta\": {\"k\": 1, \"k\": 2}}\n"); },
                    "p.jsonl line 1: the key \"k\" appears twice");
  // Equal keys in different objects are fine.
  BOOST_TEST(demos("{\"prompt\": \"a\", \"response\": \"b\", \"x\": {\"prompt\": 1}}\n").records.size() == 1u);
}

// A line is refused once it is longer than the cap, before the rest of it is read: the stream's
// position shows how far the reader went.
BOOST_AUTO_TEST_CASE(a_line_longer_than_the_cap_is_refused_while_reading) {
  const std::size_t cap = juice::max_jsonl_line_bytes;
  const std::string ok_line = "{\"prompt\": \"" + std::string(cap - 31, 'x') + "\", \"response\": \"b\"}";
  BOOST_REQUIRE(ok_line.size() == cap);
  BOOST_TEST(demos(ok_line + "\n").records.size() == 1u);
  std::istringstream in(ok_line + "\n" + std::string(cap + 1000, ' ') + "\n" + ok_line + "\n");
  juice::test::check_throws_with<juice::data_error>([&] { juice::read_demonstrations(in, "d.jsonl"); },
                                                    "d.jsonl line 2: longer than " + std::to_string(cap) + " bytes");
  BOOST_TEST(static_cast<std::size_t>(in.tellg()) == (cap + 1) + (cap + 1));  // line 1 and its '\n', then cap + 1 bytes of line 2
}

BOOST_AUTO_TEST_CASE(explicit_pairs) {
  const auto set = pairs("{\"prompt\": \"Q\", \"chosen\": \"yes\", \"rejected\": \"no\"}\n");
  BOOST_REQUIRE(set.records.size() == 1u);
  BOOST_TEST(set.records[0].prompt == "Q");
  BOOST_TEST(set.records[0].chosen == "yes");
  BOOST_TEST(set.records[0].rejected == "no");
  check_throws_with([] { pairs("{\"prompt\": \"Q\", \"chosen\": \"yes\", \"rejected\": \"\"}\n"); },
                    "p.jsonl line 1: the field \"rejected\" is empty");
  check_throws_with([] { pairs("{\"prompt\": \"Q\", \"chosen\": null, \"rejected\": \"x\"}\n"); },
                    "p.jsonl line 1: the field \"chosen\" is null, not a string");
  check_throws_with([] { pairs("{\"chosen\": \"a\", \"rejected\": \"b\"}\n", juice::pair_format::explicit_prompt); },
                    "p.jsonl line 1: the field \"prompt\" is missing");
}

BOOST_AUTO_TEST_CASE(anthropic_hh_prompt_is_the_shared_prefix_through_the_last_assistant_marker) {
  const std::string head = "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Tell me a joke.\n\nAssistant:";
  const auto set = pairs(nlohmann::json{{"chosen", head + " Why did..."}, {"rejected", head + " No."}}.dump() + "\n");
  BOOST_REQUIRE(set.records.size() == 1u);
  BOOST_TEST(set.records[0].prompt == head);
  BOOST_TEST(set.records[0].chosen == " Why did...");
  BOOST_TEST(set.records[0].rejected == " No.");
  // A chosen answer that itself quotes the marker is not cut at it.
  const auto quoted = juice::data::split_hh_dialogues(head + " A\n\nAssistant: B", head + " C");
  BOOST_REQUIRE(quoted.has_value());
  BOOST_TEST(quoted->prompt == head);
  BOOST_TEST(quoted->chosen == " A\n\nAssistant: B");
  // Dialogues that part before any assistant turn have no prompt.
  check_throws_with([] { pairs("{\"chosen\": \"\\n\\nHuman: a\\n\\nAssistant: x\", \"rejected\": \"\\n\\nHuman: b\\n\\nAssistant: x\"}\n"); },
                    "p.jsonl line 1: the chosen and rejected dialogues share no prefix ending in");
  check_throws_with([&] { pairs(nlohmann::json{{"chosen", head}, {"rejected", head + " x"}}.dump() + "\n"); },
                    "p.jsonl line 1: the chosen dialogue has an empty final answer");
  check_throws_with([] { pairs("{\"chosen\": \"x\", \"rejected\": 1}\n"); }, "p.jsonl line 1: the field \"rejected\" is number");
}
