"""Initializers: shapes, dtypes, statistics, PyTorch's fans and gains, orthogonality, seeding, errors."""
import math

import numpy as np
import pytest
from util import assert_close

from xpnet import init
from xpnet.backend import default_dtype, rng, seed, to_numpy, xp
from xpnet.layers import (BatchNorm1D, BatchNorm2D, Conv2D, ConvTranspose2D, Dense, GroupNorm, LayerNorm,
                          PReLU)

BIG = (256, 64, 3, 3)  # fan_in 576, fan_out 2304; 147456 draws
FAN_IN, FAN_OUT = 64 * 9, 256 * 9


def _draw(fn, *args, **kwargs):
    w = fn(BIG, *args, **kwargs)
    assert isinstance(w, type(xp.zeros(0))) and w.shape == BIG and w.dtype == np.float32
    return to_numpy(w).astype(np.float64)


@pytest.mark.parametrize("name", sorted(init.INITIALIZERS))
def test_shape_and_default_dtype(name):
    fn = init.get(name)
    assert fn((4, 3, 2, 2)).dtype == np.float32
    with default_dtype(np.float64):
        w = fn((4, 3, 2, 2))
    assert isinstance(w, type(xp.zeros(0))) and w.shape == (4, 3, 2, 2) and w.dtype == np.float64


def test_constants():
    assert (_draw(init.zeros) == 0).all() and (_draw(init.ones) == 1).all()
    assert_close(_draw(init.constant, 0.25), np.full(BIG, 0.25))


def _check_normal(w, mean, std):
    assert abs(w.mean() - mean) < 0.02 * std + 1e-3 * abs(mean)
    assert abs(w.std() / std - 1) < 0.02


def _check_uniform(w, low, high):
    assert low <= w.min() and w.max() < high
    assert w.min() < low + 1e-3 * (high - low) and w.max() > high - 1e-3 * (high - low)  # fills the range
    _check_normal(w, (low + high) / 2, (high - low) / math.sqrt(12))


def test_normal_and_uniform_statistics():
    _check_normal(_draw(init.normal, 2.0, 3.0), 2.0, 3.0)
    _check_uniform(_draw(init.uniform, -1.0, 3.0), -1.0, 3.0)


@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_xavier_statistics(gain):
    bound = gain * math.sqrt(6 / (FAN_IN + FAN_OUT))
    _check_uniform(_draw(init.xavier_uniform, gain), -bound, bound)
    _check_normal(_draw(init.xavier_normal, gain), 0.0, bound / math.sqrt(3))


@pytest.mark.parametrize("a, mode, nonlinearity", [(0.0, "fan_in", "relu"), (math.sqrt(5), "fan_in", "leaky_relu"),
                                                   (0.1, "fan_out", "leaky_relu"), (0.0, "fan_in", "tanh")])
def test_kaiming_statistics_match_torch(a, mode, nonlinearity, torch):
    fan = FAN_IN if mode == "fan_in" else FAN_OUT
    std = torch.nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    _check_uniform(_draw(init.kaiming_uniform, a, mode, nonlinearity), -math.sqrt(3) * std, math.sqrt(3) * std)
    _check_normal(_draw(init.kaiming_normal, a, mode, nonlinearity), 0.0, std)
    theirs = torch.nn.init.kaiming_uniform_(torch.empty(BIG, dtype=torch.float64), a=a, mode=mode,
                                            nonlinearity=nonlinearity).numpy()
    assert abs(np.abs(theirs).max() / np.abs(_draw(init.kaiming_uniform, a, mode, nonlinearity)).max() - 1) < 1e-3


def test_kaiming_defaults_are_torch_defaults(torch):
    """kaiming_uniform(a=sqrt(5)) is the PyTorch Linear/Conv default: bound 1 / sqrt(fan_in)."""
    w = _draw(init.kaiming_uniform, math.sqrt(5))
    assert abs(np.abs(w).max() * math.sqrt(FAN_IN) - 1) < 1e-3


