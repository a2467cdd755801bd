// Matrix products of a few rows by a pre-packed weight matrix, for decoding on x86 CPUs.
//
// out[M, N] = x[M, K] · w[K, N], with w packed once (few_rows.py) as panels [N / 8, K, 8]:
// panel p holds columns 8p .. 8p + 7 of every row of w, so a tile reads its weights as
// sequential streams. x is first copied as blocks of 8 rows laid out [K, 8], so the 8
// values a step of a tile broadcasts share one cache line. A tile keeps MR rows × NV panels
// of the output in AVX registers (at most 12 of the 16) and runs down K with one broadcast
// per row and one load per panel: 8 rows × 1 panel for full blocks, wider tiles for the
// rows of a last, partial block, so the fused multiply-adds have independent chains to
// overlap. The panels are cut into chunks that the calling thread and up to `threads` - 1
// helper threads (Helpers) take in turn; every chunk covers all rows, so each weight is
// read once per call whatever the number of rows. Built by few_rows.py with
// -march=native and used only on CPUs that report AVX2 and FMA.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int64_t kPanel = 8;        // columns per panel: one AVX register of float32
constexpr int64_t kChunkPanels = 12;  // a multiple of every tile width below (1, 2, 3, 4)

// out[0..MR) × [0, 8 NV) for rows stored [K, 8] in xt.
template <int MR, int NV>
inline void Tile(int64_t k_size, const float* __restrict xt, const float* __restrict panels,
                 float* __restrict out, int64_t ldo) {
  __m256 acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) acc[i][j] = _mm256_setzero_ps();
  }
  for (int64_t k = 0; k < k_size; ++k) {
    __m256 w[NV];
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) w[j] = _mm256_loadu_ps(panels + j * k_size * kPanel + k * kPanel);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const __m256 a = _mm256_broadcast_ss(xt + k * kPanel + i);
#pragma GCC unroll 8
      for (int j = 0; j < NV; ++j) acc[i][j] = _mm256_fmadd_ps(a, w[j], acc[i][j]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < NV; ++j) _mm256_storeu_ps(out + i * ldo + kPanel * j, acc[i][j]);
  }
}

// Panels [first, last) for MR rows: NV panels at a time, then one at a time.
template <int MR, int NV>
void Panels(int64_t k_size, int64_t first, int64_t last, const float* xt, const float* packed,
            float* out, int64_t ldo) {
  int64_t p = first;
  for (; p + NV <= last; p += NV) {
    Tile<MR, NV>(k_size, xt, packed + p * k_size * kPanel, out + p * kPanel, ldo);
  }
  for (; p < last; ++p) {
    Tile<MR, 1>(k_size, xt, packed + p * k_size * kPanel, out + p * kPanel, ldo);
  }
}

struct Product {
  int64_t m_size, k_size, n_panels, chunks;
  std::vector<float> xt;  // x as blocks of 8 rows, [ceil(M / 8), K, 8]
  const float* packed;
  float* out;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};

  void Chunk(int64_t c) const {
    const int64_t first = c * kChunkPanels;
    const int64_t last = std::min(n_panels, first + kChunkPanels);
    const int64_t ldo = n_panels * kPanel;
    for (int64_t m = 0; m < m_size; m += 8) {
      const float* block = xt.data() + (m / 8) * k_size * 8;
      float* o = out + m * ldo;
      switch (std::min<int64_t>(8, m_size - m)) {
        case 1: Panels<1, 4>(k_size, first, last, block, packed, o, ldo); break;
        case 2: Panels<2, 4>(k_size, first, last, block, packed, o, ldo); break;
        case 3: Panels<3, 4>(k_size, first, last, block, packed, o, ldo); break;
        case 4: Panels<4, 3>(k_size, first, last, block, packed, o, ldo); break;
        case 5: Panels<5, 2>(k_size, first, last, block, packed, o, ldo); break;
        case 6: Panels<6, 2>(k_size, first, last, block, packed, o, ldo); break;
        case 7: Panels<7, 1>(k_size, first, last, block, packed, o, ldo); break;
        default: Panels<8, 1>(k_size, first, last, block, packed, o, ldo); break;
      }
    }
  }

  // Takes chunks until none is left; a thread that starts late finds none and returns.
  void Work() {
    for (int64_t c = next.fetch_add(1); c < chunks; c = next.fetch_add(1)) {
      Chunk(c);
      done.fetch_add(1, std::memory_order_release);
    }
  }
};

