// juice/optim/optimizer_state.hpp
//
// An optimizer's state as host data, for checkpoints: which rule it is, the scalar type of its
// moments, the step count, the hyper-parameters by name, and the per-element state as named host
// tensors ("<parameter group>.<slot>", e.g. "parameters.exp_avg"). gradient_descent::export_state
// fills one from wherever the optimizer's buffers live and import_state restores it into a fresh
// optimizer for a model of the same shape; the values are stored in double, which holds float and
// double moments exactly, so a round trip is bit for bit. The transfers go through the backend's
// upload/download when it has them (device memory), or copy host-accessible buffers directly
// (juice::host's std::vector); a backend with neither is refused at compile time with a sentence.
#pragma once

#include <concepts>
#include <cstddef>
#include <map>
#include <ranges>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace juice {

// One named host tensor of an optimizer's state (a flat array; its shape is the parameter group's).
struct optimizer_tensor {
  std::string name;            // "<group>.<slot>", e.g. "parameters.exp_avg"
  std::vector<double> values;  // exact copies of the float or double state
};

// An optimizer's complete state (see the header comment).
struct optimizer_state {
  std::string rule;                       // the update rule's name: "sgd", "adamw"
  std::string scalar;                     // the moments' element type: "float" or "double"
  std::size_t steps = 0;                  // updates taken so far (drives bias corrections and schedules)
  std::map<std::string, double> hyper;    // hyper-parameters by name ("lr", "beta1", ...)
  std::vector<optimizer_tensor> tensors;  // per parameter group, per state slot, in that order
};

// The name optimizer_state::scalar uses for T.
template <class T>
constexpr const char* scalar_name() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "juice: optimizer state is float or double");
  return std::is_same_v<T, float> ? "float" : "double";
}

namespace detail {

// A backend with explicit transfers (TransformerBackend's item 2): device memory.
template <class B, class T>
concept TransferBackend = requires(B& b, typename B::template buffer<T>& buf, const typename B::template buffer<T>& cbuf,
                                   const T* src, T* dst, std::size_t n) {
  b.upload(src, b.data(buf), n);
  b.download(b.data(cbuf), dst, n);
};

// A backend whose buffers are contiguous arrays of T the host may read and write (juice::host).
template <class B, class T>
concept HostBufferBackend = std::ranges::contiguous_range<typename B::template buffer<T>> &&
    std::same_as<std::ranges::range_value_t<typename B::template buffer<T>>, T>;

template <class B, class T>
concept StateTransferable = TransferBackend<B, T> || HostBufferBackend<B, T>;

// The buffer's elements on the host, widened to double (exact for float and double).
template <class B, class T>
std::vector<double> download_state(B& b, const typename B::template buffer<T>& buf) {
  static_assert(StateTransferable<B, T>,
                "juice: exporting optimizer state needs a backend with upload/download (see "
                "juice/concepts/transformer_backend.hpp, item 2) or host-accessible buffers");
  std::vector<T> host(static_cast<std::size_t>(buf.size()));
  if constexpr (TransferBackend<B, T>) {
    if (!host.empty()) b.download(b.data(buf), host.data(), host.size());
  } else {
    std::ranges::copy(buf, host.begin());
  }
  return std::vector<double>(host.begin(), host.end());
}

// Writes `values` (exact copies of T values) into the buffer.
template <class B, class T>
void upload_state(B& b, typename B::template buffer<T>& buf, const std::vector<double>& values) {
  static_assert(StateTransferable<B, T>,
                "juice: importing optimizer state needs a backend with upload/download (see "
                "juice/concepts/transformer_backend.hpp, item 2) or host-accessible buffers");
  std::vector<T> host(values.begin(), values.end());
  if constexpr (TransferBackend<B, T>) {
    if (!host.empty()) b.upload(host.data(), b.data(buf), host.size());
  } else {
    std::ranges::copy(host, std::ranges::begin(buf));
  }
}

}  // namespace detail

}  // namespace juice
