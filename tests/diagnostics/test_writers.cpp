// juice/diagnostics/writers.hpp: CSV output byte for byte (quoting, exact numbers), bad rows
// rejected, JSONL lines that parse back, and the step_event loggers as algorithm observers.
#include <sstream>

#include <boost/test/unit_test.hpp>

#include "juice/algorithms/sft/sft.hpp"
#include "juice/backends/tabular/tabular.hpp"
#include "juice/diagnostics/writers.hpp"
#include "juice/optim/sgd.hpp"
#include "juice_test.hpp"

using namespace juice;

BOOST_AUTO_TEST_CASE(csv_rows_and_quoting) {
  std::ostringstream out;
  csv_writer w(out, {"method", "eps", "value"});
  w.row({std::string("SFT"), 0.25, 3LL});
  w.row({std::string("a,b \"c\""), -1.5, -2LL});
  w.row({std::string("x"), 0.1, 0LL});
  BOOST_TEST(out.str() == "method,eps,value\nSFT,0.25,3\n\"a,b \"\"c\"\"\",-1.5,-2\nx,0.10000000000000001,0\n");
  BOOST_TEST(w.rows() == 3u);
  BOOST_CHECK_THROW(w.row({1.0, 2.0}), invalid_argument);
  BOOST_CHECK_THROW(csv_writer(out, {}), invalid_argument);
  BOOST_TEST(csv_writer::format(std::numeric_limits<double>::quiet_NaN()) == "nan");
  // 17 significant digits read back exactly.
  const double v = 0.1 + 0.2;
  BOOST_TEST(std::stod(csv_writer::format(v)) == v);
}

BOOST_AUTO_TEST_CASE(jsonl_lines_parse_back) {
  std::ostringstream out;
  jsonl_writer w(out);
  w.write({{"a", 1}, {"b", "two"}});
  w.write({{"a", 2.5}});
  std::istringstream in(out.str());
  std::string line;
  std::vector<nlohmann::json> back;
  while (std::getline(in, line)) back.push_back(nlohmann::json::parse(line));
  BOOST_REQUIRE(back.size() == 2u);
  BOOST_TEST(back[0]["b"].get<std::string>() == "two");
  BOOST_TEST(back[1]["a"].get<double>() == 2.5);
  BOOST_TEST(w.lines() == 2u);
}

BOOST_AUTO_TEST_CASE(event_loggers_as_observers) {
  using space = tabular::bandit_space;
  tabular::policy<double, space> pi(space(1, 3));
  const auto demos = test::bandit_rows({{0, 0}, {0, 1}});
  std::ostringstream csv, jsonl;
  csv_writer cw(csv, step_event_columns());
  jsonl_writer jw(jsonl);
  csv_event_logger cl(cw);
  jsonl_event_logger jl(jw);
  sgd opt(sgd_hyper{0.1, 0.0});
  sft_options o;
  o.steps = 3;
  sft(o).run(pi, demos, opt, [&](const step_event& e) { cl(e); jl(e); });
  BOOST_TEST(cw.rows() == 3u);
  BOOST_TEST(jw.lines() == 3u);
  std::istringstream in(jsonl.str());
  std::string line;
  std::size_t k = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    BOOST_TEST(j["algorithm"].get<std::string>() == "sft");
    BOOST_TEST(j["global_step"].get<std::size_t>() == ++k);
  }
  BOOST_TEST(csv.str().rfind("algorithm,round,step,global_step,loss,grad_norm_sq,round_start\nsft,0,0,1,", 0) == 0u);
}
