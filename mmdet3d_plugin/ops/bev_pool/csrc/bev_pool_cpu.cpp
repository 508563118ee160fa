// BEV pooling CPU kernels: generic features and depth-weighted (LSS) forms.
#include "bev_pool.h"
#include "bev_pool_common.h"

#include <ATen/OpMathType.h>

using namespace bev_pool_detail;

#define BEV_POOL_DISPATCH(SCALAR, INDEX, NAME, ...)                                        \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, SCALAR, NAME, [&] {             \
    AT_DISPATCH_INDEX_TYPES(INDEX, NAME "_idx", __VA_ARGS__);                               \
  })

at::Tensor bev_pool_forward_cpu(const at::Tensor& feats, const at::Tensor& coords,
                                int64_t batch_size, int64_t num_z, int64_t num_y, int64_t num_x) {
  check_dense(feats, 2, "feats");
  check_index(coords, 2, feats.size(0), "coords");
  const int64_t n = feats.size(0), channels = feats.size(1);
  auto pooled = at::zeros({batch_size * num_z * num_y * num_x, channels}, feats.options());
  if (n == 0 || channels == 0) return pooled;
  BEV_POOL_DISPATCH(feats.scalar_type(), coords.scalar_type(), "bev_pool_fwd", [&] {
    const index_t* crd = coords.data_ptr<index_t>();
    chunked_scatter<scalar_t>(
        n, channels, feats.data_ptr<scalar_t>(), pooled,
        [&](int64_t i) { return cell_of(crd + 4 * i, num_z, num_y, num_x); },
        [](int64_t i) { return i; }, [](int64_t) { return scalar_t(1); });
  });
  return pooled;
}

at::Tensor bev_pool_backward_cpu(const at::Tensor& grad_pooled, const at::Tensor& coords,
                                 int64_t num_z, int64_t num_y, int64_t num_x) {
  check_dense(grad_pooled, 2, "grad_pooled");
  check_index(coords, 2, coords.size(0), "coords");
  const int64_t n = coords.size(0), channels = grad_pooled.size(1);
  auto grad_feats = at::empty({n, channels}, grad_pooled.options());
  if (n == 0 || channels == 0) return grad_feats;
  BEV_POOL_DISPATCH(grad_pooled.scalar_type(), coords.scalar_type(), "bev_pool_bwd", [&] {
    const scalar_t* src = grad_pooled.data_ptr<scalar_t>();
    const index_t* crd = coords.data_ptr<index_t>();
    scalar_t* dst = grad_feats.data_ptr<scalar_t>();
    at::parallel_for(0, n, 1024, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        if (i + kPrefetchDistance < end) {
          prefetch_row(src + cell_of(crd + 4 * (i + kPrefetchDistance), num_z, num_y, num_x) *
                       channels, channels, false);
        }
        const scalar_t* row = src + cell_of(crd + 4 * i, num_z, num_y, num_x) * channels;
        std::copy(row, row + channels, dst + i * channels);
      }
    });
  });
  return grad_feats;
}

namespace {

void check_depth_inputs(const at::Tensor& depth, const at::Tensor& context,
                        const at::Tensor& pixel_index, const at::Tensor& coords) {
  check_dense(depth, 1, "depth");
  check_dense(context, 2, "context");
  check_index(pixel_index, 1, depth.size(0), "pixel_index");
  check_index(coords, 2, depth.size(0), "coords");
  TORCH_CHECK(pixel_index.scalar_type() == coords.scalar_type(),
              "bev_pool: pixel_index and coords must share one integer dtype");
  TORCH_CHECK(depth.scalar_type() == context.scalar_type(),
              "bev_pool: depth and context must share one dtype");
}

}  // namespace

