// juice/backends/tabular/tabular_policy.hpp
//
// tabular::policy<S, Space>: a softmax policy with one logit vector per state of a tabular space,
//   pi(a|s) = exp(theta[s,a]) / sum_b exp(theta[s,b]),
// exact in double precision (float works too). It satisfies juice::EnumerablePolicy: every response
// can be listed with its probability, which gives the algorithms exact expectations.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "juice/backends/host/host.hpp"
#include "juice/backends/tabular/space.hpp"
#include "juice/concepts/policy.hpp"
#include "juice/core/batch.hpp"
#include "juice/core/error.hpp"
#include "juice/core/parameter.hpp"
#include "juice/core/rng.hpp"

namespace juice::tabular {

// log(exp(acc) + exp(x)) without overflow; -inf is the empty sum.
inline double log_add(double acc, double x) {
  if (acc == -std::numeric_limits<double>::infinity()) return x;
  if (x == -std::numeric_limits<double>::infinity()) return acc;
  const double m = std::max(acc, x);
  return m + std::log1p(std::exp(-std::abs(acc - x)));
}

template <class S, TabularSpace Space>
class policy {
public:
  using scalar_type = S;
  using backend_type = host;
  using space_type = Space;
  using matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

  // The uniform policy (all logits zero).
  explicit policy(Space sp)
      : space_(std::move(sp)), logits_(space_.num_states() * space_.num_actions(), S(0)),
        grad_(logits_.size(), S(0)) {}

  // pi(.|s) = probabilities for every state (must be positive and sum to 1).
  static policy from_probabilities(Space sp, std::span<const double> probabilities) {
    policy p(std::move(sp));
    const std::size_t A = p.space_.num_actions();
    if (probabilities.size() != A)
      throw invalid_argument("juice::tabular::policy::from_probabilities: got " + std::to_string(probabilities.size()) +
                             " probabilities for " + std::to_string(A) + " actions.");
    double total = 0;
    for (double q : probabilities) {
      if (!(q > 0)) throw invalid_argument("juice::tabular::policy::from_probabilities: every probability must be positive.");
      total += q;
    }
    if (std::abs(total - 1) > 1e-9)
      throw invalid_argument("juice::tabular::policy::from_probabilities: the probabilities sum to " +
                             to_text(total) + ", not 1.");
    for (std::size_t s = 0; s < p.space_.num_states(); ++s)
      for (std::size_t a = 0; a < A; ++a) p.logits_[s * A + a] = static_cast<S>(std::log(probabilities[a]));
    return p;
  }

  // The state space.
  [[nodiscard]] const Space& space() const { return space_; }
  // Logits as a (states x actions) matrix view.
  Eigen::Map<matrix> logits() { return {logits_.data(), rows(), cols()}; }
  [[nodiscard]] Eigen::Map<const matrix> logits() const { return {logits_.data(), rows(), cols()}; }
  // Gradient as a (states x actions) matrix view.
  [[nodiscard]] Eigen::Map<const matrix> gradient() const { return {grad_.data(), rows(), cols()}; }

  // log pi(a|s) for every action of state s.
  [[nodiscard]] std::vector<double> log_probabilities(std::size_t s) const {
    const std::size_t A = space_.num_actions();
    const double lse = log_normaliser(s);
    std::vector<double> out(A);
    for (std::size_t a = 0; a < A; ++a) out[a] = static_cast<double>(logits_[s * A + a]) - lse;
    return out;
  }

  // pi(.|s).
  [[nodiscard]] std::vector<double> probabilities(std::size_t s) const {
    auto lp = log_probabilities(s);
    for (double& v : lp) v = std::exp(v);
    return lp;
  }

  // --- juice::Parameterised ---
  std::array<parameter<host, S>, 1> parameters() {
    return {parameter<host, S>{"logits", std::span<S>(logits_), std::span<S>(grad_)}};
  }
  void zero_grad() { std::fill(grad_.begin(), grad_.end(), S(0)); }

