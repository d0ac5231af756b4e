"""One device truth, on the emulated GPU: a layer refuses host arrays, and a model left on the other backend,
with a ValueError that names the layer, both backends and the fix, before NumPy or CuPy fail deep inside."""
import numpy as np
import pytest

from xpnet.backend import asarray, using
from xpnet.models import lenet5

pytestmark = pytest.mark.cuda_emulated


def test_a_host_input_to_a_gpu_model_is_refused(emulated_gpu):
    model = lenet5()
    with pytest.raises(ValueError, match=r"Conv2D got a cpu \(NumPy\) input array, but the current backend is gpu: "
                                         r"call xpnet.backend.use\('cpu'\) first, or pass xpnet.backend.asarray"):
        model(np.zeros((1, 1, 28, 28), np.float32))
    assert model(asarray(np.zeros((1, 1, 28, 28), np.float32))).shape == (1, 10)


def test_a_model_moved_to_the_gpu_while_the_cpu_is_current_is_refused(emulated_gpu):
    model = lenet5()  # on the gpu backend
    with using("cpu"):
        with pytest.raises(ValueError, match=r"Conv2D: its 'weight' is a gpu \(CuPy\) array, but the current "
                                             r"backend is cpu: call model.to\('cpu'\)"):
            model(np.zeros((1, 1, 28, 28), np.float32))
        model.to("cpu")
        assert model(np.zeros((1, 1, 28, 28), np.float32)).shape == (1, 10)
