"""Built-in models: output shapes, parameter counts, PyTorch-identical state_dict keys and outputs, and a first
loss of about ln C."""
import math

import numpy as np
import pytest
from util import assert_close

import xpnet
from xpnet.backend import asarray, seed
from xpnet.bench.twin import torch_twin
from xpnet.losses import CrossEntropyLoss
from xpnet.models import MODELS, get_model

CASES = {  # name: (kwargs, expected parameter count)
    "lenet5": ({}, 61_706),
    "mlp": ({}, 784 * 400 + 400 + 400 * 100 + 100 + 100 * 10 + 10),
    "simple_cnn": ({}, 8 * 9 + 8 + 8 * 14 * 14 * 10 + 10),
    "fc_net": ({}, 784 * 100 + 100 + 100 * 100 + 100 + 100 * 10 + 10),
    "fashion_cnn": ({}, 32 * 9 + 2 * 32 + 32 * 32 * 9 + 2 * 32 + 64 * 32 * 9 + 2 * 64 + 64 * 64 * 9 + 2 * 64
                    + 3136 * 128 + 128 + 128 * 10 + 10),
}
VARIANTS = [(name, kwargs) for name, (kwargs, _) in CASES.items()] + [
    ("fc_net", {"hidden": (20, 30, 15), "norm": "batch", "dropout": 0.25}),
    ("fc_net", {"hidden": (20,), "norm": "layer"}),
    ("fashion_cnn", {"widths": (4, 6), "hidden": 16}),
]


LENET5 = ["Conv2D(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2), bias=True)", "ReLU()",
          "MaxPool2D(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))",
          "Conv2D(6, 16, kernel_size=(5, 5), stride=(1, 1), padding=(0, 0), bias=True)", "ReLU()",
          "MaxPool2D(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))", "Flatten(start_dim=1, end_dim=-1)",
          "Dense(in_features=400, out_features=120, bias=True)", "ReLU()",
          "Dense(in_features=120, out_features=84, bias=True)", "ReLU()",
          "Dense(in_features=84, out_features=10, bias=True)"]


def test_lenet5_is_the_classic_architecture():
    assert [repr(layer) for layer in get_model("lenet5")] == LENET5


def test_registry_and_unknown_name():
    assert set(CASES) <= set(MODELS)
    with pytest.raises(ValueError, match="unknown model 'bogus'.*lenet5.*fashion_cnn"):
        get_model("bogus")


@pytest.mark.parametrize("name,kwargs", VARIANTS)
def test_output_shape(name, kwargs, rng):
    model = get_model(name, **kwargs).eval()
    out = model(asarray(rng.standard_normal((2, 1, 28, 28)), dtype=np.float32))
    assert out.shape == (2, 10) and out.dtype == np.float32


@pytest.mark.parametrize("name", CASES)
def test_parameter_count(name):
    kwargs, expected = CASES[name]
    assert sum(p.data.size for p in get_model(name, **kwargs).parameters()) == expected


@pytest.mark.parametrize("name,kwargs", VARIANTS)
def test_state_dict_matches_torch(name, kwargs, torch, rng):
    """torch.nn builds the same network from the layers' settings, loads the weights strictly under the same keys
    and shapes, and computes the same output."""
    with xpnet.backend.default_dtype(np.float64):
        model = get_model(name, **kwargs).eval()
    twin = torch_twin(model).double().eval()
    state = model.state_dict()
    theirs = twin.state_dict()
    assert list(state) == list(theirs)
    assert all(state[k].shape == tuple(theirs[k].shape) for k in state)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)
    x = rng.standard_normal((2, 1, 28, 28))
    assert_close(model(asarray(x)), twin(torch.from_numpy(x)), rtol=1e-9, atol=1e-12, what=name)


def test_fc_net_rejects_bad_options():
    with pytest.raises(ValueError, match="norm"):
        get_model("fc_net", norm="group")
    with pytest.raises(ValueError, match="dropout"):
        get_model("fc_net", dropout=1.0)


@pytest.mark.parametrize("name", MODELS)
def test_initial_loss_is_ln_classes(name, rng):
    """The classic sanity check: freshly initialised (PyTorch's defaults), a 10-class model's cross-entropy on
    random inputs and random labels is about ln 10, since its logits start small and near-uniform."""
    seed(0)
    model = get_model(name).eval()
    x = asarray(rng.standard_normal((256, 1, 28, 28)), dtype=np.float32)
    labels = asarray(rng.integers(0, 10, 256))
    loss = float(CrossEntropyLoss()(model(x), labels))
    assert abs(loss - math.log(10)) < 0.25, f"{name}: first loss {loss:.3f}, expected ln 10 = {math.log(10):.3f}"
