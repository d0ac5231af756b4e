"""Sequential, Residual and the Layer base: structure, state_dict, modes, gradients."""
import numpy as np
import pytest
from util import assert_close, check_against_torch

import xpnet
from xpnet.backend import asarray, to_numpy, xp
from xpnet.layers import BatchNorm1D, Dense, Dropout, Layer, ReLU, Residual, Sequential, Tanh
from xpnet.layers.base import check_input


def _mlp():
    return Sequential(Dense(4, 5, bias_init="normal"), BatchNorm1D(5), ReLU(), Dense(5, 3))


def _torch_mlp(torch):
    nn = torch.nn
    return nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 3)).double()


def _load_into_torch(model, tmodel, torch):
    tmodel.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})


MLP_KEYS = ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
            "1.num_batches_tracked", "3.weight", "3.bias"]


def test_sequential_structure():
    model = _mlp()
    assert len(model) == 4 and isinstance(model[2], ReLU) and model[-1] is model[3]
    assert [type(m).__name__ for m in model] == ["Dense", "BatchNorm1D", "ReLU", "Dense"]
    sub = model[1:3]
    assert isinstance(sub, Sequential) and len(sub) == 2 and sub[0] is model[1]
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias",
                                                        "3.weight", "3.bias"]
    assert [n for n, _ in model.named_buffers()] == ["1.running_mean", "1.running_var", "1.num_batches_tracked"]
    assert len(list(model.modules())) == 5
    assert "(1): BatchNorm1D(5, eps=1e-05" in repr(model)
    with pytest.raises(TypeError, match="Sequential takes Layer instances, got function"):
        Sequential(lambda x: x)


def test_state_dict_keys_and_values_match_torch(torch):
    model, tmodel = _mlp(), _torch_mlp(torch)
    state = model.state_dict()
    assert list(state) == MLP_KEYS == list(tmodel.state_dict())
    assert state["1.num_batches_tracked"].shape == () and state["1.num_batches_tracked"].dtype == np.int64
    assert all(isinstance(v, np.ndarray) for v in state.values())
    state["0.weight"][...] = 7  # a copy: editing it leaves the model alone
    assert not np.any(to_numpy(model[0].weight.data) == 7)


def test_sequential_matches_torch_after_training_steps(rng, torch):
    with xpnet.backend.default_dtype(np.float64):
        model = _mlp()
    tmodel = _torch_mlp(torch)
    _load_into_torch(model, tmodel, torch)
    for _ in range(2):
        check_against_torch(model, tmodel, rng.standard_normal((6, 4)), torch)
    for (name, p), (tname, tp) in zip(model.named_parameters(), tmodel.named_parameters()):
        assert name == tname
        assert_close(p.grad, tp.grad, what=name)
    model.eval()
    tmodel.eval()
    check_against_torch(model, tmodel, rng.standard_normal((3, 4)), torch)
    for key, value in tmodel.state_dict().items():
        assert_close(model.state_dict()[key], value, what=key)


def test_load_state_dict_from_torch(rng, torch):
    with xpnet.backend.default_dtype(np.float64):
        model = _mlp().eval()
    tmodel = _torch_mlp(torch).eval()
    with torch.no_grad():
        tmodel[1].running_mean.normal_()
    model.load_state_dict(tmodel.state_dict())
    x = rng.standard_normal((2, 4))
    assert_close(model(asarray(x)), tmodel(torch.tensor(x)))
    assert model[0].weight.data.dtype == np.float64


def test_load_state_dict_keeps_dtype_and_round_trips(rng):
    model = _mlp()
    other = _mlp()
    other.load_state_dict(model.state_dict())
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[key], value)
    float64_state = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in model.state_dict().items()}
    other.load_state_dict(float64_state)
    assert other[0].weight.data.dtype == np.float32


