// juice/diagnostics/stationarity.hpp: running minimum and average of reported squared gradient
// norms, event filtering (IRFT's round starts), and the least-squares log-log slope, against
// hand-computed values.
#include <cmath>

#include <boost/test/unit_test.hpp>

#include "juice/diagnostics/stationarity.hpp"

using namespace juice;

BOOST_AUTO_TEST_CASE(running_min_and_mean) {
  stationarity_tracker all;
  const double v[] = {4, 2, 3, 1, 5};
  for (std::size_t i = 0; i < 5; ++i) all(step_event{"irft", i, 0, i + 1, 0.0, v[i], true});
  const auto& s = all.series();
  BOOST_TEST(s.size() == 5u);
  BOOST_TEST(s.running_min() == (std::vector<double>{4, 2, 2, 1, 1}), boost::test_tools::per_element());
  BOOST_TEST(s.running_mean() == (std::vector<double>{4, 3, 3, 2.5, 3}), boost::test_tools::per_element());
  BOOST_TEST(all.min() == 1.0);
  BOOST_TEST(all.mean() == 3.0);
  BOOST_TEST(s.steps() == (std::vector<std::size_t>{1, 2, 3, 4, 5}), boost::test_tools::per_element());
  BOOST_TEST(std::isnan(stationarity_tracker{}.mean()));
}

BOOST_AUTO_TEST_CASE(filters_keep_the_requested_events) {
  stationarity_tracker starts(event_filter{"irft", true});
  stationarity_tracker reward(event_filter{"rft.reward", false});
  auto feed = [&](const step_event& e) { starts(e); reward(e); };
  feed({"irft", 0, 0, 1, 0.0, 9.0, true});
  feed({"irft", 0, 1, 2, 0.0, 1.0, false});
  feed({"irft", 1, 0, 3, 0.0, 4.0, true});
  feed({"rft.reward", 0, 0, 1, 0.0, 7.0, true});
  feed({"rft.policy", 0, 0, 1, 0.0, 0.0, false});
  BOOST_TEST(starts.series().values() == (std::vector<double>{9, 4}), boost::test_tools::per_element());
  BOOST_TEST(reward.series().values() == (std::vector<double>{7}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(probe_tracker_evaluates_on_accepted_events) {
  int calls = 0;
  probe_tracker probe([&] { return static_cast<double>(++calls); }, event_filter{"irft", false}, 2);
  probe.record(0);  // initial point
  for (std::size_t k = 0; k < 5; ++k) probe(step_event{"irft", 0, k, k + 1, 0.0, 0.0, k == 0});
  probe(step_event{"sft", 0, 0, 1, 0.0, 0.0, false});
  // Recorded at the initial point and at accepted events 0, 2, 4.
  BOOST_TEST(probe.series().values() == (std::vector<double>{1, 2, 3, 4}), boost::test_tools::per_element());
  BOOST_TEST(probe.series().steps() == (std::vector<std::size_t>{0, 1, 3, 5}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(log_log_slope_of_power_laws) {
  // y = 3 x^-0.5 exactly: slope -0.5, intercept log 3, R^2 = 1.
  const std::vector<double> x{10, 100, 1000, 10000};
  std::vector<double> y;
  y.reserve(x.size());
  for (double v : x) y.push_back(3 / std::sqrt(v));
  const auto f = log_log_slope(x, y);
  BOOST_TEST(std::abs(f.slope + 0.5) < 1e-12);
  BOOST_TEST(std::abs(f.intercept - std::log(3.0)) < 1e-12);
  BOOST_TEST(std::abs(f.r_squared - 1) < 1e-12);
  // Hand case: log-points (0, 0), (1, -1), (2, -3) in natural logs: slope = -1.5, intercept = 1/6.
  const double e = std::exp(1.0);
  const auto g = log_log_slope({1, e, e * e}, {1, std::exp(-1.0), std::exp(-3.0)});
  BOOST_TEST(std::abs(g.slope + 1.5) < 1e-12);
  BOOST_TEST(std::abs(g.intercept - 1.0 / 6) < 1e-12);
  BOOST_CHECK_THROW(log_log_slope({1}, {1}), invalid_argument);
  BOOST_CHECK_THROW(log_log_slope({1, 2}, {1, 0}), invalid_argument);
  BOOST_CHECK_THROW(log_log_slope({2, 2}, {1, 3}), invalid_argument);
  BOOST_CHECK_THROW(log_log_slope({1, 2, 3}, {1, 3}), invalid_argument);
}
