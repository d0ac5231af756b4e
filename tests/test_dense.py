"""Dense, Flatten and Dropout: gradients, PyTorch parity, masks, errors."""
import numpy as np
import pytest
from util import assert_close, check_against_torch, stored_batch_last

import xpnet
from xpnet.backend import asarray, layout, to_numpy, xp
from xpnet.layers import Dense, Dropout, Flatten, Linear


def _dense64(*args, **kwargs):
    with xpnet.backend.default_dtype(np.float64):
        return Dense(*args, **kwargs)


def _torch_linear(torch, layer):
    t = torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None).double()
    with torch.no_grad():
        t.weight.copy_(torch.tensor(to_numpy(layer.weight.data)))
        if layer.bias is not None:
            t.bias.copy_(torch.tensor(to_numpy(layer.bias.data)))
    return t


@pytest.mark.parametrize("n,fin,fout,bias", [(1, 1, 1, True), (5, 7, 3, True), (4, 3, 6, False)])
def test_dense_gradcheck(n, fin, fout, bias, rng):
    layer = Dense(fin, fout, bias=bias, bias_init="normal")
    assert xpnet.gradcheck(layer, rng.standard_normal((n, fin)))
    assert xpnet.gradcheck(layer, rng.standard_normal((fin, n)).T)  # non-contiguous input


@pytest.mark.parametrize("bias", [True, False])
def test_dense_matches_torch(bias, rng, torch):
    layer = _dense64(5, 3, bias=bias, bias_init="uniform")
    x = rng.standard_normal((5, 4)).T  # (4, 5), non-contiguous
    check_against_torch(layer, _torch_linear(torch, layer), x, torch, ("weight", "bias") if bias else ("weight",))


@pytest.mark.parametrize("order", ["C", "batch-last"])
def test_dense_output_and_input_grad_stored_batch_last(order, rng):
    """Dense hands on batch-last arrays, as convolutions do, whatever the order of its input and gradient."""
    layer = _dense64(5, 3)
    x = rng.standard_normal((4, 5))
    y = layer(asarray(x) if order == "C" else stored_batch_last(x))
    dy = rng.standard_normal((4, 3))
    dx = layer.backward(asarray(dy) if order == "C" else stored_batch_last(dy))
    assert layout.is_batch_last(y) and layout.is_batch_last(dx)
    w, b = to_numpy(layer.weight.data), to_numpy(layer.bias.data)
    assert_close(y, x @ w.T + b)
    assert_close(dx, dy @ w)


def test_dense_shapes_init_and_alias():
    layer = Linear(4, 3)
    assert Linear is Dense
    assert layer.weight.shape == (3, 4) and layer.bias.shape == (3,)
    assert layer.weight.data.dtype == np.float32
    bound = 1 / np.sqrt(4)  # PyTorch's default, weight and bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    assert np.abs(to_numpy(layer.weight.data)).max() <= bound and np.abs(to_numpy(layer.bias.data)).max() <= bound
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert Dense(4, 3, bias=False).parameters()[0].shape == (3, 4) and len(Dense(4, 3, bias=False).parameters()) == 1
    assert repr(Dense(4, 3, bias=False)) == "Dense(in_features=4, out_features=3, bias=False)"
    assert np.all(to_numpy(Dense(2, 2, weight_init=lambda s: xp.ones(s, dtype=np.float32)).weight.data) == 1)


def test_dense_float32_and_skipped_input_grad(rng):
    layer = Dense(3, 2)
    x = asarray(rng.standard_normal((4, 3)), np.float32)
    y = layer(x)
    assert y.dtype == np.float32
    assert layer.backward(xp.ones_like(y)).dtype == np.float32
    layer.zero_grad()
    layer.needs_input_grad = False
    assert layer.backward(xp.ones_like(y)) is None
    assert_close(layer.bias.grad, np.full(2, 4.0, np.float32))


@pytest.mark.parametrize("x,match", [
    (np.zeros((2, 4)), r"Dense expects 3 features \(axis 1\), got shape \(2, 4\)"),
    (np.zeros((2, 3, 1)), r"Dense expects a 2-D input, got shape \(2, 3, 1\)"),
    (np.zeros((2, 3), np.int64), "Dense expects a floating-point array"),
])
def test_dense_input_errors(x, match):
    with pytest.raises(ValueError, match=match):
        Dense(3, 2)(asarray(x))


def test_dense_constructor_error():
    with pytest.raises(ValueError, match="Dense needs positive sizes"):
        Dense(0, 2)


# -- Flatten -------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,shape,out", [
    ({}, (2, 3, 4, 5), (2, 60)), ({}, (1, 3), (1, 3)),
    ({"start_dim": 0}, (2, 3), (6,)), ({"start_dim": 1, "end_dim": 2}, (2, 3, 4, 5), (2, 12, 5)),
])
def test_flatten(kwargs, shape, out, rng, torch):
    x = rng.standard_normal(shape)
    layer = Flatten(**kwargs)
    assert layer(asarray(x)).shape == out
    assert xpnet.gradcheck(layer, x)
    check_against_torch(layer, torch.nn.Flatten(**kwargs), x, torch)
    xb = stored_batch_last(x)  # as a convolution hands it on
    assert_close(layer(xb), x.reshape(out))
    assert xpnet.gradcheck(layer, xb)


