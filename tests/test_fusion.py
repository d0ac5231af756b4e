"""Batch norm folded into the convolution or dense layer before it (layers/fusion.py): the fused layer computes the
eval-mode pair, its weights are PyTorch's fuse_conv_bn_eval's / fuse_linear_bn_eval's, `fuse` folds every pair of a
model it can fold exactly and leaves the model alone."""
import copy

import numpy as np
import pytest

import xpnet
from xpnet import layers as L
from xpnet.backend import asarray, is_array, to_numpy
from xpnet.models import fashion_cnn, fc_net, lenet5
from xpnet.parity.reduction import longest_reduction

from util import assert_close, assert_rounding_close

# One case a line: the layer and its arguments, then the batch norm's arguments.
CASES = [
    (L.Conv2D, dict(in_channels=3, out_channels=4, kernel_size=3, padding=1), {}),
    (L.Conv2D, dict(in_channels=3, out_channels=4, kernel_size=3, padding=1, bias=False), {}),
    (L.Conv2D, dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=2, groups=2), dict(eps=1e-3)),
    (L.Conv2D, dict(in_channels=2, out_channels=5, kernel_size=3, dilation=2, padding=2), dict(affine=False)),
    (L.Conv2D, dict(in_channels=1, out_channels=3, kernel_size=1, bias=False), dict(affine=False, eps=0.5)),
    (L.Dense, dict(in_features=7, out_features=5), {}),
    (L.Dense, dict(in_features=3, out_features=6, bias=False), dict(affine=False, eps=1e-3)),
]
NORM = {L.Conv2D: L.BatchNorm2D, L.Dense: L.BatchNorm1D}
FUSE = {L.Conv2D: "fuse_conv_bn_eval", L.Dense: "fuse_linear_bn_eval"}
TORCH = {L.Conv2D: "Conv2d", L.Dense: "Linear"}


def _trained_bn(bn, rng):
    """`bn` with weights and running statistics away from their initial ones (which would hide a wrong fold)."""
    c = bn.num_features
    if bn.affine:
        bn.weight.data = asarray(rng.normal(1, 0.5, c), bn.weight.data.dtype)
        bn.bias.data = asarray(rng.normal(0, 0.5, c), bn.bias.data.dtype)
    if bn.track_running_stats:
        bn.running_mean[...] = asarray(rng.normal(0, 1, c), bn.running_mean.dtype)
        bn.running_var[...] = asarray(rng.uniform(0.2, 3, c), bn.running_var.dtype)
    return bn


def _pair(kind, args, bn_args, rng, dtype):
    with xpnet.backend.default_dtype(dtype):
        layer = kind(**args)
        outputs = args.get("out_channels") or args["out_features"]
        bn = _trained_bn(NORM[kind](outputs, **bn_args), rng)
    return layer.eval(), bn.eval()


