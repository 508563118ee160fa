// BEV pooling (LSS splat): declarations shared by the CPU and CUDA kernels.
//
// feats  : (N, C) floating point, contiguous
// coords : (N, 4) int32/int64 [batch, z, y, x], contiguous, every cell inside the grid
// output of forward: (B * Z * Y * X, C) channels-last sum of the features of each cell
// backward: grad_pooled (B * Z * Y * X, C) channels-last -> grad_feats (N, C)
#pragma once
#include <torch/extension.h>

at::Tensor bev_pool_forward_cpu(const at::Tensor& feats, const at::Tensor& coords,
                                int64_t batch_size, int64_t num_z, int64_t num_y, int64_t num_x);
at::Tensor bev_pool_backward_cpu(const at::Tensor& grad_pooled, const at::Tensor& coords,
                                 int64_t num_z, int64_t num_y, int64_t num_x);
#ifdef WITH_CUDA
at::Tensor bev_pool_forward_cuda(const at::Tensor& feats, const at::Tensor& coords,
                                 int64_t batch_size, int64_t num_z, int64_t num_y, int64_t num_x);
at::Tensor bev_pool_backward_cuda(const at::Tensor& grad_pooled, const at::Tensor& coords,
                                  int64_t num_z, int64_t num_y, int64_t num_x);
#endif
