// BEV pooling CUDA kernels (generic and depth-weighted forms), one thread per (point, channel).
// Scatters accumulate with atomic adds into a buffer of the op-math type (float for half and
// bfloat16: 16-bit atomics are CAS loops, ~40x slower under contention, and lose precision),
// cast back at the end; gathers read rows. Ranges are validated by the Python wrapper.
#include <ATen/OpMathType.h>
#include <ATen/cuda/Atomic.cuh>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>

#include "bev_pool.h"

namespace {

constexpr int kThreads = 256;

template <typename index_t>
__device__ __forceinline__ int64_t cell_of(const index_t* c, int64_t num_z, int64_t num_y,
                                           int64_t num_x) {
  return ((static_cast<int64_t>(c[0]) * num_z + c[1]) * num_y + c[2]) * num_x + c[3];
}

inline unsigned int num_blocks(int64_t total) {
  return static_cast<unsigned int>((total + kThreads - 1) / kThreads);
}

// pooled[cell(i)] += weight(i) * src[src_row(i)], thread per (i, c)
template <typename scalar_t, typename acc_t, typename index_t, bool kDepth>
__global__ void scatter_to_cells(const scalar_t* __restrict__ src,
                                 const scalar_t* __restrict__ depth,
                                 const index_t* __restrict__ pixel_index,
                                 const index_t* __restrict__ coords, int64_t n, int64_t channels,
                                 int64_t num_z, int64_t num_y, int64_t num_x,
                                 acc_t* __restrict__ pooled) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * channels) return;
  const int64_t i = idx / channels, c = idx - i * channels;
  const int64_t cell = cell_of(coords + 4 * i, num_z, num_y, num_x);
  const acc_t value =
      kDepth ? static_cast<acc_t>(depth[i]) *
                   static_cast<acc_t>(src[static_cast<int64_t>(pixel_index[i]) * channels + c])
             : static_cast<acc_t>(src[idx]);
  gpuAtomicAdd(pooled + cell * channels + c, value);
}

// grad_feats[i] = grad_pooled[cell(i)], thread per (i, c)
template <typename scalar_t, typename index_t>
__global__ void gather_from_cells(const scalar_t* __restrict__ grad_pooled,
                                  const index_t* __restrict__ coords, int64_t n, int64_t channels,
                                  int64_t num_z, int64_t num_y, int64_t num_x,
                                  scalar_t* __restrict__ grad_feats) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * channels) return;
  const int64_t i = idx / channels, c = idx - i * channels;
  grad_feats[idx] = grad_pooled[cell_of(coords + 4 * i, num_z, num_y, num_x) * channels + c];
}

// grad_depth[i] = <grad_pooled[cell(i)], context[pix[i]]>, thread per point
template <typename scalar_t, typename index_t>
__global__ void depth_grad(const scalar_t* __restrict__ grad_pooled,
                           const scalar_t* __restrict__ context,
                           const index_t* __restrict__ pixel_index,
                           const index_t* __restrict__ coords, int64_t n, int64_t channels,
                           int64_t num_z, int64_t num_y, int64_t num_x,
                           scalar_t* __restrict__ grad_depth) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const scalar_t* g = grad_pooled + cell_of(coords + 4 * i, num_z, num_y, num_x) * channels;
  const scalar_t* ctx = context + static_cast<int64_t>(pixel_index[i]) * channels;
  at::opmath_type<scalar_t> sum = 0;
  for (int64_t c = 0; c < channels; ++c) sum += static_cast<at::opmath_type<scalar_t>>(g[c]) * ctx[c];
  grad_depth[i] = static_cast<scalar_t>(sum);
}

// grad_context[pix[i]] += depth[i] * grad_pooled[cell(i)], thread per (i, c)
template <typename scalar_t, typename acc_t, typename index_t>
__global__ void context_grad(const scalar_t* __restrict__ grad_pooled,
                             const scalar_t* __restrict__ depth,
                             const index_t* __restrict__ pixel_index,
                             const index_t* __restrict__ coords, int64_t n, int64_t channels,
                             int64_t num_z, int64_t num_y, int64_t num_x,
                             acc_t* __restrict__ grad_context) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n * channels) return;
  const int64_t i = idx / channels, c = idx - i * channels;
  const acc_t g = grad_pooled[cell_of(coords + 4 * i, num_z, num_y, num_x) * channels + c];
  gpuAtomicAdd(grad_context + static_cast<int64_t>(pixel_index[i]) * channels + c,
               static_cast<acc_t>(depth[i]) * g);
}

#define BEV_POOL_CUDA_DISPATCH(SCALAR, INDEX, NAME, ...)                                   \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, SCALAR, NAME, [&] {             \
    AT_DISPATCH_INDEX_TYPES(INDEX, NAME "_idx", __VA_ARGS__);                               \
  })

}  // namespace

