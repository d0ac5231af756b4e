"""MaxPool2D, AvgPool2D, GlobalAvgPool2D: numeric gradients, agreement with PyTorch, errors."""
import numpy as np
import pytest
from util import assert_close, stored_batch_last

from xpnet import gradcheck
from xpnet.backend import asarray, layout, to_numpy
from xpnet.layers import AvgPool2D, GlobalAvgPool2D, MaxPool2D
from xpnet.layers.pool import max_pool2d_reference
from xpnet.layers.window import pair

# (kernel, stride, padding, input shape)
CASES = [
    (2, None, 0, (2, 3, 6, 8)),             # windows tile the input (fast path)
    (2, None, 0, (2, 2, 7, 5)),             # stride == kernel, trailing rows/columns unused
    (3, 2, 1, (1, 2, 7, 6)),                # overlapping windows with padding, batch of one
    ((2, 3), (1, 2), (1, 1), (2, 2, 5, 7)),  # non-square
    (2, 3, 0, (2, 2, 8, 7)),                # stride > kernel
]


def _distinct(rng, shape):
    """Inputs without near-ties, so the max is stable under finite differences."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0 - 3.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_maxpool_equals_the_reference(case, dtype, rng):
    k, s, p, shape = case
    x = asarray(rng.integers(-2, 3, size=shape), dtype)  # many ties
    layer = MaxPool2D(k, s, p)
    want = max_pool2d_reference(x, layer.kernel_size, layer.stride, layer.padding)
    np.testing.assert_array_equal(to_numpy(layer(x)), to_numpy(want))
    np.testing.assert_array_equal(to_numpy(layer(layout.padded(x, (0, 0)))), to_numpy(want))


def test_reference_maxpool_matches_torch(torch, rng):
    for k, s, p, shape in CASES:
        x = rng.standard_normal(shape)
        want = torch.nn.functional.max_pool2d(torch.tensor(x), k, s if s is not None else k, p)
        assert_close(max_pool2d_reference(asarray(x), pair(k, "k", 1), pair(s or k, "s", 1), pair(p, "p", 0)), want)


@pytest.mark.parametrize("case", CASES)
def test_maxpool_gradcheck(case, rng):
    k, s, p, shape = case
    gradcheck(MaxPool2D(k, s, p), _distinct(rng, shape))


@pytest.mark.parametrize("case", CASES)
def test_avgpool_gradcheck(case, rng):
    k, s, p, shape = case
    gradcheck(AvgPool2D(k, s, p), rng.standard_normal(shape))


def test_pool_gradcheck_non_contiguous_input(rng):
    x = _distinct(rng, (2, 3, 6, 7)).transpose(0, 1, 3, 2)
    gradcheck(MaxPool2D(2), x)
    gradcheck(AvgPool2D(3, 1, 1), x)


def test_global_avgpool_gradcheck(rng):
    gradcheck(GlobalAvgPool2D(), rng.standard_normal((2, 3, 5, 4)))


def _against_torch(torch, layer, tlayer, x, rng):
    y = layer(asarray(x))
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(asarray(dy))
    xt = torch.tensor(x, requires_grad=True)
    yt = tlayer(xt).reshape(y.shape)
    yt.backward(torch.tensor(dy))
    assert_close(y, yt, what="forward")
    assert_close(dx, xt.grad, what="input gradient")


@pytest.mark.parametrize("case", CASES)
def test_pools_match_torch(case, torch, rng):
    k, s, p, shape = case
    x = rng.standard_normal(shape)
    _against_torch(torch, MaxPool2D(k, s, p), torch.nn.MaxPool2d(k, s, p), x, rng)
    _against_torch(torch, AvgPool2D(k, s, p), torch.nn.AvgPool2d(k, s, p), x, rng)


@pytest.mark.parametrize("case", CASES)
def test_maxpool_ties_go_to_first_like_torch(case, torch, rng):
    k, s, p, shape = case
    x = rng.integers(-1, 2, size=shape).astype(np.float64)  # many ties, including all-equal windows
    _against_torch(torch, MaxPool2D(k, s, p), torch.nn.MaxPool2d(k, s, p), x, rng)


@pytest.mark.parametrize("case", CASES)
def test_maxpool_nan_windows_like_torch(case, torch, rng):
    k, s, p, shape = case
    x = rng.integers(-1, 2, size=shape).astype(np.float64)
    x[rng.random(shape) < 0.3] = np.nan  # windows with one NaN, several, or none: PyTorch routes to the last NaN
    _against_torch(torch, MaxPool2D(k, s, p), torch.nn.MaxPool2d(k, s, p), x, rng)


def test_global_avgpool_matches_flattened_adaptive(torch, rng):
    x = rng.standard_normal((2, 3, 5, 4))
    _against_torch(torch, GlobalAvgPool2D(), torch.nn.AdaptiveAvgPool2d(1), x, rng)


@pytest.mark.parametrize("layer", [MaxPool2D(2), AvgPool2D(3, 2, 1), GlobalAvgPool2D()])
def test_float32_stays_float32(layer, rng):
    y = layer(asarray(rng.standard_normal((2, 3, 6, 6)), np.float32))
    assert y.dtype == np.float32
    assert layer.backward(asarray(np.ones(y.shape), np.float32)).dtype == np.float32


def test_shapes():
    x = asarray(np.zeros((2, 3, 28, 28)), np.float32)
    assert MaxPool2D(2)(x).shape == (2, 3, 14, 14)
    assert AvgPool2D(3, 2, 1)(x).shape == (2, 3, 14, 14)
    assert GlobalAvgPool2D()(x).shape == (2, 3)
    assert MaxPool2D(2).state_dict() == {}


def test_errors(rng):
    with pytest.raises(ValueError, match=r"MaxPool2D: padding \(2, 2\) must be at most half of kernel_size"):
        MaxPool2D(3, padding=2)
    with pytest.raises(ValueError, match="AvgPool2D kernel_size must be an int or a pair"):
        AvgPool2D(0)
    with pytest.raises(ValueError, match=r"MaxPool2D: input of spatial size \(1, 4\).*smaller than the kernel"):
        MaxPool2D(2)(asarray(rng.standard_normal((1, 2, 1, 4)), np.float32))
    for layer in (MaxPool2D(2), AvgPool2D(2), GlobalAvgPool2D()):
        name = type(layer).__name__
        with pytest.raises(ValueError, match=rf"{name} expects a 4-D input, got shape \(2, 4, 4\)"):
            layer(asarray(rng.standard_normal((2, 4, 4)), np.float32))
        with pytest.raises(ValueError, match=f"{name} expects a floating-point array"):
            layer(asarray(np.ones((1, 1, 4, 4), dtype=np.int32)))


def test_moved_drops_cache(rng):
    pool = MaxPool2D(2)
    pool(asarray(rng.standard_normal((1, 1, 4, 4)), np.float32))
    pool.to("cpu")
    assert pool._saved is None


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("make", [MaxPool2D, AvgPool2D])
def test_batch_last_input_gives_the_same_results_and_keeps_its_layout(case, make, rng):
    k, s, p, shape = case
    x = asarray(rng.integers(-1, 2, size=shape), np.float32)  # ties exercise MaxPool's first-max rule
    plain, fast = make(k, s, p), make(k, s, p)
    xb = stored_batch_last(x)
    y, yb = plain(x), fast(xb)
    dy = asarray(rng.standard_normal(y.shape), np.float32)
    np.testing.assert_array_equal(to_numpy(yb), to_numpy(y))
    np.testing.assert_array_equal(to_numpy(fast.backward(stored_batch_last(dy))), to_numpy(plain.backward(dy)))
    assert layout.is_batch_last(yb)  # the output stays batch-last for the next layer
