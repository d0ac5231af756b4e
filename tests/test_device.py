"""One device truth: a layer refuses inputs, parameters or buffers of another backend than the current one,
naming the layer, both backends and the fix (tests/cuda runs the same with an emulated GPU)."""
import numpy as np
import pytest

import xpnet
import xpnet.backend.arrays as arrays
import xpnet.layers.base as base
from xpnet.layers import BatchNorm2D, Conv2D, Dense, ReLU, Sequential
from xpnet.losses import MSE, SoftmaxCrossEntropy


class _Elsewhere(np.ndarray):
    """A NumPy array that the tests below pretend lives on the GPU (another type, as a CuPy array is)."""


@pytest.fixture
def on_gpu(monkeypatch):
    """On the cpu backend, a function that returns its array as one that pretends to live on the GPU."""
    for module in (base, arrays):
        monkeypatch.setattr(module, "backend_of", lambda a: "gpu" if isinstance(a, _Elsewhere) else "cpu")
    with xpnet.backend.using("cpu"):
        yield lambda a: a.view(_Elsewhere)


def test_input_from_another_backend_is_refused(on_gpu):
    x = on_gpu(np.zeros((2, 3), np.float32))
    for layer in (Dense(3, 4), ReLU()):
        with pytest.raises(ValueError, match=rf"{type(layer).__name__} got a gpu \(CuPy\) input array, but the current "
                                             r"backend is cpu: call xpnet.backend.use\('gpu'\) first"):
            layer(x)


@pytest.mark.parametrize("loss", [SoftmaxCrossEntropy(), MSE()], ids=type)
def test_a_prediction_from_another_backend_is_refused(on_gpu, loss):
    pred = on_gpu(np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match=rf"{type(loss).__name__} got a gpu \(CuPy\) prediction array, but the "
                                         r"current backend is cpu: call xpnet.backend.use\('gpu'\) first"):
        loss(pred, np.zeros(2, np.int64) if isinstance(loss, SoftmaxCrossEntropy) else np.zeros((2, 3)))


@pytest.mark.parametrize("key", ["weight", "bias"])
def test_parameters_on_another_backend_are_refused(on_gpu, key):
    model = Sequential(Conv2D(1, 2, 3), ReLU())
    getattr(model[0], key).data = on_gpu(getattr(model[0], key).data)
    with pytest.raises(ValueError, match=rf"Conv2D: its '{key}' is a gpu \(CuPy\) array, but the current backend "
                                         r"is cpu: call model.to\('cpu'\)"):
        model(np.zeros((1, 1, 5, 5), np.float32))


def test_buffers_on_another_backend_are_refused(on_gpu):
    bn = BatchNorm2D(2)
    bn.running_var = on_gpu(bn.running_var)
    with pytest.raises(ValueError, match=r"BatchNorm2D: its 'running_var' is a gpu"):
        bn(np.zeros((2, 2, 3, 3), np.float32))


def test_arrays_of_the_current_backend_pass():
    assert Sequential(Conv2D(1, 2, 3, bias=False), BatchNorm2D(2, track_running_stats=False))(
        xpnet.backend.asarray(np.ones((2, 1, 5, 5), np.float32))).shape == (2, 2, 3, 3)