def test_load_state_dict_errors():
    model = _mlp()
    state = model.state_dict()
    missing = dict(state)
    del missing["1.running_var"]
    with pytest.raises(ValueError, match=r"missing keys \['1.running_var'\], unexpected keys \[\]"):
        model.load_state_dict(missing)
    assert model.load_state_dict(missing, strict=False) == (["1.running_var"], [])
    extra = {**state, "5.weight": np.zeros(3)}
    assert model.load_state_dict(extra, strict=False) == ([], ["5.weight"])  # as PyTorch's IncompatibleKeys
    assert model.load_state_dict(state).missing_keys == []
    with pytest.raises(ValueError, match=r"unexpected keys \['5.weight'\]"):
        model.load_state_dict({**state, "5.weight": np.zeros(3)})
    with pytest.raises(ValueError, match=r"3.weight: expected shape \(3, 5\), got \(5, 3\)"):
        model.load_state_dict({**state, "3.weight": np.zeros((5, 3))})
    with pytest.raises(ValueError, match=r"3.weight: expected shape"):
        model.load_state_dict({**state, "3.weight": np.zeros((5, 3))}, strict=False)


def test_train_eval_propagate(rng):
    model = Sequential(Dense(3, 3), Residual(Sequential(Dropout(0.5), Tanh())))
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    x = asarray(rng.standard_normal((4, 3)), np.float32)
    assert np.array_equal(to_numpy(model(x)), to_numpy(model(x)))  # dropout off in eval
    model.train()
    assert all(m.training for m in model.modules())
    model.train(False)
    assert not model[1].body[0].training


def test_zero_grad_and_accumulation_over_two_backward_passes(rng):
    with xpnet.backend.default_dtype(np.float64):
        model = _mlp()
    x1, x2 = asarray(rng.standard_normal((5, 4))), asarray(rng.standard_normal((5, 4)))
    g1, g2 = asarray(rng.standard_normal((5, 3))), asarray(rng.standard_normal((5, 3)))

    def grads(x, g):
        model.zero_grad()
        model(x)
        model.backward(g)
        return {n: to_numpy(p.grad).copy() for n, p in model.named_parameters()}

    first, second = grads(x1, g1), grads(x2, g2)
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    for x, g in ((x1, g1), (x2, g2)):
        model(x)
        model.backward(g)
    for name, p in model.named_parameters():
        assert_close(p.grad, first[name] + second[name], what=name)


def test_to_cpu_keeps_values_and_dtypes(rng):
    model = _mlp()
    model(asarray(rng.standard_normal((3, 4)), np.float32))
    model.backward(xp.ones((3, 3), dtype=np.float32))
    before = model.state_dict()
    grad = to_numpy(model[0].weight.grad).copy()
    assert model.to("cpu") is model
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[key])
        assert value.dtype == before[key].dtype
    assert isinstance(model[0].weight.data, np.ndarray) and xpnet.backend.backend_of(model[1].running_mean) == "cpu"
    np.testing.assert_array_equal(to_numpy(model[0].weight.grad), grad)


def test_sequential_gradcheck_and_needs_input_grad(rng):
    model = Sequential(Dense(3, 4, bias_init="normal"), Tanh(), Dense(4, 2))
    assert xpnet.gradcheck(model, rng.standard_normal((2, 3)))
    model.needs_input_grad = False
    assert model[0].needs_input_grad is False and model[1].needs_input_grad is True
    model(asarray(rng.standard_normal((2, 3)), np.float32))
    assert model.backward(xp.ones((2, 2), dtype=np.float32)) is None
    assert model[0].weight.grad is not None



def test_slicing_leaves_the_shared_layers_flags_alone():
    model = Sequential(Dense(3, 4), Tanh(), Dense(4, 2))
    model.needs_input_grad = False  # as the Trainer does
    head, tail = model[:2], model[1:]
    assert model[0].needs_input_grad is False and model.needs_input_grad is False
    assert head[0] is model[0] and head.needs_input_grad is False  # the slice reports its first layer's flag
    assert tail[0] is model[1] and tail.needs_input_grad is True and model[1].needs_input_grad is True
    assert len(model[3:]) == 0 and model[3:].needs_input_grad is True
    assert [n for n, _ in tail.named_parameters()] == ["1.weight", "1.bias"]

# -- Residual ------------------------------------------------------------------

def test_residual_identity_gradcheck_and_value(rng):
    body = Sequential(Dense(3, 3, bias_init="normal"), Tanh())
    block = Residual(body)
    assert block.shortcut is None
    assert [n for n, _ in block.named_children()] == ["body"]
    assert list(block.state_dict()) == ["body.0.weight", "body.0.bias"]
    x = asarray(rng.standard_normal((2, 3)), np.float32)
    assert_close(block(x), body(x) + x, rtol=1e-6)
    assert xpnet.gradcheck(block, rng.standard_normal((4, 3)))


