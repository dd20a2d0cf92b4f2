// tests/optim: the smallest Parameterised model for optimizer tests: two tensors on the host (3 and
// 1 elements, double), optionally also offered as one flat block (FlatParameterised), so that the
// per-tensor and the fused paths of an optimizer can be compared on the same numbers.
#pragma once

#include <algorithm>
#include <array>
#include <span>
#include <vector>

#include "juice/backends/host/host.hpp"
#include "juice/concepts/parameterised.hpp"

namespace juice::test {

template <bool Flat>
struct two_tensor_model {
  using scalar_type = double;
  using backend_type = host;
  std::vector<double> value{1, -2, 3, 4}, grad{0.5, 0.25, -1, 2};
  std::array<parameter<host, double>, 2> parameters() {
    return {parameter<host, double>{"a", std::span(value).first(3), std::span(grad).first(3)},
            parameter<host, double>{"b", std::span(value).last(1), std::span(grad).last(1)}};
  }
  host backend() const { return {}; }
  parameter<host, double> parameter_block() requires Flat { return {"all", std::span(value), std::span(grad)}; }
  void zero_grad() { std::fill(grad.begin(), grad.end(), 0.0); }
};
static_assert(!FlatParameterised<two_tensor_model<false>> && FlatParameterised<two_tensor_model<true>>);

}  // namespace juice::test