  // --- juice::Policy ---
  // The per-state normalisers are computed once per call when the batch has more tokens than the
  // space has states (exact expectations over a tree), else per token; nothing is allocated per token.
  token_values<S> logprobs(const sequence_batch& batch) const {
    token_values<S> out = xt::zeros<S>({batch.rows(), batch.width()});
    const std::size_t A = space_.num_actions();
    if (batch.rows() * batch.width() > space_.num_states()) {
      std::vector<double> lse(space_.num_states());
      for (std::size_t s = 0; s < lse.size(); ++s) lse[s] = log_normaliser(s);
      for (std::size_t b = 0; b < batch.rows(); ++b)
        detail::walk(space_, batch, b, [&](std::size_t t, std::size_t s, std::size_t a) {
          out(b, t) = static_cast<S>(static_cast<double>(logits_[s * A + a]) - lse[s]);
        });
    } else {
      for (std::size_t b = 0; b < batch.rows(); ++b)
        detail::walk(space_, batch, b, [&](std::size_t t, std::size_t s, std::size_t a) {
          out(b, t) = static_cast<S>(static_cast<double>(logits_[s * A + a]) - log_normaliser(s));
        });
    }
    return out;
  }

  // d log pi(a|s) / d theta[s,c] = [a == c] - pi(c|s). The weights are summed per state first, so
  // the softmax of a state is evaluated once per call however many tokens pass through it.
  void backward(const sequence_batch& batch, const token_values<S>& weights) {
    const std::size_t A = space_.num_actions();
    std::vector<double> total(space_.num_states(), 0.0);
    std::vector<char> seen(space_.num_states(), 0);
    std::vector<std::size_t> touched;
    for (std::size_t b = 0; b < batch.rows(); ++b)
      detail::walk(space_, batch, b, [&](std::size_t t, std::size_t s, std::size_t a) {
        const S w = weights(b, t);
        if (w == S(0)) return;
        if (!seen[s]) {
          seen[s] = 1;
          touched.push_back(s);
        }
        total[s] += static_cast<double>(w);
        grad_[s * A + a] += w;
      });
    for (std::size_t s : touched) {
      const double lse = log_normaliser(s);
      for (std::size_t c = 0; c < A; ++c)
        grad_[s * A + c] -= static_cast<S>(total[s] * std::exp(static_cast<double>(logits_[s * A + c]) - lse));
    }
  }

  sequence_batch sample(const sequence_batch& prompts, std::size_t n, rng& g) const {
    const std::size_t P = prompts.rows(), L = space_.max_response_length(), A = space_.num_actions();
    sequence_batch out(P * n, prompts.width() + L);
    std::vector<double> pi(A);
    for (std::size_t p = 0; p < P; ++p)
      for (std::size_t k = 0; k < n; ++k) {
        const std::size_t row = p * n + k;
        copy_prompt(prompts, p, out, row);
        out.weight(row) = prompts.weight(p) / static_cast<double>(n);
        std::optional<std::size_t> s = space_.initial_state(prompts, p);
        auto t = out.prompt_length(row);
        while (s) {
          const double lse = log_normaliser(*s);
          for (std::size_t a = 0; a < A; ++a) pi[a] = std::exp(static_cast<double>(logits_[*s * A + a]) - lse);
          const auto a = static_cast<token_t>(g.categorical(std::span<const double>(pi)));
          out.tokens(row, static_cast<std::size_t>(t++)) = a;
          s = space_.next_state(*s, a);
        }
        out.length(row) = t;
      }
    return out;
  }

  policy snapshot() const { return *this; }

  // --- juice::EnumerablePolicy ---
  // Every complete response, depth first in token order, weight = prompt weight * pi(y|x).
  sequence_batch enumerate(const sequence_batch& prompts) const {
    const std::size_t L = space_.max_response_length();
    std::vector<std::size_t> prompt_of;
    std::vector<token_t> flat;         // L tokens per response (padded with 0)
    std::vector<std::int32_t> length;  // response lengths
    std::vector<double> logp;
    std::vector<token_t> prefix;
    std::vector<double> lse(space_.num_states(), std::numeric_limits<double>::quiet_NaN());
    for (std::size_t p = 0; p < prompts.rows(); ++p) {
      const std::size_t s0 = space_.initial_state(prompts, p);
      expand(p, s0, prefix, 0.0, lse, prompt_of, flat, length, logp);
    }
    const std::size_t R = prompt_of.size();
    sequence_batch out(R, prompts.width() + L);
    for (std::size_t r = 0; r < R; ++r) {
      copy_prompt(prompts, prompt_of[r], out, r);
      const auto pl = static_cast<std::size_t>(out.prompt_length(r));
      std::copy_n(&flat[r * L], static_cast<std::size_t>(length[r]), &out.tokens(r, pl));
      out.length(r) = out.prompt_length(r) + length[r];
      out.weight(r) = prompts.weight(prompt_of[r]) * std::exp(logp[r]);
    }
    return out;
  }