at::Tensor bev_pool_forward_cuda(const at::Tensor& feats, const at::Tensor& coords,
                                 int64_t batch_size, int64_t num_z, int64_t num_y, int64_t num_x) {
  TORCH_CHECK(coords.is_cuda(), "bev_pool: coords must be on the same CUDA device as feats");
  const c10::cuda::CUDAGuard guard(feats.device());
  const int64_t n = feats.size(0), channels = feats.size(1);
  auto pooled = at::zeros({batch_size * num_z * num_y * num_x, channels},
                          feats.options().dtype(at::toOpMathType(feats.scalar_type())));
  if (n * channels == 0) return pooled.to(feats.scalar_type());
  auto stream = at::cuda::getCurrentCUDAStream();
  BEV_POOL_CUDA_DISPATCH(feats.scalar_type(), coords.scalar_type(), "bev_pool_fwd_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    scatter_to_cells<scalar_t, acc_t, index_t, false>
        <<<num_blocks(n * channels), kThreads, 0, stream>>>(
            feats.data_ptr<scalar_t>(), nullptr, nullptr, coords.data_ptr<index_t>(), n, channels,
            num_z, num_y, num_x, pooled.data_ptr<acc_t>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return pooled.to(feats.scalar_type());
}

at::Tensor bev_pool_backward_cuda(const at::Tensor& grad_pooled, const at::Tensor& coords,
                                  int64_t num_z, int64_t num_y, int64_t num_x) {
  const c10::cuda::CUDAGuard guard(grad_pooled.device());
  const int64_t n = coords.size(0), channels = grad_pooled.size(1);
  auto grad_feats = at::empty({n, channels}, grad_pooled.options());
  if (n * channels == 0) return grad_feats;
  auto stream = at::cuda::getCurrentCUDAStream();
  BEV_POOL_CUDA_DISPATCH(grad_pooled.scalar_type(), coords.scalar_type(), "bev_pool_bwd_cuda", [&] {
    gather_from_cells<scalar_t, index_t><<<num_blocks(n * channels), kThreads, 0, stream>>>(
        grad_pooled.data_ptr<scalar_t>(), coords.data_ptr<index_t>(), n, channels, num_z, num_y,
        num_x, grad_feats.data_ptr<scalar_t>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad_feats;
}

at::Tensor bev_pool_depth_forward_cuda(const at::Tensor& depth, const at::Tensor& context,
                                       const at::Tensor& pixel_index, const at::Tensor& coords,
                                       int64_t batch_size, int64_t num_z, int64_t num_y,
                                       int64_t num_x) {
  const c10::cuda::CUDAGuard guard(context.device());
  const int64_t n = depth.size(0), channels = context.size(1);
  auto pooled = at::zeros({batch_size * num_z * num_y * num_x, channels},
                          context.options().dtype(at::toOpMathType(context.scalar_type())));
  if (n * channels == 0) return pooled.to(context.scalar_type());
  auto stream = at::cuda::getCurrentCUDAStream();
  BEV_POOL_CUDA_DISPATCH(context.scalar_type(), coords.scalar_type(), "bev_pool_depth_fwd_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    scatter_to_cells<scalar_t, acc_t, index_t, true>
        <<<num_blocks(n * channels), kThreads, 0, stream>>>(
            context.data_ptr<scalar_t>(), depth.data_ptr<scalar_t>(),
            pixel_index.data_ptr<index_t>(), coords.data_ptr<index_t>(), n, channels, num_z, num_y,
            num_x, pooled.data_ptr<acc_t>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return pooled.to(context.scalar_type());
}

std::vector<at::Tensor> bev_pool_depth_backward_cuda(
    const at::Tensor& grad_pooled, const at::Tensor& depth, const at::Tensor& context,
    const at::Tensor& pixel_index, const at::Tensor& coords, int64_t num_z, int64_t num_y,
    int64_t num_x) {
  const c10::cuda::CUDAGuard guard(context.device());
  const int64_t n = depth.size(0), channels = context.size(1);
  auto grad_depth = at::zeros_like(depth);
  auto grad_context = at::zeros(context.sizes(),
                                context.options().dtype(at::toOpMathType(context.scalar_type())));
  if (n * channels == 0) return {grad_depth, grad_context.to(context.scalar_type())};
  auto stream = at::cuda::getCurrentCUDAStream();
  BEV_POOL_CUDA_DISPATCH(context.scalar_type(), coords.scalar_type(), "bev_pool_depth_bwd_cuda", [&] {
    depth_grad<scalar_t, index_t><<<num_blocks(n), kThreads, 0, stream>>>(
        grad_pooled.data_ptr<scalar_t>(), context.data_ptr<scalar_t>(),
        pixel_index.data_ptr<index_t>(), coords.data_ptr<index_t>(), n, channels, num_z, num_y,
        num_x, grad_depth.data_ptr<scalar_t>());
    using acc_t = at::opmath_type<scalar_t>;
    context_grad<scalar_t, acc_t, index_t><<<num_blocks(n * channels), kThreads, 0, stream>>>(
        grad_pooled.data_ptr<scalar_t>(), depth.data_ptr<scalar_t>(),
        pixel_index.data_ptr<index_t>(), coords.data_ptr<index_t>(), n, channels, num_z, num_y,
        num_x, grad_context.data_ptr<acc_t>());
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {grad_depth, grad_context.to(context.scalar_type())};
}