@pytest.mark.parametrize("shape", [(3, 4), (8, 3, 5, 5), (2, 3, 4), (6, 2, 1, 3, 3)])
def test_fans_as_torch(shape, torch):
    assert init._fans(shape) == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


@pytest.mark.parametrize("nonlinearity, param", [
    ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None), ("conv_transpose2d", None),
    ("sigmoid", None), ("tanh", None), ("relu", None), ("leaky_relu", None), ("leaky_relu", 0.2),
    ("leaky_relu", math.sqrt(5)), ("selu", None)])
def test_gain_as_torch(nonlinearity, param, torch):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(torch.nn.init.calculate_gain(nonlinearity, param),
                                                                     rel=1e-15)


@pytest.mark.parametrize("shape", [(64, 32), (32, 64), (16, 4, 3, 3), (8, 8)])
def test_orthogonal_is_orthogonal(shape):
    with default_dtype(np.float64):
        w = to_numpy(init.orthogonal(shape, gain=2.0)).reshape(shape[0], -1)
    small = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
    assert_close(small, 4.0 * np.eye(min(w.shape)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["normal", "uniform", "xavier_uniform", "xavier_normal", "kaiming_uniform",
                                  "kaiming_normal", "orthogonal"])
def test_same_seed_same_weights(name):
    fn = init.get(name)
    seed(7)
    a = to_numpy(fn((5, 4, 3)))
    seed(7)
    b = to_numpy(fn((5, 4, 3)))
    c = to_numpy(fn((5, 4, 3)))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_get_binds_defaults_and_passes_callables():
    mine = lambda shape: xp.full(shape, 3.0)  # noqa: E731
    assert init.get(mine) is mine
    bound = to_numpy(init.get("constant", value=1.5)((2, 2)))
    assert (bound == 1.5).all()


def test_unknown_names_raise_value_error():
    with pytest.raises(ValueError, match=r"unknown initializer 'he'.*kaiming_uniform"):
        init.get("he")
    with pytest.raises(ValueError, match=r"unknown initializer 'he'"):
        init.get_bias("he", (3, 4))
    with pytest.raises(ValueError, match=r"unknown nonlinearity 'gelu'.*relu"):
        init.calculate_gain("gelu")
    with pytest.raises(ValueError, match=r"mode.*fan_in.*fan_out.*got 'fan_avg'"):
        init.kaiming_normal((3, 4), mode="fan_avg")
    for fn in (init.xavier_uniform, init.kaiming_uniform, init.orthogonal):
        with pytest.raises(ValueError, match=r"at least 2 dimensions.*\(5,\)"):
            fn((5,))


# Layers' defaults: the same bounds as PyTorch's layers, weight and bias, for each fan rule (groups, ConvTranspose).
# (xpnet layer, the torch.nn layer, the same arguments); the arguments in PyTorch's order for both.
LAYERS = [
    (Dense, "Linear", (3, 5)), (Dense, "Linear", (784, 400)), (Dense, "Linear", (1, 1)),
    (Conv2D, "Conv2d", (1, 6, 5)), (Conv2D, "Conv2d", (3, 8, (3, 5))), (Conv2D, "Conv2d", (4, 6, 3, 1, 0, 1, 2)),
    (Conv2D, "Conv2d", (6, 6, 3, 1, 1, 1, 6)),
    (ConvTranspose2D, "ConvTranspose2d", (8, 3, (2, 4))), (ConvTranspose2D, "ConvTranspose2d", (1, 1, 1)),
    (ConvTranspose2D, "ConvTranspose2d", (4, 6, 3, 2, 0, 0, 2)), (ConvTranspose2D, "ConvTranspose2d", (6, 2, 3)),
]


def _torch_bounds(torch, theirs):
    """PyTorch's own numbers for its layer's reset_parameters: kaiming_uniform_(a=sqrt(5)) on the weight, and
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) on the bias, fan_in from torch.nn.init's fan rule."""
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(theirs.weight)
    weight = math.sqrt(3.0) * torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5)) / math.sqrt(fan_in)
    return weight, 1 / math.sqrt(fan_in)


