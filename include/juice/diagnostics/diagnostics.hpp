// juice/diagnostics/diagnostics.hpp
//
// Convergence and alignment diagnostics: the exact ML-IRL objective and its gradient, the implicit
// reward adapter, stationarity observers and rate fits, alignment metrics. The CSV/JSONL writers are
// separate (juice/diagnostics/writers.hpp) because they need nlohmann-json. See docs/mdp.md.
#pragma once

#include "juice/diagnostics/alignment.hpp"
#include "juice/diagnostics/implicit_reward.hpp"
#include "juice/objectives/irl_likelihood.hpp"
#include "juice/diagnostics/stationarity.hpp"