  // Sets the policy (on the states these responses pass through) so that its sequence distribution
  // is exp(logp[r]) over the complete responses `responses` of each prompt: the exact projection of a
  // sequence-level distribution onto per-state conditionals,
  //   theta[s,a] = log sum_{y passing through (s,a)} exp(logp(y))     (up to a constant per state).
  // The responses of each prompt must be all of them (as juice's enumerate() lists them).
  void set_sequence_logprobs(const sequence_batch& responses, std::span<const double> logp) {
    const std::size_t A = space_.num_actions();
    if (logp.size() != responses.rows())
      throw invalid_argument("juice::tabular::policy::set_sequence_logprobs: got " + std::to_string(logp.size()) +
                             " log-probabilities for " + std::to_string(responses.rows()) + " responses.");
    const double ninf = -std::numeric_limits<double>::infinity();
    std::vector<double> mass(logits_.size(), ninf);
    std::vector<char> touched(space_.num_states(), 0);
    for (std::size_t b = 0; b < responses.rows(); ++b)
      detail::walk(space_, responses, b, [&](std::size_t, std::size_t s, std::size_t a) {
        mass[s * A + a] = log_add(mass[s * A + a], logp[b]);
        touched[s] = 1;
      });
    for (std::size_t s = 0; s < space_.num_states(); ++s) {
      if (!touched[s]) continue;
      double top = ninf;
      for (std::size_t a = 0; a < A; ++a) top = std::max(top, mass[s * A + a]);
      for (std::size_t a = 0; a < A; ++a) {
        if (mass[s * A + a] == ninf)
          throw numerical_error("juice::tabular::policy::set_sequence_logprobs: state " + std::to_string(s) +
                                " action " + std::to_string(a) + " gets zero probability; a softmax policy cannot represent it.");
        logits_[s * A + a] = static_cast<S>(mass[s * A + a] - top);
      }
    }
  }

private:
  [[nodiscard]] Eigen::Index rows() const { return static_cast<Eigen::Index>(space_.num_states()); }
  [[nodiscard]] Eigen::Index cols() const { return static_cast<Eigen::Index>(space_.num_actions()); }

  static void copy_prompt(const sequence_batch& from, std::size_t p, sequence_batch& to, std::size_t row) {
    const auto len = from.prompt_length(p);
    std::copy_n(&from.tokens(p, 0), len, &to.tokens(row, 0));
    to.prompt_length(row) = to.length(row) = len;
    to.source(row) = static_cast<std::int32_t>(p);
  }

  // log sum_a exp(theta[s,a]).
  [[nodiscard]] double log_normaliser(std::size_t s) const {
    const std::size_t A = space_.num_actions();
    const S* row = logits_.data() + s * A;
    double top = -std::numeric_limits<double>::infinity();
    for (std::size_t a = 0; a < A; ++a) top = std::max(top, static_cast<double>(row[a]));
    double sum = 0;
    for (std::size_t a = 0; a < A; ++a) sum += std::exp(static_cast<double>(row[a]) - top);
    return top + std::log(sum);
  }

  void expand(std::size_t p, std::size_t s, std::vector<token_t>& prefix, double logp, std::vector<double>& lse,
              std::vector<std::size_t>& prompt_of, std::vector<token_t>& flat, std::vector<std::int32_t>& length,
              std::vector<double>& logps) const {
    const std::size_t A = space_.num_actions(), L = space_.max_response_length();
    if (std::isnan(lse[s])) lse[s] = log_normaliser(s);
    for (std::size_t a = 0; a < A; ++a) {
      const double lp = logp + static_cast<double>(logits_[s * A + a]) - lse[s];
      prefix.push_back(static_cast<token_t>(a));
      const auto next = space_.next_state(s, static_cast<token_t>(a));
      if (next) {
        expand(p, *next, prefix, lp, lse, prompt_of, flat, length, logps);
      } else {
        if (prefix.size() > L)
          throw invalid_argument(
              "juice::tabular::policy::enumerate: a response is longer than the space's "
              "max_response_length() = " +
              std::to_string(L) + ".");
        prompt_of.push_back(p);
        const std::size_t at = flat.size();
        flat.resize(at + L, 0);
        std::copy(prefix.begin(), prefix.end(), flat.begin() + static_cast<std::ptrdiff_t>(at));
        length.push_back(static_cast<std::int32_t>(prefix.size()));
        logps.push_back(lp);
      }
      prefix.pop_back();
    }
  }

  Space space_;
  std::vector<S> logits_;
  std::vector<S> grad_;
};

static_assert(EnumerablePolicy<policy<double, bandit_space>>);
static_assert(EnumerablePolicy<policy<float, bandit_space>>);

}  // namespace juice::tabular
