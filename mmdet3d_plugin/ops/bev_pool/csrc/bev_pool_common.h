// Helpers shared by the CPU BEV pooling kernels.
#pragma once
#include <ATen/Parallel.h>
#include <torch/extension.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

namespace bev_pool_detail {

constexpr int64_t kPrefetchDistance = 8;  // rows ahead whose memory is prefetched

// Linear cell index ((b * Z + z) * Y + y) * X + x of one [b, z, y, x] row.
template <typename index_t>
inline int64_t cell_of(const index_t* c, int64_t num_z, int64_t num_y, int64_t num_x) {
  return ((static_cast<int64_t>(c[0]) * num_z + c[1]) * num_y + c[2]) * num_x + c[3];
}

template <typename scalar_t>
inline void prefetch_row(const scalar_t* row, int64_t channels, bool for_write) {
  const char* p = reinterpret_cast<const char*>(row);
  const int64_t bytes = channels * static_cast<int64_t>(sizeof(scalar_t));
  for (int64_t off = 0; off < bytes; off += 64) {
    if (for_write) {
      __builtin_prefetch(p + off, 1, 3);
    } else {
      __builtin_prefetch(p + off, 0, 3);
    }
  }
}

inline void check_dense(const at::Tensor& t, int64_t dim, const char* name) {
  TORCH_CHECK(t.dim() == dim, "bev_pool: ", name, " must be ", dim, "-D, got ", t.sizes());
  TORCH_CHECK(t.is_contiguous(), "bev_pool: ", name, " must be contiguous");
}

inline void check_index(const at::Tensor& t, int64_t dim, int64_t rows, const char* name) {
  check_dense(t, dim, name);
  TORCH_CHECK(t.scalar_type() == at::kInt || t.scalar_type() == at::kLong, "bev_pool: ", name,
              " must be int32 or int64, got ", t.scalar_type());
  TORCH_CHECK(t.size(0) == rows, "bev_pool: ", name, " has ", t.size(0), " rows, expected ", rows);
}

// First row (in row order) with a value outside [0, limits[k]) in column k, or -1.
// Never throws: callers build the error message, so no C++ exception has to cross the
// parallel region or the Python boundary.
template <typename index_t>
int64_t first_out_of_range(const index_t* values, int64_t rows, int64_t cols,
                           const int64_t* limits) {
  std::atomic<int64_t> first{rows};
  at::parallel_for(0, rows, 1 << 15, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end && i < first.load(std::memory_order_relaxed); ++i) {
      for (int64_t k = 0; k < cols; ++k) {
        const int64_t v = values[cols * i + k];
        if (v < 0 || v >= limits[k]) {
          int64_t seen = first.load();
          while (i < seen && !first.compare_exchange_weak(seen, i)) {
          }
          return;
        }
      }
    }
  });
  const int64_t row = first.load();
  return row == rows ? -1 : row;
}

// dst[dst_row(i)] += weight(i) * src[src_row(i)] for i in [0, n).
// Points are split into one contiguous chunk per thread; chunk 0 writes into `dst`, the others
// into private zeroed copies summed in at the end, so no atomics are needed and, for a fixed
// thread count, the summation order (and result) is deterministic. Rows of points a few steps
// ahead are prefetched: the scatter is bound by cache-miss latency, not arithmetic.
template <typename scalar_t, typename DstRow, typename SrcRow, typename Weight>
void chunked_scatter(int64_t n, int64_t channels, const scalar_t* src, at::Tensor& dst_tensor,
                     DstRow dst_row, SrcRow src_row, Weight weight) {
  scalar_t* dst = dst_tensor.data_ptr<scalar_t>();
  const int64_t dst_rows = dst_tensor.size(0);
  const int64_t max_chunks = std::max<int64_t>(1, n / std::max<int64_t>(dst_rows, 4096));
  const int64_t num_chunks = std::min<int64_t>(at::get_num_threads(), max_chunks);
  std::vector<at::Tensor> partial(num_chunks);
  for (int64_t k = 1; k < num_chunks; ++k) partial[k] = at::zeros_like(dst_tensor);
  const int64_t step = (n + num_chunks - 1) / num_chunks;
  at::parallel_for(0, num_chunks, 1, [&](int64_t k_begin, int64_t k_end) {
    for (int64_t k = k_begin; k < k_end; ++k) {
      scalar_t* out = k == 0 ? dst : partial[k].data_ptr<scalar_t>();
      const int64_t end = std::min(n, (k + 1) * step);
      for (int64_t i = k * step; i < end; ++i) {
        if (i + kPrefetchDistance < end) {
          prefetch_row(out + dst_row(i + kPrefetchDistance) * channels, channels, true);
          prefetch_row(src + src_row(i + kPrefetchDistance) * channels, channels, false);
        }
        const scalar_t w = weight(i);
        const scalar_t* __restrict__ row = src + src_row(i) * channels;
        scalar_t* __restrict__ acc = out + dst_row(i) * channels;
        for (int64_t c = 0; c < channels; ++c) acc[c] += w * row[c];
      }
    }
  });
  if (num_chunks > 1) {
    const int64_t total = dst_rows * channels;
    at::parallel_for(0, total, 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t k = 1; k < num_chunks; ++k) {
        const scalar_t* __restrict__ part = partial[k].data_ptr<scalar_t>();
        for (int64_t j = begin; j < end; ++j) dst[j] += part[j];
      }
    });
  }
}

}  // namespace bev_pool_detail
