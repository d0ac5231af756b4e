"""The built-in models' `activation` keyword: names, options, callables, and an unchanged default."""
import numpy as np
import pytest

from xpnet.backend import asarray, to_numpy
from xpnet.layers import ELU, GELU, LeakyReLU, PReLU, ReLU, Sigmoid, Softplus, Tanh
from xpnet.models import MODELS, get_activation, get_model


@pytest.mark.parametrize("spec,cls,attr,value", [
    ("relu", ReLU, None, None),
    ("leaky_relu", LeakyReLU, "negative_slope", 0.01),
    ("leaky_relu:0.001", LeakyReLU, "negative_slope", 0.001),
    ("prelu:0.1", PReLU, None, None),
    ("elu:0.5", ELU, "alpha", 0.5),
    ("gelu:tanh", GELU, "approximate", "tanh"),
    ("sigmoid", Sigmoid, None, None),
    ("tanh", Tanh, None, None),
    ("softplus:2", Softplus, "beta", 2.0),
])
def test_spec_builds_the_layer_with_its_option(spec, cls, attr, value):
    layer = get_activation(spec)
    assert type(layer) is cls
    if attr is not None:
        assert getattr(layer, attr) == value


def test_prelu_option_sets_the_initial_slope():
    assert to_numpy(get_activation("prelu:0.1").weight.data).tolist() == pytest.approx([0.1])


def test_a_callable_gives_a_fresh_layer_each_time():
    first, second = get_activation(lambda: ELU(0.3)), get_activation(ELU)
    assert first.alpha == 0.3 and second.alpha == 1.0 and first is not second
    with pytest.raises(TypeError, match="returned int, expected a Layer"):
        get_activation(lambda: 3)


@pytest.mark.parametrize("spec,message", [
    ("swish", r"unknown activation 'swish': expected one of relu, .*softplus"),
    ("relu:0.1", r"relu takes no option; only leaky_relu:<negative_slope>"),
    ("leaky_relu:steep", r"bad negative_slope 'steep'"),
    ("gelu:cubic", r"bad approximate 'cubic'"),
])
def test_bad_specs_say_what_is_expected(spec, message):
    with pytest.raises(ValueError, match=message):
        get_activation(spec)


def test_default_models_are_unchanged():
    """relu is the default: the same layers, keys and output as before the keyword existed."""
    x = asarray(np.random.default_rng(0).standard_normal((2, 1, 28, 28)), dtype=np.float32)
    for name in MODELS:
        plain, relu = get_model(name).eval(), get_model(name, activation="relu").eval()
        assert [type(m) for m in plain.modules()] == [type(m) for m in relu.modules()]
        assert ReLU in {type(m) for m in plain.modules()}
        relu.load_state_dict(plain.state_dict())
        np.testing.assert_array_equal(to_numpy(plain(x)), to_numpy(relu(x)))


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_uses_the_activation_everywhere(name):
    relus = sum(type(m) is ReLU for m in get_model(name).modules())
    model = get_model(name, activation="leaky_relu:0.001")
    leaky = [m for m in model.modules() if type(m) is LeakyReLU]
    assert not any(type(m) is ReLU for m in model.modules())
    assert len(leaky) == relus and all(m.negative_slope == 0.001 for m in leaky)


def test_prelu_adds_one_weight_per_activation():
    model = get_model("lenet5", activation="prelu")
    extra = set(model.state_dict()) - set(get_model("lenet5").state_dict())
    assert extra == {"1.weight", "4.weight", "8.weight", "10.weight"}
    out = model(asarray(np.ones((1, 1, 28, 28), dtype=np.float32)))
    assert out.shape == (1, 10)

