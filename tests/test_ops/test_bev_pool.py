"""BEV pooling: compiled kernels against the pure-PyTorch reference, gradients, bad input."""
import warnings

import pytest
import torch

from mmdet3d_plugin.ops import extension
from mmdet3d_plugin.ops.bev_pool import (bev_pool, bev_pool_depth, bev_pool_depth_reference,
                                         bev_pool_reference)
from mmdet3d_plugin.ops.bev_pool.reference import (bev_pool_cumsum_reference,
                                                   bev_pool_scatter_reference)

GRID = (2, 5, 7)  # (Z, Y, X)


def random_case(num_points=300, channels=6, batch_size=2, grid=GRID, dtype=torch.float64,
                index_dtype=torch.int64, device='cpu', seed=0):
    """Points with many duplicates per cell (so sums really accumulate)."""
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(num_points, channels, generator=gen, dtype=dtype)
    coords = torch.stack([
        torch.randint(0, batch_size, (num_points,), generator=gen),
        torch.randint(0, grid[0], (num_points,), generator=gen),
        torch.randint(0, grid[1], (num_points,), generator=gen),
        torch.randint(0, grid[2], (num_points,), generator=gen),
    ], 1).to(index_dtype)
    return feats.to(device), coords.to(device), batch_size


def test_reference_matches_loop():
    feats, coords, batch_size = random_case(num_points=40, channels=3)
    expected = torch.zeros(batch_size, 3, *GRID, dtype=torch.float64)
    for f, (b, z, y, x) in zip(feats, coords.tolist()):
        expected[b, :, z, y, x] += f
    torch.testing.assert_close(bev_pool_reference(feats, coords, batch_size, GRID), expected)


@pytest.mark.parametrize('variant', [bev_pool_scatter_reference, bev_pool_cumsum_reference])
def test_reference_variants_agree(variant):
    feats, coords, batch_size = random_case()
    torch.testing.assert_close(variant(feats, coords, batch_size, GRID),
                               bev_pool_reference(feats, coords, batch_size, GRID))


@pytest.mark.parametrize('index_dtype', [torch.int32, torch.int64])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_cpu_kernel_matches_reference(dtype, index_dtype):
    feats, coords, batch_size = random_case(dtype=dtype, index_dtype=index_dtype)
    out = bev_pool(feats, coords, batch_size, GRID, impl='ext')
    assert out.shape == (batch_size, feats.shape[1], *GRID) and out.dtype == dtype
    tol = {} if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out, bev_pool_reference(feats, coords, batch_size, GRID), **tol)


def test_cpu_kernel_gradcheck():
    feats, coords, batch_size = random_case(num_points=60, channels=3)
    feats.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda f: bev_pool(f, coords, batch_size, GRID, impl='ext'), (feats,))


def test_cpu_kernel_gradient_matches_reference():
    feats, coords, batch_size = random_case()
    weight = torch.randn(batch_size, feats.shape[1], *GRID, dtype=torch.float64)
    grads = []
    for impl in ('ext', 'reference'):
        f = feats.clone().requires_grad_(True)
        (bev_pool(f, coords, batch_size, GRID, impl=impl) * weight).sum().backward()
        grads.append(f.grad)
    torch.testing.assert_close(grads[0], grads[1])


def test_empty_input_gives_zeros():
    feats = torch.zeros(0, 4)
    coords = torch.zeros(0, 4, dtype=torch.int64)
    for impl in ('ext', 'reference'):
        out = bev_pool(feats, coords, 3, GRID, impl=impl)
        assert out.shape == (3, 4, *GRID) and not out.any()


