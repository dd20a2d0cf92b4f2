// juice/backends/cuda/device_span.hpp
//
// juice::device_span<T>: the view type of the device backends (juice::cuda, juice::thrust_omp_backend),
// a pointer and an element count that never dereferences on the host, because on the GPU the memory
// is not the host's. device_span<T> converts to device_span<const T> as T* converts to const T*.
#pragma once

#include <cstddef>
#include <type_traits>

namespace juice {

template <class T>
class device_span {
public:
  device_span() = default;
  device_span(T* p, std::size_t n) : p_(p), n_(n) {}
  template <class U>
  requires(std::is_const_v<T>&& std::is_same_v<const U, T>)
      device_span(device_span<U> o) : p_(o.data()), n_(o.size()) {}  // NOLINT: implicit, like T* -> const T*

  [[nodiscard]] T* data() const { return p_; }           // the device address of element 0
  [[nodiscard]] std::size_t size() const { return n_; }  // element count

private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

}  // namespace juice