def test_residual_projection_matches_torch(rng, torch):
    with xpnet.backend.default_dtype(np.float64):
        block = Residual(Sequential(Dense(4, 3, bias_init="normal"), ReLU()), Dense(4, 3, bias=False))
    assert [n for n, _ in block.named_children()] == ["body", "shortcut"]
    assert list(block.state_dict()) == ["body.0.weight", "body.0.bias", "shortcut.weight"]
    assert xpnet.gradcheck(block, rng.standard_normal((5, 4)))

    class TorchResidual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU())
            self.shortcut = torch.nn.Linear(4, 3, bias=False)

        def forward(self, x):
            return self.body(x) + self.shortcut(x)

    tblock = TorchResidual().double()
    tblock.load_state_dict({k: torch.tensor(v) for k, v in block.state_dict().items()})
    check_against_torch(block, tblock, rng.standard_normal((5, 4)), torch)
    for name, p in block.named_parameters():
        assert_close(p.grad, tblock.get_parameter(name).grad, what=name)


@pytest.mark.parametrize("with_shortcut", [False, True])
def test_residual_needs_input_grad_propagates(with_shortcut, rng):
    block = Residual(Sequential(Dense(3, 3), ReLU()), Dense(3, 3) if with_shortcut else None)
    block.needs_input_grad = False
    assert block.body[0].needs_input_grad is False
    if with_shortcut:
        assert block.shortcut.needs_input_grad is False
    block(asarray(rng.standard_normal((2, 3)), np.float32))
    assert block.backward(xp.ones((2, 3), dtype=np.float32)) is None
    assert all(p.grad is not None for p in block.parameters())
    block.needs_input_grad = True
    block(asarray(rng.standard_normal((2, 3)), np.float32))
    assert block.backward(xp.ones((2, 3), dtype=np.float32)).shape == (2, 3)


def test_residual_errors():
    with pytest.raises(ValueError, match=r"Residual: body output shape \(2, 4\) differs from shortcut output "
                                         r"shape \(2, 3\)"):
        Residual(Dense(3, 4))(asarray(np.zeros((2, 3))))
    with pytest.raises(TypeError, match="Residual shortcut must be a Layer"):
        Residual(Dense(3, 3), shortcut="identity")


def test_layer_base_contract():
    layer = Layer()
    with pytest.raises(NotImplementedError):
        layer(asarray(np.zeros(2)))
    assert layer.parameters() == [] and layer.state_dict() == {} and repr(layer) == "Layer()"


def test_check_input_rank_rules():
    layer, x = Layer(), asarray(np.zeros((2, 3, 4), np.float32))
    check_input(layer, x)  # any rank
    check_input(layer, x, (2, 3), size=3)
    with pytest.raises(ValueError, match=r"Layer expects a 2-D or 4-D input, got shape \(2, 3, 4\)"):
        check_input(layer, x, (2, 4))
    with pytest.raises(ValueError, match=r"Layer expects an input of at least 4 dimensions, got shape \(2, 3, 4\)"):
        check_input(layer, x, min_ndim=4)
    with pytest.raises(ValueError, match=r"Layer expects 5 features \(axis 2\)"):
        check_input(layer, x, size=5, axis=2, what="features")
    with pytest.raises(ValueError, match="Layer expects a floating-point array, got ndarray of dtype int64"):
        check_input(layer, x.astype(np.int64))


def _calls_to_build(n):
    """Python and C function calls made while a Sequential of `n` (already made) layers is assembled."""
    import sys
    layers, count = [ReLU() for _ in range(n)], [0]

    def profile(frame, event, arg):
        count[0] += event in ("call", "c_call")
    sys.setprofile(profile)
    try:
        model = Sequential(*layers)
    finally:
        sys.setprofile(None)
    assert len(model) == n and model[n - 1] is layers[-1]
    return count[0]


def test_building_a_sequential_is_linear_in_its_layers():
    """A model file once asked for 20,000 layers: assembling them must cost O(n), not O(n^2) (calls counted,
    not timed: twice the layers, twice the calls)."""
    assert _calls_to_build(2000) < 2.2 * _calls_to_build(1000)
