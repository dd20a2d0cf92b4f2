// What `juice eval` (and `juice train --pairs`, and `juice demo`) measure, from summed response
// log-probs log pi(y|x) (prompt tokens masked, as everywhere in juice):
//   pairs: log pi(chosen) and log pi(rejected), their gap (chosen minus rejected), and, against a
//          reference, the implicit rewards r = beta (log pi - log pi_ref) with TRL's names
//          rewards/chosen, rewards/rejected, rewards/margins and rewards/accuracies (the fraction of
//          pairs whose chosen reward is strictly higher);
//   demonstrations: the negative log-likelihood per demonstration and per response token.
// Scoring runs in minibatches, so memory is set by the batch size, not by the file.
#pragma once

#include <algorithm>
#include <cstddef>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>

#include "data_loading.hpp"
#include "juice/core/batch_ops.hpp"
#include "model_loading.hpp"

namespace juice::cli {

// Summed response log-probs of every row, batch_size rows at a time.
inline std::vector<double> score_demonstrations(const model_type& m, const std::vector<tokenized_demonstration>& rows,
                                                std::size_t batch_size) {
  std::vector<double> out;
  out.reserve(rows.size());
  for (std::size_t first = 0; first < rows.size(); first += batch_size) {
    const sequence_batch b = make_batch(rows, first, std::min(batch_size, rows.size() - first));
    const auto s = sequence_sum(m.logprobs(b), b);
    out.insert(out.end(), s.begin(), s.end());
  }
  return out;
}

struct pair_scores {
  std::vector<double> chosen, rejected;  // log pi(y|x) of each pair's two answers
};

inline pair_scores score_pairs(const model_type& m, const std::vector<tokenized_pair>& rows, std::size_t batch_size) {
  pair_scores out;
  for (std::size_t first = 0; first < rows.size(); first += batch_size) {
    const pair_batch b = make_batch(rows, first, std::min(batch_size, rows.size() - first));
    const auto c = sequence_sum(m.logprobs(b.chosen), b.chosen);
    const auto r = sequence_sum(m.logprobs(b.rejected), b.rejected);
    out.chosen.insert(out.chosen.end(), c.begin(), c.end());
    out.rejected.insert(out.rejected.end(), r.begin(), r.end());
  }
  return out;
}

// The pair metrics as one JSON object (see the header comment); per_pair adds an array with each
// pair's line and values.
inline nlohmann::json pair_summary(const std::vector<tokenized_pair>& rows, const pair_scores& s,
                                   const std::optional<pair_scores>& ref, double beta, bool per_pair) {
  const std::size_t n = rows.size();
  double lc = 0, lr = 0, gap = 0, gap_wins = 0, rc = 0, rr = 0, acc = 0;
  nlohmann::json each = nlohmann::json::array();
  for (std::size_t i = 0; i < n; ++i) {
    lc += s.chosen[i];
    lr += s.rejected[i];
    gap += s.chosen[i] - s.rejected[i];
    gap_wins += s.chosen[i] > s.rejected[i] ? 1 : 0;
    nlohmann::json p{{"line", rows[i].line}, {"logps/chosen", s.chosen[i]}, {"logps/rejected", s.rejected[i]}, {"logp_gap", s.chosen[i] - s.rejected[i]}};
    if (ref) {
      const double c = beta * (s.chosen[i] - ref->chosen[i]), r = beta * (s.rejected[i] - ref->rejected[i]);
      rc += c;
      rr += r;
      acc += c > r ? 1 : 0;
      p["rewards/chosen"] = c;
      p["rewards/rejected"] = r;
      p["rewards/margins"] = c - r;
    }
    if (per_pair) each.push_back(std::move(p));
  }
  const double dn = static_cast<double>(n);
  nlohmann::json out{{"pairs", n}, {"logps/chosen", lc / dn}, {"logps/rejected", lr / dn}, {"logp_gap", gap / dn}, {"logp_gap_accuracy", gap_wins / dn}};
  if (ref) {
    out["beta"] = beta;
    out["rewards/chosen"] = rc / dn;
    out["rewards/rejected"] = rr / dn;
    out["rewards/margins"] = (rc - rr) / dn;
    out["rewards/accuracies"] = acc / dn;
  }
  if (per_pair) out["per_pair"] = std::move(each);
  return out;
}

inline nlohmann::json demonstration_summary(const std::vector<tokenized_demonstration>& rows, const std::vector<double>& logp) {
  double nll = 0, tokens = 0;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    nll -= logp[i];
    tokens += static_cast<double>(rows[i].response.size());
  }
  return {{"demos", rows.size()}, {"nll", nll / static_cast<double>(rows.size())}, {"nll_per_token", nll / tokens}};
}

}  // namespace juice::cli
