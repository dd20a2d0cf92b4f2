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
