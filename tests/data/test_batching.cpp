// Batching (include/juice/data/batching.hpp) with the byte tokenizer, so every expected token is the
// byte itself: padding, prompt lengths, EOS, start token, prompt truncation and its errors, chunking.
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "juice/core/batch_ops.hpp"
#include "juice/data/data.hpp"
#include "check_throws.hpp"

using juice::test::check_throws_with;

namespace {

juice::demonstration_set three() {
  return {"d.jsonl", {{"ab", "c", 1}, {"abcd", "ef", 2}, {"x", "yz", 5}}};
}

std::vector<int> row(const juice::sequence_batch& b, std::size_t r) {
  std::vector<int> out;
  out.reserve(b.width());
  for (std::size_t t = 0; t < b.width(); ++t) out.push_back(b.tokens(r, t));
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(rows_are_prompt_then_response_right_padded) {
  const juice::byte_tokenizer tok(true);
  juice::batch_options o;
  o.context = 16;
  o.append_eos = true;
  const auto data = juice::tokenize(three(), tok, o);
  const auto batch = juice::make_batch(data, 0, 3);
  juice::validate(batch, "test");
  BOOST_TEST(batch.width() == 7u);  // "abcd" + "ef" + EOS
  BOOST_TEST(row(batch, 0) == (std::vector<int>{'a', 'b', 'c', 256, 0, 0, 0}), boost::test_tools::per_element());
  BOOST_TEST(row(batch, 1) == (std::vector<int>{'a', 'b', 'c', 'd', 'e', 'f', 256}), boost::test_tools::per_element());
  BOOST_TEST(row(batch, 2) == (std::vector<int>{'x', 'y', 'z', 256, 0, 0, 0}), boost::test_tools::per_element());
  BOOST_TEST(batch.prompt_length(0) == 2);
  BOOST_TEST(batch.length(0) == 4);
  BOOST_TEST(batch.prompt_length(1) == 4);
  BOOST_TEST(batch.length(1) == 7);
  BOOST_TEST(batch.is_response(2, 1));
  BOOST_TEST(!batch.is_response(2, 0));
  BOOST_TEST(!batch.is_response(2, 4));
  for (std::size_t b = 0; b < 3; ++b) {
    BOOST_TEST(batch.weight(b) == 1.0 / 3.0);
    BOOST_TEST(batch.source(b) == static_cast<int>(b));
  }
}

BOOST_AUTO_TEST_CASE(minibatches_chunk_in_order_with_a_remainder) {
  const juice::byte_tokenizer tok(false);
  const auto data = juice::tokenize(three(), tok);
  const auto chunks = juice::minibatches(data, 2);
  BOOST_REQUIRE(chunks.size() == 2u);
  BOOST_TEST(chunks[0].rows() == 2u);
  BOOST_TEST(chunks[1].rows() == 1u);
  BOOST_TEST(chunks[0].width() == 6u);
  BOOST_TEST(chunks[1].width() == 3u);  // padded to its own longest row
  BOOST_TEST(chunks[0].weight(1) == 0.5);
  BOOST_TEST(chunks[1].weight(0) == 1.0);
  BOOST_TEST(chunks[1].source(0) == 2);
  check_throws_with([&] { juice::minibatches(data, 0); }, "batch size must be positive");
  check_throws_with([&] { juice::make_batch(data, 2, 2); }, "rows [2, 4)");
}

BOOST_AUTO_TEST_CASE(too_long_rows_are_errors_naming_the_line_unless_truncated) {
  const juice::byte_tokenizer tok(true);
  juice::batch_options o;
  o.context = 5;
  check_throws_with([&] { juice::tokenize(three(), tok, o); },
                    "d.jsonl line 2: prompt (4 tokens) + response (2 tokens) exceed the context of 5 tokens");
  o.truncate_prompt = true;
  auto data = juice::tokenize(three(), tok, o);
  BOOST_TEST(data[1].prompt == (std::vector<juice::token_t>{'b', 'c', 'd'}), boost::test_tools::per_element());
  BOOST_TEST(data[0].prompt == (std::vector<juice::token_t>{'a', 'b'}), boost::test_tools::per_element());
  // A start token survives truncation: 256 + "abcd" -> 256 + "cd" so that 3 + 2 = 5.
  o.bos = 256;
  data = juice::tokenize(three(), tok, o);
  BOOST_TEST(data[1].prompt == (std::vector<juice::token_t>{256, 'c', 'd'}), boost::test_tools::per_element());
  // A response that leaves no room for one prompt token is an error even with truncation.
  o.bos.reset();
  o.context = 2;
  check_throws_with([&] { juice::tokenize(three(), tok, o); },
                    "d.jsonl line 2: prompt (4 tokens) + response (2 tokens) exceed the context of 2 tokens; the "
                    "response alone leaves no room");
}

BOOST_AUTO_TEST_CASE(empty_prompts_need_a_start_token) {
  const juice::byte_tokenizer tok(true);
  const juice::demonstration_set set{"d.jsonl", {{"", "hi", 7}}};
  check_throws_with([&] { juice::tokenize(set, tok); }, "d.jsonl line 7: the prompt is empty");
  juice::batch_options o;
  o.bos = tok.eos();
  const auto batch = juice::make_batch(juice::tokenize(set, tok, o), 0, 1);
  BOOST_TEST(row(batch, 0) == (std::vector<int>{256, 'h', 'i'}), boost::test_tools::per_element());
  BOOST_TEST(batch.prompt_length(0) == 1);
  juice::batch_options eos;
  eos.append_eos = true;
  check_throws_with([&] { juice::tokenize(set, juice::byte_tokenizer(false), eos); }, "the tokenizer has no EOS");
}

BOOST_AUTO_TEST_CASE(pairs_share_the_prompt_and_fit_the_longer_answer) {
  const juice::byte_tokenizer tok(true);
  const juice::preference_set set{"p.jsonl", {{"abc", "x", "yyy", 3}, {"q", "rr", "s", 4}}};
  juice::batch_options o;
  o.context = 5;
  o.truncate_prompt = true;
  const auto data = juice::tokenize(set, tok, o);
  BOOST_TEST(data[0].prompt == (std::vector<juice::token_t>{'b', 'c'}), boost::test_tools::per_element());
  const auto batch = juice::make_batch(data, 0, 2);
  BOOST_TEST(row(batch.chosen, 0) == (std::vector<int>{'b', 'c', 'x'}), boost::test_tools::per_element());
  BOOST_TEST(row(batch.rejected, 0) == (std::vector<int>{'b', 'c', 'y', 'y', 'y'}), boost::test_tools::per_element());
  BOOST_TEST(row(batch.chosen, 1) == (std::vector<int>{'q', 'r', 'r'}), boost::test_tools::per_element());
  BOOST_TEST(batch.chosen.prompt_length(1) == 1);
  BOOST_TEST(batch.rejected.length(1) == 2);
  BOOST_TEST(batch.rows() == 2u);
  BOOST_TEST(batch.weight(1) == 0.5);
  o.truncate_prompt = false;
  check_throws_with([&] { juice::tokenize(set, tok, o); }, "p.jsonl line 3: prompt (3 tokens) + response (3 tokens)");
}
