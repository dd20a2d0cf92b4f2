// The CPU backend's thread policy (juice/backends/cpu/parallel.hpp, thread_count.hpp): Eigen never
// threads a product inside juice's kernels (its spinning threads stall on a busy machine), and the
// default thread count follows the step's size, the affinity mask and the cgroup's CPU quota.
#include <boost/test/unit_test.hpp>

#include <sched.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include <Eigen/Core>

#include "juice/backends/cpu/cpu.hpp"

using namespace juice;

namespace {

// Runs f with two OpenMP threads and Eigen's count left to follow OpenMP (as a program that never
// called Eigen::setNbThreads), restoring both afterwards.
template <class F>
void with_two_threads(F&& f) {
  const int before = cpu::num_threads();
  cpu::set_num_threads(2);
  f();
  cpu::set_num_threads(before);
}

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("juice-threads-test-" + std::to_string(rd()));
    std::filesystem::create_directories(path / "cpu");
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  temp_dir(temp_dir&&) = delete;
  temp_dir& operator=(temp_dir&&) = delete;
  void write(const std::string& name, const std::string& text) const { std::ofstream(path / name) << text; }
};

}  // namespace

#if defined(_OPENMP)

BOOST_AUTO_TEST_CASE(serial_eigen_keeps_eigen_on_one_thread_and_restores_the_counts) {
  with_two_threads([] {
    BOOST_TEST(Eigen::nbThreads() == 2);  // Eigen follows OpenMP's count: it would thread a product
    {
      const cpu_kernels::serial_eigen serial;
      BOOST_TEST(Eigen::nbThreads() == 1);
    }
    BOOST_TEST(cpu::num_threads() == 2);
    BOOST_TEST(Eigen::nbThreads() == 2);
    // A program that fixed Eigen's count itself gets it back too.
    Eigen::setNbThreads(3);
    {
      const cpu_kernels::serial_eigen serial;
      BOOST_TEST(Eigen::nbThreads() == 1);
    }
    BOOST_TEST(Eigen::nbThreads() == 3);
    Eigen::setNbThreads(0);  // back to following OpenMP
  });
}

// Wherever a kernel hands a block to Eigen, Eigen sees either a team of several threads (then it
// stays serial by itself) or a count of one: never a lone thread that may fork.
BOOST_AUTO_TEST_CASE(parallel_blocks_never_lets_eigen_fork) {
  with_two_threads([] {
    for (const double work : {1e3, 1e5, double(1 << 19) - 1, 1e9}) {
      std::atomic<int> blocks{0}, forkable{0};
      cpu_kernels::parallel_blocks(4096, work, [&](std::ptrdiff_t, std::ptrdiff_t) {
        ++blocks;
        if (omp_get_num_threads() == 1 && Eigen::nbThreads() > 1) ++forkable;
      });
      BOOST_TEST_INFO("work " << work);
      BOOST_TEST(blocks.load() >= 1);
      BOOST_TEST(forkable.load() == 0);
    }
    BOOST_TEST(Eigen::nbThreads() == 2);  // and the caller's setting is back
  });
}

#endif

BOOST_AUTO_TEST_CASE(usable_cores_follow_the_affinity_mask) {
  const int all = cpu::usable_cores();
  BOOST_TEST(all >= 1);
  cpu_set_t mask;
  CPU_ZERO(&mask);
  BOOST_REQUIRE(sched_getaffinity(0, sizeof(mask), &mask) == 0);
  int first = 0;
  while (!CPU_ISSET(first, &mask)) ++first;
  int seen = 0;
  std::thread t([&] {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    if (sched_setaffinity(0, sizeof(one), &one) == 0) seen = cpu::usable_cores();  // this thread only
  });
  t.join();
  BOOST_TEST(seen == 1);
  BOOST_TEST(cpu::usable_cores() == all);  // the main thread's mask is unchanged
}

BOOST_AUTO_TEST_CASE(cgroup_quota_is_read_in_cores_rounded_up) {
  {
    const temp_dir d;  // cgroup v2
    d.write("cpu.max", "150000 100000\n");
    BOOST_TEST(cpu_kernels::detail::cgroup_cpu_quota(d.path) == 2);
    d.write("cpu.max", "50000 100000\n");
    BOOST_TEST(cpu_kernels::detail::cgroup_cpu_quota(d.path) == 1);
    d.write("cpu.max", "max 100000\n");
    BOOST_TEST(cpu_kernels::detail::cgroup_cpu_quota(d.path) == 0);
    d.write("cpu.max", "garbage\n");
    BOOST_TEST(cpu_kernels::detail::cgroup_cpu_quota(d.path) == 0);
  }
  {
    const temp_dir d;  // cgroup v1
    d.write("cpu/cpu.cfs_quota_us", "400000\n");
    d.write("cpu/cpu.cfs_period_us", "100000\n");
    BOOST_TEST(cpu_kernels::detail::cgroup_cpu_quota(d.path) == 4);
    d.write("cpu/cpu.cfs_quota_us", "-1\n");
    BOOST_TEST(cpu_kernels::detail::cgroup_cpu_quota(d.path) == 0);
  }
  const temp_dir none;
  BOOST_TEST(cpu_kernels::detail::cgroup_cpu_quota(none.path) == 0);
}

BOOST_AUTO_TEST_CASE(default_threads_is_one_for_small_steps) {
  BOOST_TEST(cpu::default_threads(0) == 1);
  BOOST_TEST(cpu::default_threads(cpu_kernels::small_step_flops / 2) == 1);
  BOOST_TEST(cpu::default_threads(cpu_kernels::small_step_flops) == cpu::usable_cores());
  BOOST_TEST(cpu::default_threads(1e15) == cpu::usable_cores());
}
