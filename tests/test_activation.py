"""Activations, Softmax/LogSoftmax and erf: gradients, PyTorch parity, stability, errors."""
import math

import numpy as np
import pytest
from util import assert_close, check_against_torch

import xpnet
from xpnet.backend import asarray, to_numpy
from xpnet.backend.special import erf
from xpnet.layers import ELU, GELU, LeakyReLU, LogSoftmax, PReLU, ReLU, Sigmoid, Softmax, Softplus, Tanh


ELEMENTWISE = [
    (ReLU, {}), (LeakyReLU, {}), (LeakyReLU, {"negative_slope": 0.2}), (ELU, {}), (ELU, {"alpha": 0.5}),
    (GELU, {}), (GELU, {"approximate": "tanh"}), (Sigmoid, {}), (Tanh, {}), (Softplus, {}),
    (Softplus, {"beta": 2.0, "threshold": 3.0}), (PReLU, {}),
]


def _torch_layer(torch, cls, kwargs):
    return getattr(torch.nn, cls.__name__)(**kwargs).double()


@pytest.mark.parametrize("cls,kwargs", ELEMENTWISE, ids=lambda v: getattr(v, "__name__", str(v)))
@pytest.mark.parametrize("shape", [(1, 3), (2, 3, 5), (7,)])
def test_elementwise_gradcheck(cls, kwargs, shape, rng):
    x = rng.standard_normal(shape) * 2
    assert xpnet.gradcheck(cls(**kwargs), x)


@pytest.mark.parametrize("cls,kwargs", ELEMENTWISE, ids=lambda v: getattr(v, "__name__", str(v)))
def test_elementwise_gradcheck_noncontiguous(cls, kwargs, rng):
    x = rng.standard_normal((4, 6)).T[::2]
    assert not x.flags.c_contiguous
    assert xpnet.gradcheck(cls(**kwargs), x)


@pytest.mark.parametrize("cls,kwargs", ELEMENTWISE, ids=lambda v: getattr(v, "__name__", str(v)))
def test_elementwise_matches_torch(cls, kwargs, rng, torch):
    # wide range: both signs, beyond Softplus thresholds, deep in the tails of sigmoid/tanh/GELU
    x = np.concatenate([rng.standard_normal(40) * 3, [-30.0, -8.0, -1e-3, 1e-3, 8.0, 25.0]]).reshape(2, 23)
    with xpnet.backend.default_dtype(np.float64):
        layer = cls(**kwargs)
    params = ("weight",) if cls is PReLU else ()
    check_against_torch(layer, _torch_layer(torch, cls, kwargs), x, torch, params)


@pytest.mark.parametrize("cls,kwargs", ELEMENTWISE, ids=lambda v: getattr(v, "__name__", str(v)))
def test_elementwise_keeps_float32_and_shape(cls, kwargs, rng):
    x = asarray(rng.standard_normal((2, 3, 4)), np.float32)
    layer = cls(**kwargs)
    y = layer(x)
    dx = layer.backward(xpnet.backend.xp.ones_like(y))
    assert y.dtype == np.float32 and dx.dtype == np.float32
    assert y.shape == dx.shape == x.shape


def test_prelu_per_channel_matches_torch(rng, torch):
    x = rng.standard_normal((3, 4, 5, 2))
    with xpnet.backend.default_dtype(np.float64):
        layer = PReLU(num_parameters=4, init=0.1)
    layer.weight.data[...] = asarray(rng.uniform(-0.5, 0.5, 4))
    tlayer = torch.nn.PReLU(4).double()
    with torch.no_grad():
        tlayer.weight.copy_(torch.tensor(to_numpy(layer.weight.data)))
    check_against_torch(layer, tlayer, x, torch, params=("weight",))
    assert xpnet.gradcheck(layer, rng.standard_normal((1, 4, 3)))


def test_prelu_weight_grad_accumulates_without_input_grad(rng):
    layer = PReLU(3)
    layer.needs_input_grad = False
    layer(asarray(rng.standard_normal((2, 3)), np.float32))
    assert layer.backward(xpnet.backend.xp.ones((2, 3), dtype=np.float32)) is None
    assert layer.weight.grad is not None and layer.weight.grad.shape == (3,)


@pytest.mark.parametrize("cls", [ReLU, Sigmoid, GELU, Softmax])
def test_needs_input_grad_false_returns_none(cls, rng):
    layer = cls()
    layer.needs_input_grad = False
    y = layer(asarray(rng.standard_normal((2, 3)), np.float32))
    assert layer.backward(xpnet.backend.xp.ones_like(y)) is None


