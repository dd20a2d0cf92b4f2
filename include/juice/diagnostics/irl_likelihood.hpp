// juice/diagnostics/irl_likelihood.hpp
//
// The exact IRL objective l(theta) moved to juice/objectives/irl_likelihood.hpp, a layer that both
// the tabular backend (its regularised optimum) and the diagnostics can include; this header keeps
// the old include path working.
#pragma once

#include "juice/objectives/irl_likelihood.hpp"
