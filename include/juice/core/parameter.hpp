// juice/core/parameter.hpp
//
// A named parameter tensor of a model as the optimizers see it: its values and its gradient, both as
// views into the model's backend memory. Models hand out a range of these; optimizers and gradient
// utilities work through the Backend's primitives on them and never see the model.
#pragma once

#include <string>

namespace juice {

template <class Backend, class T>
struct parameter {
  using backend_type = Backend;
  using scalar_type = T;

  std::string name;                          // e.g. "h.3.attn.c_attn.weight"; for messages
  typename Backend::template view<T> value;  // the parameter values
  typename Backend::template view<T> grad;   // its gradient, same size
};

// Hyper-parameters of one SGD update: value -= lr * (grad + weight_decay * value).
struct sgd_hyper {
  double lr = 1e-2;
  double weight_decay = 0;
};

// Hyper-parameters of one AdamW update (decoupled weight decay), with bias corrections for step t
// already folded in: m_hat = m / bias_correction1, v_hat = v / bias_correction2.
struct adamw_hyper {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0;
  double bias_correction1 = 1;
  double bias_correction2 = 1;
};

}  // namespace juice
