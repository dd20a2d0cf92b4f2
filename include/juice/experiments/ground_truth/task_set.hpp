// juice/experiments/ground_truth/task_set.hpp
//
// A mixture of ground-truth task families: prompts are drawn from a family chosen uniformly, and
// the checker of a prompt is the family whose format it has (formats are disjoint), so the true
// reward r*(x, y) of any prompt of the mixture is one call. Families are named by their name()
// ("add", "sort", "reverse").
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "juice/core/error.hpp"
#include "juice/core/rng.hpp"
#include "juice/experiments/ground_truth/addition.hpp"
#include "juice/experiments/ground_truth/reversal.hpp"
#include "juice/experiments/ground_truth/sorting.hpp"
#include "juice/experiments/ground_truth/task.hpp"

namespace juice::experiments::ground_truth {

using any_task = std::variant<addition_task, sorting_task, reversal_task>;

// The names task_set accepts, in order.
inline std::vector<std::string> task_names() { return {"add", "sort", "reverse"}; }

class task_set {
public:
  // The families named (each at its default settings); throws on an unknown or repeated name.
  explicit task_set(const std::vector<std::string>& names) {
    if (names.empty()) throw invalid_argument("juice::ground_truth::task_set: no task family given; choose from add, sort, reverse.");
    for (const auto& n : names) {
      any_task t = make(n);
      for (const auto& have : tasks_)
        if (name_of(have) == n) throw invalid_argument("juice::ground_truth::task_set: task family '" + n + "' is listed twice.");
      tasks_.push_back(t);
    }
  }
  explicit task_set(std::vector<any_task> tasks) : tasks_(std::move(tasks)) {
    if (tasks_.empty()) throw invalid_argument("juice::ground_truth::task_set: no task family given.");
  }

  [[nodiscard]] std::size_t size() const { return tasks_.size(); }

  // A prompt of a uniformly chosen family, with its correct answer.
  [[nodiscard]] task_item draw(rng& g) const {
    const auto& t = tasks_[static_cast<std::size_t>(g.below(tasks_.size()))];
    return std::visit([&](const auto& f) { return f.draw(g); }, t);
  }

  [[nodiscard]] std::string answer(std::string_view x) const {
    return std::visit([&](const auto& f) { return f.answer(x); }, owner(x));
  }
  [[nodiscard]] std::string low_quality(std::string_view x, rng& g) const {
    return std::visit([&](const auto& f) { return f.low_quality(x, g); }, owner(x));
  }
  // r*(x, y) in [0, 1].
  [[nodiscard]] double reward(std::string_view x, std::string_view y) const {
    return std::visit([&](const auto& f) { return f.reward(x, y); }, owner(x));
  }
  // The family name of prompt x.
  [[nodiscard]] std::string family(std::string_view x) const { return name_of(owner(x)); }

private:
  static any_task make(const std::string& n) {
    if (n == addition_task::name()) return addition_task{};
    if (n == sorting_task::name()) return sorting_task{};
    if (n == reversal_task::name()) return reversal_task{};
    throw invalid_argument("juice::ground_truth::task_set: unknown task family '" + n + "'; choose from add, sort, reverse.");
  }
  static std::string name_of(const any_task& t) {
    return std::visit([](const auto& f) { return std::string(std::decay_t<decltype(f)>::name()); }, t);
  }
  const any_task& owner(std::string_view x) const {
    for (const auto& t : tasks_)
      if (std::visit([&](const auto& f) { return f.owns(x); }, t)) return t;
    throw invalid_argument("juice::ground_truth::task_set: no task family of this set recognises the prompt '" + std::string(x) + "'.");
  }

  std::vector<any_task> tasks_;
};

}  // namespace juice::experiments::ground_truth
