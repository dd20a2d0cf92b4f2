// The juice tool's precompiled header (tools/juice/CMakeLists.txt): the third-party and juice
// headers most of its commands include, parsed once per build instead of once per command. Each
// source still includes what it uses: the lint build (scripts/lint) compiles them without it.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "juice/algorithms/ppo/ppo.hpp"
#include "juice/backends/cpu/cpu.hpp"
#include "juice/io/hf_gpt2.hpp"
#include "juice/models/transformer.hpp"
#include "juice/models/transformer_reward.hpp"
