"""BatchNorm1D/2D, LayerNorm and GroupNorm: gradients in train and eval, PyTorch parity incl. running stats."""
import numpy as np
import pytest
from util import assert_close, check_against_torch

import xpnet
from xpnet.backend import asarray, to_numpy, xp
from xpnet.layers import BatchNorm1D, BatchNorm1d, BatchNorm2D, BatchNorm2d, GroupNorm, LayerNorm, batchnorm


def _copy_params(layer, tlayer, torch):
    """Copy xpnet parameters and buffers into the torch layer (float64)."""
    with torch.no_grad():
        for key, value in layer.state_dict().items():
            getattr(tlayer, key).copy_(torch.tensor(value))


def _randomise(layer, rng):
    for p in layer.parameters():
        p.data[...] = asarray(rng.uniform(0.5, 1.5, p.shape) if p.name == "weight" else rng.normal(size=p.shape))


BN_CASES = [(BatchNorm1D, (6, 3)), (BatchNorm1D, (2, 3, 5)), (BatchNorm2D, (2, 3, 4, 5)), (BatchNorm2D, (1, 2, 3, 3))]


@pytest.mark.parametrize("cls,shape", BN_CASES)
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_gradcheck(cls, shape, training, rng):
    layer = cls(shape[1])
    _randomise(layer, rng)
    layer.running_mean[...] = asarray(rng.normal(size=shape[1]))
    layer.running_var[...] = asarray(rng.uniform(0.5, 2, shape[1]))
    layer.train(training)
    assert xpnet.gradcheck(layer, rng.standard_normal(shape) * 2 + 1)
    strided = rng.standard_normal(shape[:-1] + (2 * shape[-1],))[..., ::2]
    assert xpnet.gradcheck(layer, strided)  # non-contiguous


@pytest.mark.parametrize("cls,shape", BN_CASES)
@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"momentum": 0.3, "affine": False},
                                    {"track_running_stats": False}])
def test_batchnorm_matches_torch(cls, shape, kwargs, rng, torch, blocks):
    with xpnet.backend.default_dtype(np.float64):
        layer = cls(shape[1], eps=1e-3, **kwargs)
    tlayer = getattr(torch.nn, cls.__name__.replace("D", "d"))(shape[1], eps=1e-3, **kwargs).double()
    if layer.affine:
        _randomise(layer, rng)
    _copy_params(layer, tlayer, torch)
    params = ("weight", "bias") if layer.affine else ()
    for step in range(3):  # training steps update the running statistics
        check_against_torch(layer, tlayer, rng.standard_normal(shape) * (step + 1) + step, torch, params)
    layer.eval()
    tlayer.eval()
    check_against_torch(layer, tlayer, rng.standard_normal(shape), torch, params)
    state = layer.state_dict()
    assert list(state) == list(tlayer.state_dict())
    for key, value in tlayer.state_dict().items():
        assert_close(state[key], value, what=key)


def test_batchnorm_buffers_and_state_dict():
    layer = BatchNorm2D(3)
    assert BatchNorm2d is BatchNorm2D and BatchNorm1d is BatchNorm1D
    assert list(layer.state_dict()) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    nbt = layer.num_batches_tracked
    assert nbt.shape == () and nbt.dtype == np.int64
    assert layer.running_mean.dtype == np.float32 and layer.weight.data.dtype == np.float32
    layer(asarray(np.ones((2, 3, 2, 2)), np.float32))
    layer(asarray(np.ones((2, 3, 2, 2)), np.float32))
    assert int(layer.state_dict()["num_batches_tracked"]) == 2
    assert list(BatchNorm1D(2, affine=False, track_running_stats=False).state_dict()) == []
    assert repr(layer) == "BatchNorm2D(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"


def test_batchnorm_float32_no_promotion(rng):
    for momentum in (0.1, None):
        layer = BatchNorm1D(4, momentum=momentum)
        y = layer(asarray(rng.standard_normal((5, 4)), np.float32))
        dx = layer.backward(xp.ones_like(y))
        assert y.dtype == dx.dtype == layer.running_var.dtype == layer.weight.grad.dtype == np.float32


def test_batchnorm_eval_uses_running_stats(rng):
    layer = BatchNorm1D(2).eval()
    layer.running_mean[...] = asarray([1.0, -2.0])
    layer.running_var[...] = asarray([4.0, 0.25])
    x = np.array([[3.0, -2.0], [1.0, 0.0]], np.float32)
    assert_close(layer(asarray(x)), (x - [1.0, -2.0]) / np.sqrt(np.array([4.0, 0.25]) + 1e-5), rtol=1e-6)
    assert int(to_numpy(layer.num_batches_tracked)) == 0


