// BEV pooling CPU kernel and the Python bindings (CUDA kernel in bev_pool_cuda.cu).
//
// Forward splits the points into one contiguous chunk per thread. Chunk 0 accumulates straight
// into the output, every other chunk into a private (cells, C) buffer that is summed in at the
// end (the buffers are small: cells x C, against N x C inputs). Rows are added whole, so the
// inner loop vectorises, and the destination rows of points a few steps ahead are prefetched:
// the scatter is bound by cache-miss latency, not arithmetic. For a fixed thread count the
// summation order is fixed, so results are deterministic. Backward is a row gather.
#include "bev_pool.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <vector>

namespace {

constexpr int64_t kPrefetchDistance = 8;  // points ahead whose destination row is prefetched

template <typename index_t>
inline int64_t cell_of(const index_t* c, int64_t num_z, int64_t num_y, int64_t num_x) {
  return ((static_cast<int64_t>(c[0]) * num_z + c[1]) * num_y + c[2]) * num_x + c[3];
}

template <typename scalar_t>
inline void prefetch_row(const scalar_t* row, int64_t channels, int rw) {
  const char* p = reinterpret_cast<const char*>(row);
  const int64_t bytes = channels * static_cast<int64_t>(sizeof(scalar_t));
  for (int64_t off = 0; off < bytes; off += 64) {
    if (rw) __builtin_prefetch(p + off, 1, 3); else __builtin_prefetch(p + off, 0, 3);
  }
}

void check_inputs(const at::Tensor& values, const at::Tensor& coords, const char* values_name) {
  TORCH_CHECK(values.dim() == 2, "bev_pool: ", values_name, " must be 2-D, got ", values.sizes());
  TORCH_CHECK(coords.dim() == 2 && coords.size(1) == 4,
              "bev_pool: coords must have shape (N, 4), got ", coords.sizes());
  TORCH_CHECK(coords.scalar_type() == at::kInt || coords.scalar_type() == at::kLong,
              "bev_pool: coords must be int32 or int64, got ", coords.scalar_type());
  TORCH_CHECK(values.is_contiguous() && coords.is_contiguous(),
              "bev_pool: ", values_name, " and coords must be contiguous");
}

// Adds rows [begin, end) of `src` into `dst` at their cells.
template <typename scalar_t, typename index_t>
void scatter_rows(const scalar_t* __restrict__ src, const index_t* __restrict__ crd, int64_t begin,
                  int64_t end, int64_t channels, int64_t num_z, int64_t num_y, int64_t num_x,
                  scalar_t* __restrict__ dst) {
  for (int64_t i = begin; i < end; ++i) {
    if (i + kPrefetchDistance < end) {
      prefetch_row(dst + cell_of(crd + 4 * (i + kPrefetchDistance), num_z, num_y, num_x) * channels,
                   channels, 1);
    }
    scalar_t* __restrict__ out = dst + cell_of(crd + 4 * i, num_z, num_y, num_x) * channels;
    const scalar_t* __restrict__ row = src + i * channels;
    for (int64_t c = 0; c < channels; ++c) out[c] += row[c];
  }
}

}  // namespace

at::Tensor bev_pool_forward_cpu(const at::Tensor& feats, const at::Tensor& coords,
                                int64_t batch_size, int64_t num_z, int64_t num_y, int64_t num_x) {
  check_inputs(feats, coords, "feats");
  const int64_t num_points = feats.size(0);
  const int64_t channels = feats.size(1);
  TORCH_CHECK(coords.size(0) == num_points, "bev_pool: coords has ", coords.size(0),
              " rows but feats has ", num_points);
  const int64_t num_cells = batch_size * num_z * num_y * num_x;
  auto pooled = at::zeros({num_cells, channels}, feats.options());
  if (num_points == 0 || channels == 0) return pooled;
  // One chunk per thread, but only when there are enough points to pay for a private buffer.
  const int64_t max_chunks = std::max<int64_t>(1, num_points / std::max<int64_t>(num_cells, 4096));
  const int64_t num_chunks = std::min<int64_t>(at::get_num_threads(), max_chunks);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, feats.scalar_type(), "bev_pool_fwd", [&] {
    AT_DISPATCH_INDEX_TYPES(coords.scalar_type(), "bev_pool_fwd_idx", [&] {
      const scalar_t* src = feats.data_ptr<scalar_t>();
      const index_t* crd = coords.data_ptr<index_t>();
      scalar_t* dst = pooled.data_ptr<scalar_t>();
      std::vector<at::Tensor> partial(num_chunks);
      for (int64_t k = 1; k < num_chunks; ++k) partial[k] = at::zeros_like(pooled);
      const int64_t step = (num_points + num_chunks - 1) / num_chunks;
      at::parallel_for(0, num_chunks, 1, [&](int64_t k_begin, int64_t k_end) {
        for (int64_t k = k_begin; k < k_end; ++k) {
          scalar_t* out = k == 0 ? dst : partial[k].data_ptr<scalar_t>();
          scatter_rows(src, crd, k * step, std::min(num_points, (k + 1) * step), channels, num_z,
                       num_y, num_x, out);
        }
      });
      if (num_chunks > 1) {
        const int64_t total = num_cells * channels;
        at::parallel_for(0, total, 1 << 14, [&](int64_t begin, int64_t end) {
          for (int64_t k = 1; k < num_chunks; ++k) {
            const scalar_t* __restrict__ part = partial[k].data_ptr<scalar_t>();
            for (int64_t j = begin; j < end; ++j) dst[j] += part[j];
          }
        });
      }
    });
  });
  return pooled;
}