@pytest.mark.parametrize("cls, torch_name, args", LAYERS, ids=[f"{t}{a}".replace(" ", "") for _, t, a in LAYERS])
def test_layer_defaults_draw_with_torch_bounds(cls, torch_name, args, torch):
    """Each default draw equals U(-b, b) with PyTorch's bound b, drawn in PyTorch's order (weight, then bias)."""
    theirs = getattr(torch.nn, torch_name)(*args)
    weight_bound, bias_bound = _torch_bounds(torch, theirs)
    with default_dtype(np.float64):
        seed(3)
        layer = cls(*args)
        seed(3)
        weight = rng().uniform(-weight_bound, weight_bound, size=tuple(theirs.weight.shape))
        bias = rng().uniform(-bias_bound, bias_bound, size=tuple(theirs.bias.shape))
    assert layer.weight.shape == tuple(theirs.weight.shape)
    # The two bounds agree to a few ulps, so each draw a + (b - a) u does to a few ulps of the bound.
    assert_close(layer.weight.data, weight, rtol=0, atol=1e-14 * weight_bound)
    assert_close(layer.bias.data, bias, rtol=0, atol=1e-14 * bias_bound)


@pytest.mark.parametrize("cls, args, fan_in", [(Dense, (576, 256), 576), (Conv2D, (64, 256, 3), 576),
                                               (ConvTranspose2D, (256, 64, 3), 576)])
def test_layer_defaults_fill_their_range(cls, args, fan_in):
    """Sample sanity on 147456 weight draws: inside (-b, b), reaching both ends, variance b^2 / 3."""
    layer = cls(*args)
    bound = 1 / math.sqrt(fan_in)
    _check_uniform(to_numpy(layer.weight.data).astype(np.float64), -bound, bound)
    b = to_numpy(layer.bias.data)
    assert (np.abs(b) < bound).all() and b.std() > bound / 3  # 256 draws: spread over the range, not zeros


def test_named_schemes_stay_available():
    layer = Conv2D(64, 256, 3, weight_init="kaiming_normal", bias_init="zeros")
    _check_normal(to_numpy(layer.weight.data).astype(np.float64), 0.0, math.sqrt(2 / FAN_IN))
    assert (to_numpy(layer.bias.data) == 0).all()
    dense = Dense(4, 3, weight_init="xavier_uniform", bias_init=lambda shape: xp.full(shape, 2.0, dtype=np.float32))
    assert np.abs(to_numpy(dense.weight.data)).max() <= math.sqrt(6 / 7) and (to_numpy(dense.bias.data) == 2).all()
    seed(5)
    explicit = Dense(7, 3, weight_init=init.fan_in_uniform, bias_init=init.fan_in_uniform)
    seed(5)
    assert_close(Dense(7, 3).bias.data, explicit.bias.data, rtol=0, atol=0)


@pytest.mark.parametrize("ours, theirs", [
    (lambda: BatchNorm1D(5), lambda nn: nn.BatchNorm1d(5)), (lambda: BatchNorm2D(3), lambda nn: nn.BatchNorm2d(3)),
    (lambda: LayerNorm((4, 3)), lambda nn: nn.LayerNorm((4, 3))),
    (lambda: GroupNorm(2, 6), lambda nn: nn.GroupNorm(2, 6)),
    (lambda: PReLU(), lambda nn: nn.PReLU()), (lambda: PReLU(4), lambda nn: nn.PReLU(4))])
def test_constant_defaults_as_torch(ours, theirs, torch):
    """Norm layers' affine ones and zeros and PReLU's 0.25: the values of PyTorch's fresh layer."""
    mine, reference = ours().state_dict(), theirs(torch.nn).state_dict()
    names = [k for k in reference if k != "num_batches_tracked"]
    assert names and all(k in mine for k in names)
    for k in names:
        assert_close(mine[k], reference[k].numpy(), rtol=0, atol=0, what=k)