def test_batchnorm_skips_input_grad(rng):
    layer = BatchNorm2D(2)
    layer.needs_input_grad = False
    y = layer(asarray(rng.standard_normal((2, 2, 3, 3)), np.float32))
    assert layer.backward(xp.ones_like(y)) is None
    assert layer.weight.grad is not None and layer.bias.grad is not None


@pytest.mark.parametrize("make,x,match", [
    (lambda: BatchNorm2D(3), np.zeros((2, 4, 5, 5)),
     r"BatchNorm2D expects 3 channels \(axis 1\), got shape \(2, 4, 5, 5\)"),
    (lambda: BatchNorm2D(3), np.zeros((2, 3, 5)), "BatchNorm2D expects a 4-D input"),
    (lambda: BatchNorm1D(3), np.zeros((2, 3, 4, 5)), "BatchNorm1D expects a 2-D or 3-D input"),
    (lambda: BatchNorm1D(3), np.zeros((2, 3), np.int32), "BatchNorm1D expects a floating-point array"),
    (lambda: BatchNorm1D(3), np.zeros((1, 3)), "BatchNorm1D needs more than 1 value per channel in training"),
    (lambda: LayerNorm(4), np.zeros((2, 3)), r"LayerNorm expects an input ending in \(4,\), got shape \(2, 3\)"),
    (lambda: LayerNorm((2, 3)), np.zeros(3), "LayerNorm expects an input of at least 2 dimensions"),
    (lambda: LayerNorm(3), np.zeros((2, 3), np.int64), "LayerNorm expects a floating-point array"),
    (lambda: GroupNorm(2, 4), np.zeros((2, 6, 3, 3)),
     r"GroupNorm expects 4 channels \(axis 1\), got shape \(2, 6, 3, 3\)"),
    (lambda: GroupNorm(1, 4), np.zeros(4), "GroupNorm expects an input of at least 2 dimensions"),
])
def test_input_errors(make, x, match):
    layer = make()  # built on the backend under test
    with pytest.raises(ValueError, match=match):
        layer(asarray(x))


def test_constructor_errors():
    with pytest.raises(ValueError, match="BatchNorm1D momentum must be in"):
        BatchNorm1D(3, momentum=1.5)
    with pytest.raises(ValueError, match="LayerNorm normalized_shape must be positive"):
        LayerNorm((3, 0))
    with pytest.raises(ValueError, match="num_channels must be a positive multiple of num_groups, got "
                                         "num_groups=3, num_channels=4"):
        GroupNorm(3, 4)


# -- LayerNorm -----------------------------------------------------------------

LN_CASES = [(4, (3, 4)), ((3, 4), (2, 3, 4)), (5, (1, 5)), ((2, 3), (2, 3)), (3, (2, 2, 2, 3))]


@pytest.mark.parametrize("normalized_shape,shape", LN_CASES)
@pytest.mark.parametrize("affine", [True, False])
def test_layernorm_gradcheck_and_torch(normalized_shape, shape, affine, rng, torch):
    with xpnet.backend.default_dtype(np.float64):
        layer = LayerNorm(normalized_shape, eps=1e-4, elementwise_affine=affine)
    if affine:
        _randomise(layer, rng)
    x = rng.standard_normal(shape) * 3 + 1
    assert xpnet.gradcheck(layer, x)
    assert xpnet.gradcheck(layer, x.T.copy().T)  # F-ordered input
    tlayer = torch.nn.LayerNorm(normalized_shape, eps=1e-4, elementwise_affine=affine).double()
    _copy_params(layer, tlayer, torch)
    check_against_torch(layer, tlayer, x, torch, ("weight", "bias") if affine else ())


def test_layernorm_params_and_repr():
    layer = LayerNorm([2, 3])
    assert layer.normalized_shape == (2, 3)
    assert layer.weight.shape == (2, 3) and layer.weight.data.dtype == np.float32
    assert np.all(to_numpy(layer.weight.data) == 1) and np.all(to_numpy(layer.bias.data) == 0)
    assert list(layer.state_dict()) == ["weight", "bias"]
    assert repr(layer) == "LayerNorm((2, 3), eps=1e-05, elementwise_affine=True)"
    assert LayerNorm(3, elementwise_affine=False).parameters() == []


# -- GroupNorm -----------------------------------------------------------------

GN_CASES = [(2, 4, (2, 4, 3, 3)), (1, 3, (2, 3, 2, 5)), (3, 3, (2, 3, 4)), (2, 6, (3, 6)), (4, 8, (1, 8, 2, 2, 2))]