def test_many_channels_parallel_split():
    # More channels than the kernel's grain, odd count: every channel block is summed.
    feats, coords, batch_size = random_case(num_points=500, channels=83, dtype=torch.float32)
    torch.testing.assert_close(bev_pool(feats, coords, batch_size, GRID, impl='ext'),
                               bev_pool_reference(feats, coords, batch_size, GRID),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('feats, coords, batch_size, grid, match', [
    (torch.rand(5), torch.zeros(5, 4, dtype=torch.long), 1, GRID, r'feats must have shape \(N, C\)'),
    (torch.rand(5, 2).int(), torch.zeros(5, 4, dtype=torch.long), 1, GRID, 'feats must be a floating'),
    (torch.rand(5, 2), torch.zeros(5, 3, dtype=torch.long), 1, GRID, r'coords must have shape \(N, 4\)'),
    (torch.rand(5, 2), torch.zeros(5, 4), 1, GRID, 'coords must be int32 or int64'),
    (torch.rand(5, 2), torch.zeros(6, 4, dtype=torch.long), 1, GRID, 'coords has 6 rows, expected 5'),
    (torch.rand(5, 2), torch.zeros(5, 4, dtype=torch.long), 0, GRID, 'batch_size must be a positive'),
    (torch.rand(5, 2), torch.zeros(5, 4, dtype=torch.long), 1, (5, 7), r'grid_shape must be three'),
    (torch.rand(2, 2), torch.tensor([[0, 0, 0, 0], [0, 0, 5, 0]]), 1, GRID,
     r'coords\[:, 2\] \(y\) is 5 at row 1, expected \[0, 4\]'),
    (torch.rand(2, 2), torch.tensor([[0, 0, 0, -1], [0, 0, 0, 0]]), 1, GRID,
     r'coords\[:, 3\] \(x\) is -1 at row 0, expected \[0, 6\]'),
    (torch.rand(1, 2), torch.tensor([[1, 0, 0, 0]]), 1, GRID, r'coords\[:, 0\] \(batch\) is 1 at row 0, expected \[0, 0\]'),
])
def test_bad_input_names_argument(feats, coords, batch_size, grid, match):
    for impl in ('ext', 'reference'):
        # The CPU kernel checks ranges itself (RuntimeError from C++), with the same message.
        with pytest.raises((TypeError, ValueError, RuntimeError), match=match):
            bev_pool(feats, coords, batch_size, grid, impl=impl)


def test_unknown_impl_rejected():
    feats, coords, batch_size = random_case(num_points=3)
    with pytest.raises(ValueError, match="impl must be 'ext', 'reference' or None"):
        bev_pool(feats, coords, batch_size, GRID, impl='cuda')


@pytest.fixture
def missing_extension(monkeypatch):
    """Pretend the compiled extension was never built."""
    monkeypatch.setitem(extension._CACHE, 'bev_pool', None)
    monkeypatch.setitem(extension._ERRORS, 'bev_pool', 'No module named _ext')
    monkeypatch.setattr(extension, '_WARNED', set())
    monkeypatch.delenv('DRIVE3D_BEV_POOL_IMPL', raising=False)


def test_fallback_warns_once_and_matches(missing_extension):
    feats, coords, batch_size = random_case()
    with pytest.warns(RuntimeWarning, match="compiled op 'bev_pool' is not available"):
        out = bev_pool(feats, coords, batch_size, GRID)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # a second call must not warn again
        out2 = bev_pool(feats, coords, batch_size, GRID)
    torch.testing.assert_close(out, bev_pool_reference(feats, coords, batch_size, GRID))
    torch.testing.assert_close(out, out2)


def test_required_extension_missing_raises(missing_extension):
    feats, coords, batch_size = random_case(num_points=3)
    with pytest.raises(RuntimeError, match='pip install -e'):
        bev_pool(feats, coords, batch_size, GRID, impl='ext')


def test_environment_switch_forces_reference(monkeypatch):
    feats, coords, batch_size = random_case(num_points=30)
    monkeypatch.setenv('DRIVE3D_BEV_POOL_IMPL', 'reference')
    feats.requires_grad_(True)
    out = bev_pool(feats, coords, batch_size, GRID)
    assert out.grad_fn is not None and 'BEVPool' not in type(out.grad_fn).__name__


def depth_case(num_pixels=40, num_bins=5, channels=6, batch_size=2, dtype=torch.float64,
               index_dtype=torch.int64, device='cpu', seed=0):
    """A tiny frustum: every pixel has ``num_bins`` depth points in random cells."""
    gen = torch.Generator().manual_seed(seed)
    _, coords, _ = random_case(num_pixels * num_bins, 1, batch_size, dtype=dtype,
                               index_dtype=index_dtype, seed=seed)
    depth = torch.rand(num_pixels * num_bins, generator=gen, dtype=dtype)
    context = torch.randn(num_pixels, channels, generator=gen, dtype=dtype)
    pixel_index = torch.arange(num_pixels).repeat_interleave(num_bins).to(index_dtype)
    return [t.to(device) for t in (depth, context, pixel_index, coords)] + [batch_size]


def test_depth_reference_equals_materialised_pooling():
    depth, context, pixel_index, coords, batch_size = depth_case()
    feats = depth[:, None] * context[pixel_index]
    torch.testing.assert_close(
        bev_pool_depth_reference(depth, context, pixel_index, coords, batch_size, GRID),
        bev_pool_reference(feats, coords, batch_size, GRID))


@pytest.mark.parametrize('index_dtype', [torch.int32, torch.int64])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_depth_cpu_kernel_matches_reference(dtype, index_dtype):
    args = depth_case(num_pixels=300, dtype=dtype, index_dtype=index_dtype)
    out = bev_pool_depth(*args, GRID, impl='ext')
    tol = {} if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out, bev_pool_depth_reference(*args, GRID), **tol)


