// juice/experiments/ground_truth/task.hpp
//
// What a ground-truth task family provides, and the item it produces. A family draws prompts from a
// seed, computes the correct answer of any of its prompts by a program (the checker: it parses the
// prompt, so the answer never has to be stored), scores a response with the graded true reward r*
// (juice/experiments/ground_truth/graded_credit.hpp) and produces a low-quality answer: the kind of
// wrong answer a careless demonstrator gives, always different from the correct one, so that
// (correct, low-quality) pairs are informative preference pairs.
#pragma once

#include <concepts>
#include <string>
#include <string_view>

#include "juice/core/rng.hpp"

namespace juice::experiments::ground_truth {

// One prompt and its correct answer (text; the byte tokenizer turns both into tokens).
struct task_item {
  std::string prompt;
  std::string answer;
};

// F is a TaskFamily when (f a const F, g a juice::rng, x a prompt, y a response):
//   1. F::name() names the family (a short lower-case word, used in option lists);
//   2. f.draw(g) returns a task_item whose answer is f.answer(prompt);
//   3. f.owns(x) says whether x has the family's prompt format;
//   4. f.answer(x) is the correct answer (throws juice::invalid_argument on a malformed prompt);
//   5. f.low_quality(x, g) is a wrong answer (never equal to f.answer(x));
//   6. f.reward(x, y) is r*(x, y) in [0, 1], 1 exactly for the correct answer.
// Deliberately not required: a finite prompt set, or any particular distribution of prompts.
template <class F>
concept TaskFamily = requires(const F& f, rng& g, std::string_view x) {
  // 1.
  { F::name() } -> std::convertible_to<std::string_view>;
  // 2.
  { f.draw(g) } -> std::same_as<task_item>;
  // 3.
  { f.owns(x) } -> std::same_as<bool>;
  // 4.
  { f.answer(x) } -> std::same_as<std::string>;
  // 5.
  { f.low_quality(x, g) } -> std::same_as<std::string>;
  // 6.
  { f.reward(x, x) } -> std::same_as<double>;
};

}  // namespace juice::experiments::ground_truth
