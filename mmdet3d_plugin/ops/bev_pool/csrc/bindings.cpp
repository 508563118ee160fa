// Python bindings of the BEV pooling kernels; each call dispatches on the tensors' device.
#include "bev_pool.h"

namespace {

#ifdef WITH_CUDA
#define BEV_POOL_ON_DEVICE(TENSOR, CUDA_CALL, CPU_CALL) \
  return (TENSOR).is_cuda() ? (CUDA_CALL) : (CPU_CALL)
#else
#define BEV_POOL_ON_DEVICE(TENSOR, CUDA_CALL, CPU_CALL)                                   \
  TORCH_CHECK(!(TENSOR).is_cuda(), "bev_pool: this build of the extension has no CUDA "  \
              "kernel (reinstall with FORCE_CUDA=1)");                                    \
  return (CPU_CALL)
#endif

at::Tensor forward(const at::Tensor& feats, const at::Tensor& coords, int64_t batch_size,
                   int64_t num_z, int64_t num_y, int64_t num_x) {
  BEV_POOL_ON_DEVICE(feats,
                     bev_pool_forward_cuda(feats, coords, batch_size, num_z, num_y, num_x),
                     bev_pool_forward_cpu(feats, coords, batch_size, num_z, num_y, num_x));
}

at::Tensor backward(const at::Tensor& grad_pooled, const at::Tensor& coords, int64_t num_z,
                    int64_t num_y, int64_t num_x) {
  BEV_POOL_ON_DEVICE(grad_pooled, bev_pool_backward_cuda(grad_pooled, coords, num_z, num_y, num_x),
                     bev_pool_backward_cpu(grad_pooled, coords, num_z, num_y, num_x));
}

at::Tensor depth_forward(const at::Tensor& depth, const at::Tensor& context,
                         const at::Tensor& pixel_index, const at::Tensor& coords,
                         int64_t batch_size, int64_t num_z, int64_t num_y, int64_t num_x) {
  BEV_POOL_ON_DEVICE(context,
                     bev_pool_depth_forward_cuda(depth, context, pixel_index, coords, batch_size,
                                                 num_z, num_y, num_x),
                     bev_pool_depth_forward_cpu(depth, context, pixel_index, coords, batch_size,
                                                num_z, num_y, num_x));
}

std::vector<at::Tensor> depth_backward(const at::Tensor& grad_pooled, const at::Tensor& depth,
                                       const at::Tensor& context, const at::Tensor& pixel_index,
                                       const at::Tensor& coords, int64_t num_z, int64_t num_y,
                                       int64_t num_x) {
  BEV_POOL_ON_DEVICE(context,
                     bev_pool_depth_backward_cuda(grad_pooled, depth, context, pixel_index,
                                                  coords, num_z, num_y, num_x),
                     bev_pool_depth_backward_cpu(grad_pooled, depth, context, pixel_index, coords,
                                                 num_z, num_y, num_x));
}

bool with_cuda() {
#ifdef WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "generic BEV pooling forward -> (cells, C) channels-last");
  m.def("backward", &backward, "generic BEV pooling backward -> grad of feats (N, C)");
  m.def("depth_forward", &depth_forward, "depth-weighted BEV pooling forward -> (cells, C)");
  m.def("depth_backward", &depth_backward, "depth-weighted backward -> [grad_depth, grad_context]");
  m.def("first_out_of_range", &bev_pool_first_out_of_range_cpu,
        "first row of a CPU index tensor with a value outside [0, limit) of its column, or -1");
  m.def("with_cuda", &with_cuda, "whether the CUDA kernels were compiled in");
}