@pytest.mark.parametrize("kwargs,out", [({}, (2, 60)), ({"start_dim": 2}, (2, 3, 20))])
def test_flatten_keeps_batch_last_memory(kwargs, out, rng):
    """Flattening axes after the batch axis of a batch-last array is a view, stored batch-last, both ways."""
    x = stored_batch_last(rng.standard_normal((2, 3, 4, 5)))
    layer = Flatten(**kwargs)
    y = layer(x)
    assert y.shape == out and layout.is_batch_last(y) and xp.shares_memory(y, x)
    dy = stored_batch_last(rng.standard_normal(out))
    dx = layer.backward(dy)
    assert dx.shape == x.shape and layout.is_batch_last(dx) and xp.shares_memory(dx, dy)
    assert_close(dx, to_numpy(dy).reshape(x.shape))


def test_flatten_errors():
    with pytest.raises(ValueError, match="Flatten expects an input of at least 1 dimensions"):
        Flatten()(asarray(np.zeros(())))
    with pytest.raises(ValueError, match=r"Flatten\(start_dim=1, end_dim=-1\) does not fit an input of shape \(3,\)"):
        Flatten()(asarray(np.zeros(3)))


# -- Dropout -------------------------------------------------------------------

def test_dropout_eval_is_identity(rng):
    layer = Dropout(0.7).eval()
    x = asarray(rng.standard_normal((3, 4)), np.float32)
    assert layer(x) is x
    dy = xp.ones_like(x)
    assert layer.backward(dy) is dy


def test_dropout_train_scaling_and_fraction(rng):
    layer = Dropout(0.3)
    x = asarray(np.ones((200, 500)), np.float32)
    y = to_numpy(layer(x))
    assert y.dtype == np.float32
    kept = y != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    dx = to_numpy(layer.backward(xp.full(x.shape, 2.0, dtype=np.float32)))
    np.testing.assert_allclose(dx, 2 * y, rtol=1e-6)  # backward uses the same mask


def test_dropout_reproducible_with_seed():
    x = asarray(np.ones((8, 8)), np.float32)
    xpnet.backend.seed(5)
    a = to_numpy(Dropout()(x))
    b = to_numpy(Dropout()(x))
    xpnet.backend.seed(5)
    assert np.array_equal(to_numpy(Dropout()(x)), a)
    assert not np.array_equal(a, b)


def test_dropout_gradcheck_with_fixed_mask(rng):
    """A given source of uniform draws decides the mask: kept where the draw is >= p, scaled by 1 / (1 - p)."""
    rng_mask = rng.random((5, 6))
    layer = Dropout(0.4, uniform=lambda shape, dtype: asarray(rng_mask[:shape[0], :shape[1]], dtype))
    assert xpnet.gradcheck(layer, rng.standard_normal((5, 6)))
    y = to_numpy(layer(asarray(np.ones((5, 6)))))
    np.testing.assert_array_equal(y == 0, rng_mask < 0.4)
    np.testing.assert_allclose(y[rng_mask >= 0.4], 1 / 0.6)


def test_dropout_p_zero_and_needs_input_grad(rng):
    x = asarray(rng.standard_normal((2, 3)), np.float32)
    assert Dropout(0.0)(x) is x
    layer = Dropout(0.5)
    layer.needs_input_grad = False
    layer(x)
    assert layer.backward(xp.ones_like(x)) is None


def test_dropout_p_one_drops_everything_like_torch(rng, torch):
    x = rng.standard_normal((4, 5))
    layer = Dropout(1.0)
    y, dx = to_numpy(layer(asarray(x))), to_numpy(layer.backward(asarray(np.ones_like(x))))
    torch_y = torch.nn.Dropout(1.0)(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(y, torch_y)
    np.testing.assert_array_equal(y, np.zeros_like(x))
    np.testing.assert_array_equal(dx, np.zeros_like(x))


@pytest.mark.parametrize("p", [-0.1, 1.5, float("nan")])
def test_dropout_rejects_bad_p(p):
    with pytest.raises(ValueError, match=r"Dropout probability must be in \[0, 1\]"):
        Dropout(p)


def test_dropout_rejects_int_input():
    with pytest.raises(ValueError, match="Dropout expects a floating-point array"):
        Dropout()(asarray(np.ones(3, np.int32)))
    assert repr(Dropout(0.2)) == "Dropout(p=0.2)"


def test_dropout_keeps_the_memory_order_of_its_input(rng):
    """Dropout's mask is drawn in C order; its output and input gradient keep the layout of what came in."""
    layer = Dropout(0.5)
    x = stored_batch_last(rng.standard_normal((4, 6)))
    y = layer(x)
    dx = layer.backward(stored_batch_last(rng.standard_normal((4, 6))))
    assert layout.is_batch_last(y) and layout.is_batch_last(dx)
    kept = to_numpy(layer._kept)
    assert_close(y, to_numpy(x) * kept)
