// BEV pooling CUDA kernels: one thread per (point, channel).
// Forward accumulates with atomic adds into the channels-last (cells, C) output; backward
// gathers rows. gpuAtomicAdd covers float, double, half and bfloat16.
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

template <typename scalar_t, typename index_t>
__global__ void forward_kernel(const scalar_t* __restrict__ feats,
                               const index_t* __restrict__ coords, int64_t num_points,
                               int64_t channels, int64_t num_z, int64_t num_y, int64_t num_x,
                               scalar_t* __restrict__ pooled) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= num_points * channels) return;
  const int64_t i = idx / channels;
  const int64_t c = idx - i * channels;
  const int64_t cell = cell_of(coords + 4 * i, num_z, num_y, num_x);
  gpuAtomicAdd(pooled + cell * channels + c, feats[idx]);
}

template <typename scalar_t, typename index_t>
__global__ void backward_kernel(const scalar_t* __restrict__ grad_pooled,
                                const index_t* __restrict__ coords, int64_t num_points,
                                int64_t channels, int64_t num_z, int64_t num_y, int64_t num_x,
                                scalar_t* __restrict__ grad_feats) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= num_points * channels) return;
  const int64_t i = idx / channels;
  const int64_t c = idx - i * channels;
  grad_feats[idx] = grad_pooled[cell_of(coords + 4 * i, num_z, num_y, num_x) * channels + c];
}

inline unsigned int num_blocks(int64_t total) {
  return static_cast<unsigned int>((total + kThreads - 1) / kThreads);
}

}  // namespace

at::Tensor bev_pool_forward_cuda(const at::Tensor& feats, const at::Tensor& coords,
                                 int64_t batch_size, int64_t num_z, int64_t num_y, int64_t num_x) {
  TORCH_CHECK(coords.is_cuda(), "bev_pool: coords must be on the same CUDA device as feats");
  const c10::cuda::CUDAGuard guard(feats.device());
  const int64_t num_points = feats.size(0);
  const int64_t channels = feats.size(1);
  auto pooled = at::zeros({batch_size * num_z * num_y * num_x, channels}, feats.options());
  const int64_t total = num_points * channels;
  if (total == 0) return pooled;
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, feats.scalar_type(), "bev_pool_fwd_cuda", [&] {
    AT_DISPATCH_INDEX_TYPES(coords.scalar_type(), "bev_pool_fwd_cuda_idx", [&] {
      forward_kernel<scalar_t, index_t><<<num_blocks(total), kThreads, 0, stream>>>(
          feats.data_ptr<scalar_t>(), coords.data_ptr<index_t>(), num_points, channels, num_z,
          num_y, num_x, pooled.data_ptr<scalar_t>());
    });
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return pooled;
}

at::Tensor bev_pool_backward_cuda(const at::Tensor& grad_pooled, const at::Tensor& coords,
                                  int64_t num_z, int64_t num_y, int64_t num_x) {
  TORCH_CHECK(coords.is_cuda(), "bev_pool: coords must be on the same CUDA device as grad");
  const c10::cuda::CUDAGuard guard(grad_pooled.device());
  const int64_t num_points = coords.size(0);
  const int64_t channels = grad_pooled.size(1);
  auto grad_feats = at::empty({num_points, channels}, grad_pooled.options());
  const int64_t total = num_points * channels;
  if (total == 0) return grad_feats;
  auto stream = at::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad_pooled.scalar_type(), "bev_pool_bwd_cuda", [&] {
    AT_DISPATCH_INDEX_TYPES(coords.scalar_type(), "bev_pool_bwd_cuda_idx", [&] {
      backward_kernel<scalar_t, index_t><<<num_blocks(total), kThreads, 0, stream>>>(
          grad_pooled.data_ptr<scalar_t>(), coords.data_ptr<index_t>(), num_points, channels,
          num_z, num_y, num_x, grad_feats.data_ptr<scalar_t>());
    });
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad_feats;
}