at::Tensor bev_pool_backward_cpu(const at::Tensor& grad_pooled, const at::Tensor& coords,
                                 int64_t num_z, int64_t num_y, int64_t num_x) {
  check_inputs(grad_pooled, coords, "grad_pooled");
  const int64_t num_points = coords.size(0);
  const int64_t channels = grad_pooled.size(1);
  auto grad_feats = at::empty({num_points, channels}, grad_pooled.options());
  if (num_points == 0 || channels == 0) return grad_feats;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad_pooled.scalar_type(), "bev_pool_bwd", [&] {
    AT_DISPATCH_INDEX_TYPES(coords.scalar_type(), "bev_pool_bwd_idx", [&] {
      const scalar_t* src = grad_pooled.data_ptr<scalar_t>();
      const index_t* crd = coords.data_ptr<index_t>();
      scalar_t* dst = grad_feats.data_ptr<scalar_t>();
      at::parallel_for(0, num_points, 1024, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          if (i + kPrefetchDistance < end) {
            prefetch_row(src + cell_of(crd + 4 * (i + kPrefetchDistance), num_z, num_y, num_x) *
                         channels, channels, 0);
          }
          const scalar_t* row = src + cell_of(crd + 4 * i, num_z, num_y, num_x) * channels;
          std::copy(row, row + channels, dst + i * channels);
        }
      });
    });
  });
  return grad_feats;
}

at::Tensor bev_pool_forward(const at::Tensor& feats, const at::Tensor& coords, int64_t batch_size,
                            int64_t num_z, int64_t num_y, int64_t num_x) {
  if (feats.is_cuda()) {
#ifdef WITH_CUDA
    return bev_pool_forward_cuda(feats, coords, batch_size, num_z, num_y, num_x);
#else
    TORCH_CHECK(false, "bev_pool: this build of the extension has no CUDA kernel "
                "(reinstall with FORCE_CUDA=1)");
#endif
  }
  return bev_pool_forward_cpu(feats, coords, batch_size, num_z, num_y, num_x);
}

at::Tensor bev_pool_backward(const at::Tensor& grad_pooled, const at::Tensor& coords,
                             int64_t num_z, int64_t num_y, int64_t num_x) {
  if (grad_pooled.is_cuda()) {
#ifdef WITH_CUDA
    return bev_pool_backward_cuda(grad_pooled, coords, num_z, num_y, num_x);
#else
    TORCH_CHECK(false, "bev_pool: this build of the extension has no CUDA kernel "
                "(reinstall with FORCE_CUDA=1)");
#endif
  }
  return bev_pool_backward_cpu(grad_pooled, coords, num_z, num_y, num_x);
}

bool with_cuda() {
#ifdef WITH_CUDA
  return true;
#else
  return false;
#endif
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &bev_pool_forward, "BEV pooling forward -> (cells, C) channels-last",
        py::arg("feats"), py::arg("coords"), py::arg("batch_size"), py::arg("num_z"),
        py::arg("num_y"), py::arg("num_x"));
  m.def("backward", &bev_pool_backward, "BEV pooling backward -> grad of feats (N, C)",
        py::arg("grad_pooled"), py::arg("coords"), py::arg("num_z"), py::arg("num_y"),
        py::arg("num_x"));
  m.def("with_cuda", &with_cuda, "whether the CUDA kernel was compiled in");
}