at::Tensor bev_pool_depth_forward_cpu(const at::Tensor& depth, const at::Tensor& context,
                                      const at::Tensor& pixel_index, const at::Tensor& coords,
                                      int64_t batch_size, int64_t num_z, int64_t num_y,
                                      int64_t num_x) {
  check_depth_inputs(depth, context, pixel_index, coords);
  const int64_t n = depth.size(0), channels = context.size(1);
  auto pooled = at::zeros({batch_size * num_z * num_y * num_x, channels}, context.options());
  if (n == 0 || channels == 0) return pooled;
  BEV_POOL_DISPATCH(context.scalar_type(), coords.scalar_type(), "bev_pool_depth_fwd", [&] {
    const index_t* crd = coords.data_ptr<index_t>();
    const index_t* pix = pixel_index.data_ptr<index_t>();
    const scalar_t* dep = depth.data_ptr<scalar_t>();
    chunked_scatter<scalar_t>(
        n, channels, context.data_ptr<scalar_t>(), pooled,
        [&](int64_t i) { return cell_of(crd + 4 * i, num_z, num_y, num_x); },
        [&](int64_t i) { return static_cast<int64_t>(pix[i]); }, [&](int64_t i) { return dep[i]; });
  });
  return pooled;
}

std::vector<at::Tensor> bev_pool_depth_backward_cpu(
    const at::Tensor& grad_pooled, const at::Tensor& depth, const at::Tensor& context,
    const at::Tensor& pixel_index, const at::Tensor& coords, int64_t num_z, int64_t num_y,
    int64_t num_x) {
  check_dense(grad_pooled, 2, "grad_pooled");
  check_depth_inputs(depth, context, pixel_index, coords);
  const int64_t n = depth.size(0), channels = context.size(1);
  auto grad_depth = at::zeros_like(depth);
  auto grad_context = at::zeros_like(context);
  if (n == 0 || channels == 0) return {grad_depth, grad_context};
  BEV_POOL_DISPATCH(context.scalar_type(), coords.scalar_type(), "bev_pool_depth_bwd", [&] {
    const index_t* crd = coords.data_ptr<index_t>();
    const index_t* pix = pixel_index.data_ptr<index_t>();
    const scalar_t* dep = depth.data_ptr<scalar_t>();
    const scalar_t* ctx = context.data_ptr<scalar_t>();
    const scalar_t* grad = grad_pooled.data_ptr<scalar_t>();
    scalar_t* gdep = grad_depth.data_ptr<scalar_t>();
    // grad_depth[i] = <grad_pooled[cell(i)], context[pix[i]]>
    at::parallel_for(0, n, 1024, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        if (i + kPrefetchDistance < end) {
          prefetch_row(grad + cell_of(crd + 4 * (i + kPrefetchDistance), num_z, num_y, num_x) *
                       channels, channels, false);
        }
        const scalar_t* g = grad + cell_of(crd + 4 * i, num_z, num_y, num_x) * channels;
        const scalar_t* c = ctx + static_cast<int64_t>(pix[i]) * channels;
        using acc_t = at::opmath_type<scalar_t>;
        acc_t sum = 0;
        for (int64_t k = 0; k < channels; ++k) sum += static_cast<acc_t>(g[k]) * c[k];
        gdep[i] = static_cast<scalar_t>(sum);
      }
    });
    // grad_context[pix[i]] += depth[i] * grad_pooled[cell(i)]
    chunked_scatter<scalar_t>(
        n, channels, grad, grad_context, [&](int64_t i) { return static_cast<int64_t>(pix[i]); },
        [&](int64_t i) { return cell_of(crd + 4 * i, num_z, num_y, num_x); },
        [&](int64_t i) { return dep[i]; });
  });
  return {grad_depth, grad_context};
}

int64_t bev_pool_first_out_of_range_cpu(const at::Tensor& index, const std::vector<int64_t>& limits) {
  TORCH_CHECK(!index.is_cuda() && index.is_contiguous(), "bev_pool: index must be a contiguous CPU tensor");
  const int64_t cols = index.dim() == 1 ? 1 : index.size(1);
  TORCH_CHECK(static_cast<int64_t>(limits.size()) == cols, "bev_pool: one limit per column");
  int64_t row = -1;
  AT_DISPATCH_INDEX_TYPES(index.scalar_type(), "bev_pool_range", [&] {
    row = first_out_of_range(index.data_ptr<index_t>(), index.size(0), cols, limits.data());
  });
  return row;
}
