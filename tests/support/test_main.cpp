// Boost.Test's main() for every test executable that juice_add_test builds (tests/CMakeLists.txt),
// compiled once into juice_test_support instead of once per test file. The master test suite takes
// the executable's name (test_transformer, ...), so reports read as when each file was its own module.
#include <boost/test/unit_test.hpp>

#include <filesystem>

namespace {

bool init_juice_test() {
  auto& suite = boost::unit_test::framework::master_test_suite();
  if (suite.argc > 0) suite.p_name.value = std::filesystem::path(suite.argv[0]).filename().string();
  return true;
}

}  // namespace

int main(int argc, char* argv[]) { return boost::unit_test::unit_test_main(&init_juice_test, argc, argv); }