def _input(layer, rng, dtype):
    shape = (2, layer.in_channels, 9, 8) if isinstance(layer, L.Conv2D) else (4, layer.in_features)
    return asarray(rng.standard_normal(shape), dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind,args,bn_args", CASES)
def test_fused_layer_computes_the_eval_mode_pair(kind, args, bn_args, dtype, rng):
    layer, bn = _pair(kind, args, bn_args, rng, dtype)
    x = _input(layer, rng, dtype)
    want = bn(layer(x))
    before = {**layer.state_dict(), **{"bn." + k: v for k, v in bn.state_dict().items()}}
    fused = getattr(L, FUSE[kind])(layer, bn)
    got = fused(x)
    assert type(fused) is kind and fused.bias is not None and got.dtype == dtype
    assert fused.weight.data.dtype == dtype and fused.bias.data.dtype == dtype
    k = layer.weight.data[0].size  # the layer's sums; the fold adds a few roundings per weight
    assert_rounding_close(got, to_numpy(want), np.dtype(dtype).name, k, depth=2)
    after = {**layer.state_dict(), **{"bn." + k: v for k, v in bn.state_dict().items()}}
    assert all(np.array_equal(after[key], value) for key, value in before.items())  # the pair is left as it was


@pytest.mark.parametrize("kind,args,bn_args", CASES)
def test_fused_weights_are_pytorchs(kind, args, bn_args, rng, torch):
    layer, bn = _pair(kind, args, bn_args, rng, np.float64)
    if kind is L.Dense and not bn.affine:
        pytest.skip("PyTorch's fuse_linear_bn_eval fails on a batch norm without weights (affine=False)")
    tlayer = getattr(torch.nn, TORCH[kind])(**args).double().eval()
    tbn = getattr(torch.nn, NORM[kind].__name__.replace("D", "d"))(bn.num_features, **bn_args).double().eval()
    tlayer.load_state_dict({k: torch.tensor(v) for k, v in layer.state_dict().items()})
    tbn.load_state_dict({k: torch.tensor(v) for k, v in bn.state_dict().items()})
    want = getattr(torch.nn.utils.fusion, FUSE[kind])(tlayer, tbn).state_dict()
    got = getattr(L, FUSE[kind])(layer, bn).state_dict()
    assert list(got) == list(want)
    for key, value in want.items():  # PyTorch computes the bias as (b - mean) * s + beta: another rounding
        assert_rounding_close(got[key], value, "float64", 1, what=key)


@pytest.mark.parametrize("kind,args,bn_args,saved", [CASES[0] + ("_xpad",), CASES[-2] + ("_x",)])
def test_fused_layer_owns_its_parameters(kind, args, bn_args, saved, rng):
    layer, bn = _pair(kind, args, bn_args, rng, np.float64)
    layer.train()(_input(layer, rng, np.float64))  # an input saved for backward, which the fused layer leaves
    layer.eval()
    before = {k: v.copy() for k, v in layer.state_dict().items()}
    fused = getattr(L, FUSE[kind])(layer, bn)
    assert getattr(layer, saved) is not None and getattr(fused, saved) is None
    assert fused.weight is not layer.weight and fused.bias is not layer.bias
    fused.weight.data[...] = 0
    fused.bias.data[...] = 0
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[key])


@pytest.mark.parametrize("train_conv,train_bn,bn_args,match", [
    (True, False, {}, "eval mode"),
    (False, True, {}, "eval mode"),
    (False, False, dict(track_running_stats=False), "no running statistics"),
])
def test_what_cannot_be_fused_is_a_clear_error(train_conv, train_bn, bn_args, match, rng):
    conv, bn = _pair(L.Conv2D, dict(in_channels=3, out_channels=4, kernel_size=3), {}, rng, np.float32)
    if bn_args:
        bn = L.BatchNorm2D(4, **bn_args).eval()
    conv.train(train_conv)
    bn.train(train_bn)
    with pytest.raises(ValueError, match=match):
        L.fuse_conv_bn_eval(conv, bn)
    with pytest.raises(ValueError, match="Conv2D gives 4 channels, the batch norm expects 5"):
        L.fuse_conv_bn_eval(conv.eval(), L.BatchNorm2D(5).eval())
    with pytest.raises(ValueError, match="fuse_linear_bn_eval: the Dense gives 2 channels, the batch norm expects 3"):
        L.fuse_linear_bn_eval(L.Dense(4, 2).eval(), L.BatchNorm1D(3).eval())


def _randomised_statistics(model, rng):
    for m in model.modules():
        if isinstance(m, (L.BatchNorm1D, L.BatchNorm2D)):
            _trained_bn(m, rng)
    return model


def test_fuse_folds_every_pair_of_a_model_and_leaves_it_alone(rng):
    with xpnet.backend.default_dtype(np.float64):
        model = _randomised_statistics(fashion_cnn(), rng)
    state = model.state_dict()
    x = asarray(rng.standard_normal((3, 1, 28, 28)))
    fused = L.fuse(model)
    assert model.training  # untouched: still in training mode, its layers and state as they were
    assert [type(m).__name__ for m in model].count("BatchNorm2D") == 4
    assert all(np.array_equal(v, state[k]) for k, v in model.state_dict().items())
    kinds = [type(m).__name__ for m in fused]
    assert kinds.count("BatchNorm2D") == 0 and kinds.count("Identity") == 4 and not fused.training
    assert [kinds[i] for i in (0, 1, 3, 4)] == ["Conv2D", "Identity", "Conv2D", "Identity"]
    dense = [k for k in state if k.startswith(("15.", "18."))]  # the layers after keep their names
    assert all(np.array_equal(fused.state_dict()[k], state[k]) for k in dense)
    want = model.eval()(x)
    assert_rounding_close(fused(x), to_numpy(want), "float64", longest_reduction(model, x.shape), depth=6)


