// Must not compile: a transformer on a backend that lacks one TransformerBackend primitive
// (gelu_backward is hidden by a deleted overload).
#include "juice/backends/cpu/cpu.hpp"
#include "juice/models/transformer.hpp"

struct backend_without_gelu_backward : juice::cpu {
  static void gelu_backward() = delete;
};

int main() {
  juice::transformer<backend_without_gelu_backward, float> m(juice::transformer_config{});
  (void)m;
}
