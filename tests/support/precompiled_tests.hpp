// The precompiled header of the test suite (tests/CMakeLists.txt): the headers most test files
// include and that cost most to parse (Boost.Test, Eigen, xtensor, nlohmann-json, the standard
// library, juice's models and algorithms), parsed once per build instead of once per test file.
// Built by juice_test_support and reused by every test compiled with the same flags. Test files
// still include what they use: the lint build (scripts/lint) compiles them without it.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "juice/juice.hpp"
#include "juice/algorithms/ppo/ppo.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/models/transformer.hpp"
#include "juice/models/transformer_reward.hpp"
