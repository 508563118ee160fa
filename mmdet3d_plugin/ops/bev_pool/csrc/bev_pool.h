// BEV pooling (LSS splat): declarations of the CPU and CUDA kernels.
//
// Generic form, for any per-point features:
//   feats (N, C), coords (N, 4) int [batch, z, y, x]
//   forward  -> pooled (B * Z * Y * X, C) channels-last sums per cell
//   backward: grad_pooled (cells, C) -> grad_feats (N, C)
// Depth-weighted form (LSS without materialising the N x C outer product):
//   depth (N,) weight of each frustum point, context (P, C) image features, pixel_index (N,) the
//   context row of each point, coords (N, 4)
//   forward  -> pooled[cell(n)] += depth[n] * context[pixel_index[n]]
//   backward -> grad_depth (N,), grad_context (P, C)
// All index tensors share one dtype (int32 or int64). Kernels assume indices in range: the
// Python wrapper validates them first (on CPU with bev_pool_first_out_of_range_cpu).
#pragma once
#include <torch/extension.h>

#include <vector>

at::Tensor bev_pool_forward_cpu(const at::Tensor& feats, const at::Tensor& coords,
                                int64_t batch_size, int64_t num_z, int64_t num_y, int64_t num_x);
at::Tensor bev_pool_backward_cpu(const at::Tensor& grad_pooled, const at::Tensor& coords,
                                 int64_t num_z, int64_t num_y, int64_t num_x);
at::Tensor bev_pool_depth_forward_cpu(const at::Tensor& depth, const at::Tensor& context,
                                      const at::Tensor& pixel_index, const at::Tensor& coords,
                                      int64_t batch_size, int64_t num_z, int64_t num_y,
                                      int64_t num_x);
std::vector<at::Tensor> bev_pool_depth_backward_cpu(
    const at::Tensor& grad_pooled, const at::Tensor& depth, const at::Tensor& context,
    const at::Tensor& pixel_index, const at::Tensor& coords, int64_t num_z, int64_t num_y,
    int64_t num_x);
int64_t bev_pool_first_out_of_range_cpu(const at::Tensor& index, const std::vector<int64_t>& limits);
#ifdef WITH_CUDA
at::Tensor bev_pool_forward_cuda(const at::Tensor& feats, const at::Tensor& coords,
                                 int64_t batch_size, int64_t num_z, int64_t num_y, int64_t num_x);
at::Tensor bev_pool_backward_cuda(const at::Tensor& grad_pooled, const at::Tensor& coords,
                                  int64_t num_z, int64_t num_y, int64_t num_x);
at::Tensor bev_pool_depth_forward_cuda(const at::Tensor& depth, const at::Tensor& context,
                                       const at::Tensor& pixel_index, const at::Tensor& coords,
                                       int64_t batch_size, int64_t num_z, int64_t num_y,
                                       int64_t num_x);
std::vector<at::Tensor> bev_pool_depth_backward_cuda(
    const at::Tensor& grad_pooled, const at::Tensor& depth, const at::Tensor& context,
    const at::Tensor& pixel_index, const at::Tensor& coords, int64_t num_z, int64_t num_y,
    int64_t num_x);
#endif