def test_fuse_reaches_nested_sequentials_and_leaves_what_it_cannot_fold(rng):
    with xpnet.backend.default_dtype(np.float64):
        block = L.Sequential(L.Conv2D(2, 2, 3, padding=1), L.BatchNorm2D(2), L.ReLU())
        model = L.Sequential(
            L.Residual(block),
            L.Conv2D(2, 3, 1), L.BatchNorm2D(3, track_running_stats=False),  # normalises by the batch: kept
            L.BatchNorm2D(3),  # after a batch norm, not a convolution: kept
            L.ConvTranspose2D(3, 2, 2), L.BatchNorm2D(2))  # not a Conv2D: kept
    _randomised_statistics(model, rng)
    fused = L.fuse(model)
    assert type(fused[0].body[0]).__name__ == "Conv2D" and type(fused[0].body[1]).__name__ == "Identity"
    assert [type(m).__name__ for m in fused][1:] == ["Conv2D", "BatchNorm2D", "BatchNorm2D", "ConvTranspose2D",
                                                     "BatchNorm2D"]
    x = asarray(rng.standard_normal((4, 2, 6, 6)))
    assert_rounding_close(fused(x), to_numpy(model.eval()(x)), "float64", longest_reduction(model, x.shape), depth=6)


def test_fuse_folds_dense_layers_and_batch_norms_that_take_their_output(rng):
    from xpnet.distributed import SyncBatchNorm
    with xpnet.backend.default_dtype(np.float64):
        model = _randomised_statistics(fc_net((8, 6), norm="batch", in_features=12), rng)
        model.append(L.Dense(10, 4)).append(L.BatchNorm2D(4))  # BatchNorm2D takes no (N, 4) output: kept
        sync = _trained_bn(SyncBatchNorm(3, comm=_Connection()), rng)  # any batch norm that takes the output
        conv = L.Sequential(L.Conv2D(1, 3, 3), sync)
    fused = L.fuse(model)
    kinds = [type(m).__name__ for m in fused]
    assert kinds[1:6] == ["Dense", "Identity", "ReLU", "Dense", "Identity"] and kinds[-1] == "BatchNorm2D"
    x = asarray(rng.standard_normal((5, 12)))
    head = model.eval()[:-2]
    assert_rounding_close(fused[:-2](x), to_numpy(head(x)), "float64", longest_reduction(head, x.shape), depth=6)
    assert [type(m).__name__ for m in L.fuse(conv)] == ["Conv2D", "Identity"]
    assert copy.deepcopy(sync).comm is sync.comm  # copies share the connection to the other processes


class _Connection:
    """A communicator of one process that, like MPI's, cannot be copied."""
    size, rank = 1, 0

    def __deepcopy__(self, memo):
        raise TypeError("a connection to other processes cannot be copied")


def test_pairs_with_forward_hooks_are_left_as_they_are(rng):
    """A hook on the batch norm would vanish with it, and one on the layer would see the batch norm's output."""
    seen = []
    for hooked in (0, 1):
        model = L.Sequential(L.Conv2D(1, 2, 3), L.BatchNorm2D(2), L.Dense(3, 2), L.BatchNorm1D(2))
        model[hooked].register_forward_hook(lambda layer, x, y: seen.append(y.shape))
        kinds = [type(m).__name__ for m in L.fuse(model)]
        assert kinds == ["Conv2D", "BatchNorm2D", "Dense", "Identity"]