@pytest.mark.parametrize("groups,channels,shape", GN_CASES)
@pytest.mark.parametrize("affine", [True, False])
def test_groupnorm_gradcheck_and_torch(groups, channels, shape, affine, rng, torch):
    with xpnet.backend.default_dtype(np.float64):
        layer = GroupNorm(groups, channels, eps=1e-4, affine=affine)
    if affine:
        _randomise(layer, rng)
    x = rng.standard_normal(shape) * 3 + 1
    assert xpnet.gradcheck(layer, x)
    assert xpnet.gradcheck(layer, rng.standard_normal(shape[:-1] + (2 * shape[-1],))[..., ::2])  # non-contiguous
    tlayer = torch.nn.GroupNorm(groups, channels, eps=1e-4, affine=affine).double()
    _copy_params(layer, tlayer, torch)
    for training in (True, False):  # the same statistics either way
        layer.train(training), tlayer.train(training)
        check_against_torch(layer, tlayer, x, torch, ("weight", "bias") if affine else ())
    assert list(layer.state_dict()) == list(tlayer.state_dict())


def test_groupnorm_normalises_each_group_of_each_sample(rng):
    x = rng.standard_normal((3, 4, 5, 5)) * np.array([1, 2, 30, 40])[:, None, None] + np.arange(4)[:, None, None] * 7
    y = to_numpy(GroupNorm(2, 4, eps=0.0)(asarray(x, np.float32)))
    groups = y.reshape(3, 2, -1)
    assert_close(groups.mean(axis=2), np.zeros((3, 2)), atol=1e-5)
    assert_close(groups.std(axis=2), np.ones((3, 2)), rtol=1e-5)
    assert_close(y[:, :2], (x[:, :2] - x[:, :2].mean(axis=(1, 2, 3), keepdims=True))
                 / x[:, :2].std(axis=(1, 2, 3), keepdims=True), rtol=1e-4, atol=1e-5)


def test_groupnorm_params_repr_and_dtype(rng):
    layer = GroupNorm(2, 4)
    assert list(layer.state_dict()) == ["weight", "bias"] and layer.weight.shape == (4,)
    assert repr(layer) == "GroupNorm(2, 4, eps=1e-05, affine=True)"
    assert GroupNorm(1, 2, affine=False).parameters() == []
    y = layer(asarray(rng.standard_normal((2, 4, 3, 3)), np.float32))
    dx = layer.backward(xp.ones_like(y))
    assert y.dtype == dx.dtype == layer.weight.grad.dtype == np.float32
    layer.needs_input_grad = False
    layer(asarray(rng.standard_normal((2, 4, 3, 3)), np.float32))
    assert layer.backward(xp.ones_like(y)) is None


@pytest.mark.parametrize("cls,shape", BN_CASES + [(BatchNorm2D, (3, 5, 6, 7))])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("strided", [False, True])
def test_batchnorm_matches_its_reference(cls, shape, affine, strided, rng, blocks):
    """The blocked, fused layer computes what batch_norm_reference's few lines do (float64, training), up to
    the rounding of sums over the n values of a channel: a few units of n * eps relative to the largest."""
    with xpnet.backend.default_dtype(np.float64):
        layer = cls(shape[1], eps=1e-3, affine=affine)
    if affine:
        _randomise(layer, rng)
    big = rng.standard_normal(shape[:-1] + (2 * shape[-1],)) * 3 + 1
    x_host = big[..., ::2] if strided else np.ascontiguousarray(big[..., ::2])
    dy_host = rng.standard_normal(shape)
    y = to_numpy(layer(asarray(x_host)))
    dx = to_numpy(layer.backward(asarray(dy_host)))
    weight, bias = (to_numpy(layer.weight.data), to_numpy(layer.bias.data)) if affine else (None, None)
    with xpnet.backend.using("cpu"):  # the oracle: the reference on the host
        y_ref, cache = batchnorm.batch_norm_reference(x_host, weight, bias, 1e-3)
        dx_ref, dw_ref, db_ref = batchnorm.batch_norm_reference_backward(dy_host, cache)
    n = x_host.size // shape[1]
    tol = 8 * n * np.finfo(np.float64).eps
    got = [y, dx] + ([to_numpy(layer.weight.grad), to_numpy(layer.bias.grad)] if affine else [])
    want = [y_ref, dx_ref] + ([dw_ref, db_ref] if affine else [])
    for name, g, w in zip(["y", "dx", "d weight", "d bias"], got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * np.abs(w).max(), err_msg=name)