// Helper threads that stay awake between the many small products of a decode step: after
// a product each spins for a while (kSpin) waiting for the next before it sleeps. One
// product at a time uses them; a caller that finds them taken (another device's thread)
// works alone.
class Helpers {
 public:
  static Helpers& Get() {
    static Helpers* helpers = new Helpers();  // never destroyed: its threads outlive main
    return *helpers;
  }

  // Runs `product` on the calling thread and up to `wanted` - 1 helpers.
  void Run(const std::shared_ptr<Product>& product, int64_t wanted) {
    std::unique_lock<std::mutex> running(run_, std::try_to_lock);
    if (running.owns_lock() && wanted > 1) {
      Start(std::min<int64_t>(wanted - 1, kMaxHelpers));
      {
        std::lock_guard<std::mutex> lock(mutex_);
        job_ = product;
        generation_.fetch_add(1, std::memory_order_release);
      }
      wake_.notify_all();
    }
    product->Work();
    while (product->done.load(std::memory_order_acquire) < product->chunks) _mm_pause();
  }

 private:
  static constexpr int64_t kMaxHelpers = 63;
  static constexpr auto kSpin = std::chrono::microseconds(300);

  void Start(int64_t count) {
    while (static_cast<int64_t>(threads_.size()) < count) {
      threads_.emplace_back([this] { Loop(); });
      threads_.back().detach();
    }
  }

  void Loop() {
    uint64_t seen = generation_.load(std::memory_order_acquire);
    for (;;) {
      const auto until = std::chrono::steady_clock::now() + kSpin;
      while (generation_.load(std::memory_order_acquire) == seen &&
             std::chrono::steady_clock::now() < until) {
        _mm_pause();
      }
      std::shared_ptr<Product> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        seen = generation_.load(std::memory_order_acquire);
        job = job_;
      }
      job->Work();  // a job already finished has no chunk left: returns at once
    }
  }

  std::mutex run_;    // held by the one caller using the helpers
  std::mutex mutex_;  // guards job_
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0};
  std::shared_ptr<Product> job_;
  std::vector<std::thread> threads_;
};

ffi::Error FewRowsImpl(ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> packed,
                       ffi::ResultBuffer<ffi::F32> out, int64_t threads) {
  const auto xd = x.dimensions();
  const auto pd = packed.dimensions();
  if (xd.size() < 1 || pd.size() != 3 || pd[2] != kPanel) {
    return ffi::Error::InvalidArgument("few_rows_matmul: x [..., K] and packed [N/8, K, 8]");
  }
  const int64_t k_size = xd.back();
  if (pd[1] != k_size) {
    return ffi::Error::InvalidArgument("few_rows_matmul: x's last dimension is not packed's K");
  }
  if (k_size == 0) {  // an empty sum: zeros
    std::fill(out->typed_data(), out->typed_data() + out->element_count(), 0.0f);
    return ffi::Error::Success();
  }
  auto product = std::make_shared<Product>();
  Product& p = *product;
  p.m_size = static_cast<int64_t>(x.element_count()) / k_size;
  p.k_size = k_size;
  p.n_panels = pd[0];
  p.chunks = (p.n_panels + kChunkPanels - 1) / kChunkPanels;
  p.packed = packed.typed_data();
  p.out = out->typed_data();
  p.xt.assign(((p.m_size + 7) / 8) * k_size * 8, 0.0f);
  const float* rows = x.typed_data();
  for (int64_t m = 0; m < p.m_size; ++m) {
    float* block = p.xt.data() + (m / 8) * k_size * 8 + (m % 8);
    for (int64_t k = 0; k < k_size; ++k) block[k * 8] = rows[m * k_size + k];
  }
  Helpers::Get().Run(product, std::min(threads, p.chunks));
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(TunixRtFewRowsMatmul, FewRowsImpl,
                              ffi::Ffi::Bind()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("threads"));
