"""Built-in models: output shapes, parameter counts, and PyTorch-identical state_dict keys and outputs."""
import numpy as np
import pytest
from util import assert_close

import xpnet
from xpnet.backend import asarray
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


def torch_twin(torch, name, kwargs):
    """The same architecture written with torch.nn, layer for layer."""
    nn = torch.nn
    if name == "lenet5":
        return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84),
                             nn.ReLU(), nn.Linear(84, 10))
    if name == "simple_cnn":
        return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(8 * 14 * 14, 10))
    if name in ("mlp", "fc_net"):
        hidden = kwargs.get("hidden", (400, 100) if name == "mlp" else (100, 100))
        norm = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}.get(kwargs.get("norm"))
        layers, width = [nn.Flatten()], 784
        for size in hidden:
            layers += [nn.Linear(width, size)] + ([norm(size)] if norm else []) + [nn.ReLU()]
            layers += [nn.Dropout(kwargs["dropout"])] if kwargs.get("dropout") else []
            width = size
        return nn.Sequential(*layers, nn.Linear(width, 10))
    widths, hidden = kwargs.get("widths", (32, 64)), kwargs.get("hidden", 128)
    layers, channels = [], 1
    for w in widths:
        for c in (channels, w):
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
        layers.append(nn.MaxPool2d(2))
        channels = w
    side = 28 // 2 ** len(widths)
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * side * side, hidden), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(hidden, 10))


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
    """Same keys and shapes as the torch.nn twin; torch loads the weights strictly and computes the same output."""
    with xpnet.backend.default_dtype(np.float64):
        model = get_model(name, **kwargs).eval()
    twin = torch_twin(torch, name, kwargs).double().eval()
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
