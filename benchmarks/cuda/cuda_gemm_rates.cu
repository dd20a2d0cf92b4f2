// cuBLAS GEMM rates on the GPU, the yardsticks of the CUDA backend's targets (fp32 training at
// least half the SGEMM rate; bf16 MFU), and the one JSON object scripts/gpu-check prints.
//   cuda_gemm_rates --devices          exit 0 when a CUDA device is present, else say why and exit 1
//   cuda_gemm_rates [--errors FILE]    validate, time SGEMM and BF16 GEMM (fp32 accumulation) at the
//                                      GPT-2 124M MLP shape (B*T = 16384, C = 768, 4C = 3072), and
//                                      print the JSON object, with FILE's "<check>\t<worst |diff|>"
//                                      lines (the gpu tests' report) as "primitives_max_abs_error"
//   ... --transformer FILE             FILE holds cuda_transformer_bench's JSON object: printed as
//                                      "transformer", with fp32 training's model FLOP rate over the
//                                      SGEMM rate measured here ("fp32_training_over_sgemm"), bf16
//                                      training's MFU ("bf16_training_mfu", against the benchmark's
//                                      assumed peak) and its model FLOP rate over the BF16 GEMM rate
//                                      measured here ("bf16_training_over_bf16_gemm")
// Each product is validated once against a double-precision host product on a few entries before
// it is timed (llm.c's dev/cuda habit): a fast wrong GEMM reports an error, not a rate.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "juice/backends/cuda/error.hpp"