def test_fusion_copies_settings_but_not_what_training_left(rng):
    model = L.Sequential(L.Conv2D(np.int64(1), np.int64(3), 3), L.BatchNorm2D(3), L.ReLU(), L.MaxPool2D(2),
                         L.Flatten(), L.Dense(np.int64(12), 2), L.ReLU())
    x = asarray(rng.standard_normal((2, 1, 6, 6)), "float32")
    y = model(x)
    model.backward(asarray(np.ones(y.shape), "float32"))  # gradients, and the inputs the layers saved
    model(x)
    fused = L.fuse(model)
    assert fused[0].in_channels == 1 and fused[0].out_channels == 3 and fused[5].in_features == 12
    for m in fused.modules():
        assert all(p.grad is None for p in m.parameters())
        private = {k: v for k, v in vars(m).items() if k.startswith("_") and k not in m._buffers}
        assert not any(is_array(v) or isinstance(v, tuple) and any(map(is_array, v)) for v in private.values()), m
    assert model[5]._x is not None and model[0].weight.grad is not None  # the model keeps its own
    assert_rounding_close(fused(x), to_numpy(model.eval()(x)), "float32", longest_reduction(model, x.shape), depth=3)


def test_a_batch_norm_of_another_dtype_folds_in_the_wider_one(rng):
    conv, _ = _pair(L.Conv2D, CASES[0][1], {}, rng, np.float64)
    _, bn = _pair(L.Conv2D, CASES[0][1], {}, rng, np.float32)
    x = _input(conv, rng, np.float64)
    fused = L.fuse_conv_bn_eval(conv, bn)
    assert fused.weight.data.dtype == np.float64
    with xpnet.backend.default_dtype(np.float64):  # the batch norm's float32 numbers, exactly, in float64
        wide = L.BatchNorm2D(bn.num_features)
        wide.load_state_dict(bn.state_dict())
        wide.eval()
    assert_rounding_close(fused(x), to_numpy(wide(conv(x))), "float64", 27, depth=2)
    narrow, bn64 = _pair(L.Conv2D, CASES[0][1], {}, rng, np.float32)[0], _pair(L.Conv2D, CASES[0][1], {}, rng,
                                                                               np.float64)[1]
    s = to_numpy(bn64.weight.data) / np.sqrt(to_numpy(bn64.running_var) + bn64.eps)  # in float64, then rounded once
    want = (to_numpy(narrow.weight.data).astype(np.float64) * s[:, None, None, None]).astype(np.float32)
    np.testing.assert_array_equal(to_numpy(L.fuse_conv_bn_eval(narrow, bn64).weight.data), want)


def test_only_a_convolution_or_dense_layer_and_a_batch_norm_fold():
    with pytest.raises(TypeError, match="fuse_conv_bn_eval takes a Conv2D and a batch norm, got ConvTranspose2D"):
        L.fuse_conv_bn_eval(L.ConvTranspose2D(3, 3, 2).eval(), L.BatchNorm2D(3).eval())
    with pytest.raises(TypeError, match="takes a Dense and a batch norm, got Dense and LayerNorm"):
        L.fuse_linear_bn_eval(L.Dense(3, 3).eval(), L.LayerNorm(3).eval())


def test_layers_on_two_backends_are_a_clear_error(rng):
    conv, bn = _pair(L.Conv2D, CASES[0][1], {}, rng, np.float32)
    other = "cpu" if xpnet.backend.current() == "gpu" else "gpu"
    try:
        bn.to(other)
    except Exception as exc:  # no usable GPU here
        pytest.skip(f"the {other} backend cannot be used here: {exc}")
    with pytest.raises(ValueError, match=f"batch norm on the {other} backend: move both"):
        L.fuse_conv_bn_eval(conv, bn)


def test_a_fused_model_still_runs_backward(rng):
    """Nothing in inference needs it, but a fused model is a model: Identity passes the gradient on."""
    fused = L.fuse(lenet5())
    x = asarray(rng.standard_normal((2, 1, 28, 28)), "float32")
    y = fused(x)
    assert fused.backward(asarray(np.ones(y.shape), "float32")).shape == x.shape


def test_identity_passes_values_and_gradients_on(rng):
    layer = L.Identity(54, unused="as torch.nn.Identity")
    x = asarray(rng.standard_normal((2, 3)), "float32")
    assert layer(x) is x
    dy = asarray(rng.standard_normal((2, 3)), "float32")
    assert layer.backward(dy) is dy
    layer.needs_input_grad = False
    assert layer.backward(dy) is None
    assert repr(layer) == "Identity()" and layer.state_dict() == {}