def test_depth_cpu_kernel_gradcheck_and_matches_reference_gradients():
    depth, context, pixel_index, coords, batch_size = depth_case(num_pixels=12, num_bins=3,
                                                                 channels=3)
    depth.requires_grad_(True)
    context.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda d, c: bev_pool_depth(d, c, pixel_index, coords, batch_size, GRID, impl='ext'),
        (depth, context))
    weight = torch.randn(batch_size, 3, *GRID, dtype=torch.float64)
    grads = []
    for impl in ('ext', 'reference'):
        d, c = depth.detach().clone().requires_grad_(True), context.detach().clone().requires_grad_(True)
        (bev_pool_depth(d, c, pixel_index, coords, batch_size, GRID, impl=impl) * weight).sum().backward()
        grads.append((d.grad, c.grad))
    torch.testing.assert_close(grads[0], grads[1])


def test_depth_bad_input_names_argument():
    depth, context, pixel_index, coords, batch_size = depth_case()
    bad_pixel = pixel_index.clone()
    bad_pixel[7] = 40
    for impl in ('ext', 'reference'):
        with pytest.raises((ValueError, RuntimeError),
                           match=r'pixel_index is 40 at row 7, expected \[0, 39\]'):
            bev_pool_depth(depth, context, bad_pixel, coords, batch_size, GRID, impl=impl)
    with pytest.raises(TypeError, match='pixel_index .* and coords .* must share'):
        bev_pool_depth(depth, context, pixel_index.int(), coords, batch_size, GRID)
    with pytest.raises(TypeError, match='depth .* and context .* must share'):
        bev_pool_depth(depth.float(), context, pixel_index, coords, batch_size, GRID)
    with pytest.raises(ValueError, match=r'context must have shape \(P, C\)'):
        bev_pool_depth(depth, context[0], pixel_index, coords, batch_size, GRID)
    with pytest.raises(ValueError, match='pixel_index has 3 rows, expected 200'):
        bev_pool_depth(depth, context, pixel_index[:3], coords, batch_size, GRID)


@pytest.mark.gpu
def test_depth_cuda_kernel_matches_reference_and_gradcheck():
    args = depth_case(num_pixels=500, index_dtype=torch.int32, device='cuda')
    torch.testing.assert_close(bev_pool_depth(*args, GRID, impl='ext'),
                               bev_pool_depth_reference(*args, GRID))
    depth, context, pixel_index, coords, batch_size = depth_case(num_pixels=12, num_bins=3,
                                                                 channels=3, device='cuda')
    assert torch.autograd.gradcheck(
        lambda d, c: bev_pool_depth(d, c, pixel_index, coords, batch_size, GRID, impl='ext'),
        (depth.requires_grad_(True), context.requires_grad_(True)))


@pytest.mark.gpu
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_cuda_kernel_matches_reference(dtype):
    feats, coords, batch_size = random_case(num_points=5000, channels=17, dtype=dtype,
                                            index_dtype=torch.int32, device='cuda')
    out = bev_pool(feats, coords, batch_size, GRID, impl='ext')
    tol = {} if dtype == torch.float64 else dict(rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(out, bev_pool_reference(feats, coords, batch_size, GRID), **tol)


@pytest.mark.gpu
def test_cuda_kernel_gradcheck():
    feats, coords, batch_size = random_case(num_points=60, channels=3, device='cuda')
    feats.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda f: bev_pool(f, coords, batch_size, GRID, impl='ext'), (feats,))