namespace {

struct rate {
  double tflops = 0;
  double max_rel_error = 0;
};

// Row-major out(M,N) = a(M,K) b(N,K)^T, as matmul_forward, in `type` with fp32 accumulation.
rate time_gemm(cublasHandle_t h, cudaStream_t s, cudaDataType_t type, int M, int N, int K) {
  const std::size_t es = type == CUDA_R_32F ? 4 : 2;
  std::mt19937 g(1);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> a(std::size_t(M) * K), b(std::size_t(N) * K);
  for (auto& x : a) x = d(g);
  for (auto& x : b) x = d(g);
  std::vector<unsigned char> ha(a.size() * es), hb(b.size() * es);
  auto pack = [&](const std::vector<float>& src, std::vector<unsigned char>& dst, std::vector<float>& rounded) {
    rounded = src;
    for (std::size_t i = 0; i < src.size(); ++i) {
      if (type == CUDA_R_32F) {
        std::memcpy(dst.data() + 4 * i, &src[i], 4);
      } else {
        const __nv_bfloat16 v = __float2bfloat16(src[i]);
        std::memcpy(dst.data() + 2 * i, &v, 2);
        rounded[i] = __bfloat162float(v);
      }
    }
  };
  std::vector<float> ra, rb;
  pack(a, ha, ra);
  pack(b, hb, rb);
  void *da = nullptr, *db = nullptr, *dc = nullptr;
  JUICE_CUDA_CHECK(cudaMalloc(&da, ha.size()));
  JUICE_CUDA_CHECK(cudaMalloc(&db, hb.size()));
  JUICE_CUDA_CHECK(cudaMalloc(&dc, std::size_t(M) * N * 4));
  JUICE_CUDA_CHECK(cudaMemcpy(da, ha.data(), ha.size(), cudaMemcpyHostToDevice));
  JUICE_CUDA_CHECK(cudaMemcpy(db, hb.data(), hb.size(), cudaMemcpyHostToDevice));
  const float one = 1, zero = 0;
  auto run = [&] {  // column-major out^T(N,M) = op(b) a^T, op = T on b's column-major (K,N) view
    JUICE_CUDA_CHECK(cublasGemmEx(h, CUBLAS_OP_T, CUBLAS_OP_N, N, M, K, &one, db, type, K, da, type, K, &zero, dc,
                                  CUDA_R_32F, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  };
  run();
  std::vector<float> c(std::size_t(M) * N);
  JUICE_CUDA_CHECK(cudaMemcpy(c.data(), dc, c.size() * 4, cudaMemcpyDeviceToHost));
  rate r;
  for (int t = 0; t < 64; ++t) {
    const int i = int(g() % unsigned(M)), j = int(g() % unsigned(N));
    double want = 0, mag = 0;
    for (int k = 0; k < K; ++k) {
      want += double(ra[std::size_t(i) * K + k]) * rb[std::size_t(j) * K + k];
      mag += std::abs(double(ra[std::size_t(i) * K + k]) * rb[std::size_t(j) * K + k]);
    }
    r.max_rel_error = std::max(r.max_rel_error, std::abs(c[std::size_t(i) * N + j] - want) / mag);
  }
  cudaEvent_t e0, e1;
  JUICE_CUDA_CHECK(cudaEventCreate(&e0));
  JUICE_CUDA_CHECK(cudaEventCreate(&e1));
  for (int w = 0; w < 5; ++w) run();
  const int reps = 50;
  JUICE_CUDA_CHECK(cudaEventRecord(e0, s));
  for (int w = 0; w < reps; ++w) run();
  JUICE_CUDA_CHECK(cudaEventRecord(e1, s));
  JUICE_CUDA_CHECK(cudaEventSynchronize(e1));
  float ms = 0;
  JUICE_CUDA_CHECK(cudaEventElapsedTime(&ms, e0, e1));
  r.tflops = 2.0 * M * N * K * reps / (ms * 1e-3) / 1e12;
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
  return r;
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\';
    if (static_cast<unsigned char>(ch) >= 0x20) o += ch;
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  std::string errors_file, transformer_file;
  bool devices_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--devices") devices_only = true;
    else if (a == "--errors" && i + 1 < argc) errors_file = argv[++i];
    else if (a == "--transformer" && i + 1 < argc) transformer_file = argv[++i];
    else {
      std::fprintf(stderr, "cuda_gemm_rates: unknown argument '%s' (use --devices, --errors FILE, --transformer FILE)\n", a.c_str());
      return 2;
    }
  }
  int count = 0;
  const cudaError_t st = cudaGetDeviceCount(&count);
  if (st != cudaSuccess || count == 0) {
    std::fprintf(stderr, "cuda_gemm_rates: no CUDA device (cudaGetDeviceCount: %s, %d devices)\n",
                 st == cudaSuccess ? "success" : cudaGetErrorName(st), count);
    return 1;
  }
  if (devices_only) return 0;
  try {
    cudaDeviceProp prop{};
    JUICE_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    cudaStream_t s;
    JUICE_CUDA_CHECK(cudaStreamCreate(&s));
    cublasHandle_t h;
    JUICE_CUDA_CHECK(cublasCreate(&h));
    JUICE_CUDA_CHECK(cublasSetStream(h, s));
    const int M = 16384, N = 3072, K = 768;
    const rate f32 = time_gemm(h, s, CUDA_R_32F, M, N, K);
    const rate bf16 = time_gemm(h, s, CUDA_R_16BF, M, N, K);
    std::ostringstream out;
    out.precision(6);
    char date[32];
    const std::time_t now = std::time(nullptr);
    std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
    out << "{\"date\": \"" << date << "\", \"device\": \"" << json_escape(prop.name) << "\", \"gpu_tests\": \"passed\",\n";
    out << " \"primitives_max_abs_error\": {";
    if (!errors_file.empty()) {
      std::ifstream in(errors_file);
      std::string line;
      bool first = true;
      while (std::getline(in, line)) {
        const auto tab = line.find('\t');
        if (tab == std::string::npos) continue;
        out << (first ? "\n  " : ",\n  ") << '"' << json_escape(line.substr(0, tab)) << "\": " << line.substr(tab + 1);
        first = false;
      }
    }
    out << "},\n \"gemm\": {\"shape_mnk\": [" << M << ", " << N << ", " << K << "], \"sgemm_tflops\": " << f32.tflops
        << ", \"sgemm_max_rel_error\": " << f32.max_rel_error << ", \"bf16_tflops\": " << bf16.tflops
        << ", \"bf16_max_rel_error\": " << bf16.max_rel_error << "},\n";
    std::string transformer;
    if (!transformer_file.empty()) {
      std::ifstream in(transformer_file);
      std::ostringstream text;
      text << in.rdbuf();
      transformer = text.str();
      while (!transformer.empty() && std::isspace(static_cast<unsigned char>(transformer.back()))) transformer.pop_back();
    }
    if (transformer.empty()) {
      out << " \"transformer\": null, \"transformer_reason\": \"no whole-model benchmark result (cuda_transformer_bench "
             "failed or was not run)\"}\n";
    } else {
      out << " \"transformer\": " << transformer;
      // A number of the benchmark's object by its (unique) key, or NaN.
      const auto number = [&transformer](const std::string& name) {
        const std::string key = "\"" + name + "\": ";
        const auto at = transformer.find(key);
        return at == std::string::npos ? std::nan("") : std::strtod(transformer.c_str() + at + key.size(), nullptr);
      };
      const double fp32_tflops = number("fp32_model_tflops"), bf16_tflops = number("bf16_model_tflops");
      if (std::isfinite(fp32_tflops) && f32.tflops > 0)
        out << ",\n \"fp32_training_over_sgemm\": " << fp32_tflops / f32.tflops;
      const double bf16_mfu = number("bf16_training_mfu");
      if (std::isfinite(bf16_mfu)) out << ",\n \"bf16_training_mfu\": " << bf16_mfu;
      if (std::isfinite(bf16_tflops) && bf16.tflops > 0)
        out << ", \"bf16_training_over_bf16_gemm\": " << bf16_tflops / bf16.tflops;
      out << "}\n";
    }
    cublasDestroy(h);
    cudaStreamDestroy(s);
    if (f32.max_rel_error > 1e-4 || bf16.max_rel_error > 2e-2) {
      std::fprintf(stderr, "cuda_gemm_rates: a GEMM failed validation (relative errors %g, %g)\n", f32.max_rel_error,
                   bf16.max_rel_error);
      std::fputs(out.str().c_str(), stdout);
      return 1;
    }
    std::fputs(out.str().c_str(), stdout);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cuda_gemm_rates: %s\n", e.what());
    return 1;
  }
  return 0;
}
