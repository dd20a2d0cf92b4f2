// Must compile: the same backend with every primitive.
#include "juice/backends/cpu/cpu.hpp"
#include "juice/models/transformer.hpp"

struct backend_with_every_primitive : juice::cpu {};

int main() {
  juice::transformer<backend_with_every_primitive, float> m(juice::transformer_config{});
  (void)m;
}