def test_extreme_inputs_stay_finite_without_warnings():
    x = asarray([[-1000.0, -40.0, 0.0, 40.0, 1000.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        for layer in (Sigmoid(), Tanh(), Softplus(), ELU(), GELU(), Softmax(), LogSoftmax()):
            y = layer(x)
            dx = layer.backward(xpnet.backend.xp.ones_like(y))
            assert np.isfinite(to_numpy(y)).all() and np.isfinite(to_numpy(dx)).all(), type(layer).__name__
    assert_close(Sigmoid()(x), [[0.0, 1 / (1 + math.exp(40)), 0.5, 1 / (1 + math.exp(-40)), 1.0]], rtol=1e-15)
    assert_close(Softplus()(x)[0, 3:], [40.0, 1000.0])


@pytest.mark.parametrize("cls", [Softmax, LogSoftmax])
@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_softmax_gradcheck_and_torch(cls, dim, rng, torch):
    x = rng.standard_normal((3, 4, 2))
    assert xpnet.gradcheck(cls(dim=dim), x)
    assert xpnet.gradcheck(cls(dim=dim), x.transpose(2, 0, 1))
    check_against_torch(cls(dim=dim), getattr(torch.nn, cls.__name__)(dim=dim), x, torch)


def test_softmax_large_logits(torch):
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
    y = check_against_torch(Softmax(), torch.nn.Softmax(dim=-1), x, torch)
    assert_close(y, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-15)
    y = check_against_torch(LogSoftmax(), torch.nn.LogSoftmax(dim=-1), x, torch)
    assert np.isfinite(to_numpy(y)).all()
    assert_close(y[0], [0.0, -2e4, -1e4])


@pytest.mark.parametrize("cls", [Softmax, LogSoftmax])
@pytest.mark.parametrize("shape", [(7,), (3, 5)])
def test_softmax_without_dim_follows_torch(cls, shape, rng, torch):
    # PyTorch's implicit axis for 1-D and 2-D inputs is the last one (it warns that the choice is deprecated).
    x = rng.standard_normal(shape)
    with pytest.warns(UserWarning, match="Implicit dimension choice"):
        check_against_torch(cls(), getattr(torch.nn, cls.__name__)(), x, torch)


def test_softmax_rows_sum_to_one_float32(rng):
    y = Softmax(dim=1)(asarray(rng.standard_normal((5, 7)) * 50, np.float32))
    assert y.dtype == np.float32
    assert_close(y.sum(axis=1), np.ones(5, np.float32), rtol=1e-6)


def test_erf_matches_math_erf():
    x = np.concatenate([np.linspace(-7, 7, 4001), [0.0, 1.5, -1.5, 1e-300, -1e-8, np.inf, -np.inf]])
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(erf(x), expected, rtol=1e-15, atol=0)
    assert np.isnan(erf(np.array([np.nan])))[0]
    x32 = np.linspace(-6, 6, 4001, dtype=np.float32)
    assert erf(x32).dtype == np.float32
    np.testing.assert_allclose(erf(x32), [math.erf(v) for v in x32], rtol=2.5e-7, atol=1e-12)  # a few float32 roundings


@pytest.mark.parametrize("layer,x,match", [
    (ReLU(), np.arange(3), "ReLU expects a floating-point array"),
    (Tanh(), [0.5, 1.0], "Tanh expects a floating-point array"),
    (PReLU(3), np.zeros((2, 4)), r"PReLU expects 3 channels \(axis 1\), got shape \(2, 4\)"),
    (PReLU(3), np.zeros(3), "PReLU expects an input of at least 2 dimensions"),
    (Softmax(dim=2), np.zeros((2, 3)), r"Softmax\(dim=2\) needs dim in \[-2, 2\)"),
    (LogSoftmax(), np.zeros(()), "LogSoftmax expects an input of at least 1 dimensions"),
    (Softmax(), np.zeros((1, 2, 3, 3)), r"Softmax\(\) needs dim for a 4-D input .* Softmax\(dim=1\)"),
    (LogSoftmax(), np.zeros((2, 3, 4)), r"LogSoftmax\(\) needs dim for a 3-D input"),
])
def test_input_errors(layer, x, match):
    with pytest.raises(ValueError, match=match):
        layer(asarray(x) if isinstance(x, np.ndarray) else x)


def test_constructor_errors():
    with pytest.raises(TypeError, match="Softmax: dim must be an int or None, got 1.0"):
        Softmax(1.0)
    with pytest.raises(ValueError, match="GELU approximate must be 'none' or 'tanh'"):
        GELU(approximate="fast")
    with pytest.raises(ValueError, match="PReLU num_parameters must be >= 1"):
        PReLU(0)


def test_prelu_init_and_state_dict():
    layer = PReLU(num_parameters=2, init=0.3)
    assert list(layer.state_dict()) == ["weight"]
    np.testing.assert_array_equal(layer.state_dict()["weight"], np.full(2, 0.3, np.float32))
