"""Conv2D and ConvTranspose2D: numeric gradients, agreement with PyTorch, shapes and errors."""
import math

import numpy as np
import pytest
from util import assert_close

from xpnet import gradcheck
from xpnet.backend import asarray, default_dtype, layout, ops, to_numpy, xp
from xpnet.layers import Conv2D, ConvTranspose2D
from xpnet.layers.conv import ALGORITHMS, conv2d_reference

# (in, out, kernel, stride, padding, dilation, groups, bias, input shape)
CONV_CASES = [
    (3, 4, 3, 1, 0, 1, 1, True, (2, 3, 6, 5)),               # odd sizes
    (2, 3, (2, 3), (2, 1), (1, 0), 1, 1, True, (2, 2, 7, 6)),  # non-square kernel, stride, padding
    (4, 6, 3, 2, 1, 1, 2, True, (1, 4, 7, 7)),               # groups, batch of one
    (4, 4, 3, 1, 2, 2, 4, False, (2, 4, 6, 5)),              # depthwise, dilation, no bias
    (3, 2, 1, 1, 0, 1, 1, True, (2, 3, 3, 4)),               # 1x1 kernel
]
# (in, out, kernel, stride, padding, output_padding, dilation, groups, bias, input shape)
TRANSPOSE_CASES = [
    (3, 2, 3, 1, 0, 0, 1, 1, True, (2, 3, 4, 3)),
    (2, 3, (3, 2), 2, 1, 1, 1, 1, True, (2, 2, 3, 4)),       # stride with output_padding
    (4, 6, 3, (2, 1), (0, 1), 0, 1, 2, False, (1, 4, 3, 3)),  # groups, batch of one, no bias
    (2, 2, 2, 1, 0, 1, 2, 1, True, (2, 2, 3, 3)),            # output_padding >= stride (dilation 2)
]


def _conv(case):
    cin, cout, k, s, p, d, g, b, shape = case
    return Conv2D(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=b), shape


def _transpose(case):
    cin, cout, k, s, p, op, d, g, b, shape = case
    return ConvTranspose2D(cin, cout, k, stride=s, padding=p, output_padding=op, dilation=d, groups=g, bias=b), shape


def _reference(layer, x, weight=None):
    """conv2d_reference with the layer's own weights (or `weight`) and settings."""
    bias = None if layer.bias is None else layer.bias.data
    weight = layer.weight.data if weight is None else weight
    return conv2d_reference(x, weight, bias, layer.stride, layer.padding, layer.dilation, layer.groups)


def _assert_within_rounding(layer, x, actual, growth=1.0):
    """`actual`, the layer's output on `x` in the layer's float type, differs from the exact convolution of the
    same numbers (float64) by no more than rounding can explain, in any summation order, with or without FMA:

        |error| <= gamma_n * (the same convolution of absolute values),  gamma_n = n u / (1 - n u)

    (Higham, Accuracy and Stability of Numerical Algorithms, 3.1), with u the unit roundoff and n the sum length
    C*kh*kw plus the bias: a bound from the computation, not from one machine's observed error; times `growth`
    for an algorithm that scales intermediate values (`_growth`)."""
    dtype = np.dtype(layer.weight.data.dtype)
    x64, w64 = (to_numpy(a).astype(np.float64) for a in (x, layer.weight.data))
    bias = np.zeros(layer.out_channels) if layer.bias is None else to_numpy(layer.bias.data).astype(np.float64)
    settings = (layer.stride, layer.padding, layer.dilation, layer.groups)
    exact = to_numpy(conv2d_reference(asarray(x64, np.float64), asarray(w64, np.float64), asarray(bias, np.float64),
                                      *settings))
    size = to_numpy(conv2d_reference(asarray(np.abs(x64), np.float64), asarray(np.abs(w64), np.float64), None,
                                     *settings))
    n = w64[0].size + 2
    unit = np.finfo(dtype).eps / 2
    bound = growth * n * unit / (1 - n * unit) * (size + np.abs(bias).reshape(1, -1, 1, 1))
    error = np.abs(to_numpy(actual).astype(np.float64) - exact)
    worst = np.unravel_index(np.argmax(error / bound), error.shape)
    assert np.all(error <= bound), f"error {error[worst]:.3g} at {worst} beyond the rounding bound {bound[worst]:.3g}"


@pytest.fixture(params=["all threads", "1 thread"])
def threads(request):
    """Run a test with BLAS on every thread it has and on one: another legitimate summation order."""
    if request.param == "all threads":
        yield
        return
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        yield


@pytest.mark.parametrize("case", CONV_CASES)
def test_reference_convolution_matches_torch(case, torch, rng):
    layer, shape = _conv(case)
    x = rng.standard_normal(shape)
    w, b = rng.standard_normal(layer.weight.shape), rng.standard_normal(layer.out_channels)
    want = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), layer.stride,
                                      layer.padding, layer.dilation, layer.groups)
    assert_close(conv2d_reference(asarray(x), asarray(w), asarray(b), layer.stride, layer.padding, layer.dilation,
                                  layer.groups), want, what="reference convolution")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("case", CONV_CASES + [(6, 16, 5, 1, 0, 1, 1, True, (3, 6, 14, 14))])
def test_conv_forward_equals_the_reference(case, dtype, rng, blocks, threads):
    """The blocked im2col path gives the exact convolution within rounding, on NCHW and on batch-last input."""
    with default_dtype(dtype):
        layer, shape = _conv(case)
    x = asarray(rng.standard_normal(shape), dtype)
    for given in (x, layout.padded(x, (0, 0))):
        _assert_within_rounding(layer, x, layer(given))


@pytest.mark.parametrize("case", TRANSPOSE_CASES[:3])
def test_conv_transpose_is_the_adjoint_of_the_reference(case, rng, blocks):
    """<ConvTranspose2D(x), z> == <x, conv(z)> for the convolution with the same weight, settings and no bias."""
    with default_dtype(np.float64):
        layer, shape = _transpose(case)
    layer.bias = None
    x = asarray(rng.standard_normal(shape))
    y = layer(x)
    z = asarray(rng.standard_normal(y.shape))
    back = conv2d_reference(z, layer.weight.data, None, layer.stride, layer.padding, layer.dilation, layer.groups)
    assert back.shape == x.shape
    np.testing.assert_allclose(float((y * z).sum()), float((x * back).sum()), rtol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv_gradcheck(case, rng):
    layer, shape = _conv(case)
    gradcheck(layer, rng.standard_normal(shape))


def test_conv_gradcheck_non_contiguous_input(rng):
    x = rng.standard_normal((2, 3, 5, 6)).transpose(0, 1, 3, 2)[:, :, ::1, 1:]  # strided view (2, 3, 6, 4)
    assert not x.flags.c_contiguous
    gradcheck(Conv2D(3, 2, 3, padding=1), x)


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose_gradcheck(case, rng):
    layer, shape = _transpose(case)
    gradcheck(layer, rng.standard_normal(shape))


def _against_torch(torch, layer, tlayer, x, rng):
    """Forward, input gradient and parameter gradients of `layer` against torch's `tlayer`, float64."""
    with default_dtype(np.float64):
        for name, p in layer.named_parameters():
            p.data = asarray(rng.standard_normal(p.shape))
            getattr(tlayer, name).data = torch.tensor(to_numpy(p.data))
        y = layer(asarray(x))
        dy = rng.standard_normal(y.shape)
        dx = layer.backward(asarray(dy))
    xt = torch.tensor(x, requires_grad=True)
    yt = tlayer(xt)
    yt.backward(torch.tensor(dy))
    assert_close(y, yt, what="forward")
    assert_close(dx, xt.grad, what="input gradient")
    for name, p in layer.named_parameters():
        assert_close(p.grad, getattr(tlayer, name).grad, what=f"{name} gradient")


@pytest.mark.parametrize("case", CONV_CASES + [(6, 16, 5, 1, 0, 1, 1, True, (4, 6, 14, 14))])
def test_conv_matches_torch(case, torch, rng, blocks):
    cin, cout, k, s, p, d, g, b, shape = case
    layer, _ = _conv(case)
    tlayer = torch.nn.Conv2d(cin, cout, k, stride=s, padding=p, dilation=d, groups=g, bias=b).double()
    _against_torch(torch, layer, tlayer, rng.standard_normal(shape), rng)


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose_matches_torch(case, torch, rng, blocks):
    cin, cout, k, s, p, op, d, g, b, shape = case
    layer, _ = _transpose(case)
    tlayer = torch.nn.ConvTranspose2d(cin, cout, k, stride=s, padding=p, output_padding=op, groups=g, bias=b,
                                      dilation=d).double()
    _against_torch(torch, layer, tlayer, rng.standard_normal(shape), rng)


@pytest.mark.parametrize("make", [lambda: Conv2D(2, 3, 3, padding=1), lambda: ConvTranspose2D(2, 3, 3)])
def test_no_input_grad_still_gives_parameter_grads(make, rng):
    x = asarray(rng.standard_normal((2, 2, 5, 5)), np.float32)
    full, skip = make(), make()
    skip.load_state_dict(full.state_dict())
    skip.needs_input_grad = False
    dy = asarray(rng.standard_normal(full(x).shape), np.float32)
    assert full.backward(dy) is not None
    skip(x)
    assert skip.backward(dy) is None
    for (_, a), (_, b) in zip(full.named_parameters(), skip.named_parameters()):
        np.testing.assert_array_equal(to_numpy(a.grad), to_numpy(b.grad))


def test_mixed_dtypes_promote_as_numpy_does(rng):
    with default_dtype(np.float64):
        layers = [Conv2D(2, 3, 3, padding=1), ConvTranspose2D(2, 3, 3, stride=2, padding=1)]
    x = asarray(rng.standard_normal((2, 2, 5, 5)), np.float32)
    for layer in layers:  # float64 weights on float32 input: float64 out, as Dense and NumPy give
        y = layer(x)
        dx = layer.backward(xp.ones_like(y))
        assert (y.dtype, dx.dtype, layer.weight.grad.dtype) == (np.float64,) * 3, type(layer).__name__


def test_shapes_keys_and_dtype(rng):
    conv = Conv2D(4, 6, (3, 2), groups=2)
    assert conv.weight.shape == (6, 2, 3, 2) and conv.bias.shape == (6,)
    assert list(conv.state_dict()) == ["weight", "bias"]
    assert list(Conv2D(4, 6, 3, bias=False).state_dict()) == ["weight"]
    tconv = ConvTranspose2D(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    assert tconv.weight.shape == (4, 3, 3, 3) and tconv.bias.shape == (6,)
    x = asarray(rng.standard_normal((2, 4, 5, 7)), np.float32)
    y = conv(x)
    assert y.shape == (2, 6, 3, 6) and y.dtype == np.float32
    assert conv.backward(asarray(np.ones(y.shape), np.float32)).dtype == np.float32
    assert conv.weight.grad.dtype == np.float32
    assert tconv(x).shape == (2, 6, 10, 14)


def test_errors(rng):
    conv = Conv2D(3, 4, 5)
    with pytest.raises(ValueError, match=r"Conv2D expects a 4-D input, got shape \(3, 8, 8\)"):
        conv(asarray(rng.standard_normal((3, 8, 8)), np.float32))
    with pytest.raises(ValueError, match=r"Conv2D expects 3 channels.*\(1, 2, 8, 8\)"):
        conv(asarray(rng.standard_normal((1, 2, 8, 8)), np.float32))
    with pytest.raises(ValueError, match="Conv2D expects a floating-point array"):
        conv(asarray(np.ones((1, 3, 8, 8), dtype=np.int64)))
    with pytest.raises(ValueError, match=r"Conv2D: input of spatial size \(4, 8\).*smaller than the kernel \(5, 5\)"):
        conv(asarray(rng.standard_normal((1, 3, 4, 8)), np.float32))
    Conv2D(3, 4, 5, padding=1)(asarray(rng.standard_normal((1, 3, 3, 3)), np.float32))  # padding makes it fit
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv2D(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        Conv2D(3, 4, (3, 3, 3))
    with pytest.raises(ValueError, match="stride must be an int or a pair of ints >= 1"):
        Conv2D(3, 4, 3, stride=0)
    with pytest.raises(ValueError, match="output_padding"):
        ConvTranspose2D(3, 4, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="non-positive output size"):
        ConvTranspose2D(3, 4, 3, padding=3)(asarray(rng.standard_normal((1, 3, 2, 2)), np.float32))
    with pytest.raises(ValueError, match="ConvTranspose2D expects 3 channels"):
        ConvTranspose2D(3, 4, 3)(asarray(rng.standard_normal((1, 4, 2, 2)), np.float32))


def test_moved_drops_cache(rng):
    conv = Conv2D(2, 2, 3)
    conv(asarray(rng.standard_normal((1, 2, 4, 4)), np.float32))
    conv.to("cpu")
    assert conv._xpad is None


@pytest.mark.parametrize("blocks", ["row blocks"], indirect=True)
def test_conv_in_row_blocks_gradcheck(rng, blocks):
    gradcheck(Conv2D(2, 3, 3, stride=(2, 1), padding=1, dilation=(1, 2)), rng.standard_normal((2, 2, 7, 6)))
    gradcheck(ConvTranspose2D(2, 3, 3, stride=2, padding=1, output_padding=1), rng.standard_normal((2, 2, 3, 4)))


@pytest.mark.parametrize("size", [None, 1 << 20, 16 << 20])
def test_row_blocks_cover_every_row_once(size):
    import xpnet.backend.cpu as cpu
    with cpu.blocks_of(size):
        budget = size or cpu._BLOCK_BYTES
        for rows, row_bytes in [(28, 358_400), (10, 1), (7, 10 ** 9), (1, 0), (1000, 20_000)]:
            blocks = cpu.row_blocks(rows, row_bytes)
            assert [r for a, b in blocks for r in range(a, b)] == list(range(rows))
            assert all(b > a for a, b in blocks)
            assert all((b - a) * row_bytes <= budget or b - a == 1 for a, b in blocks)  # cache-sized
            assert len(blocks) == 1 or (blocks[0][1] + 1) * row_bytes > budget  # and no smaller than that
    assert cpu._block_bytes == [None]


def test_sliced_products_match_one_product(rng):
    a, b = rng.standard_normal((2, 3, 9000)), rng.standard_normal((2, 4, 9000))  # P spans several slices
    assert_close(ops.matmul_nt(a, b), a @ b.transpose(0, 2, 1), rtol=1e-12)
    w = rng.standard_normal((2, 3, 4))
    assert_close(ops.matmul(w, b), w @ b, rtol=1e-12)


def test_conv_output_is_stored_batch_last_and_chains_like_nchw(rng):
    first, second = Conv2D(2, 3, 3, padding=1), Conv2D(3, 4, 2, stride=2)
    x = asarray(rng.standard_normal((5, 2, 6, 6)), np.float32)
    y = first(x)
    assert xp.moveaxis(y, 0, -1).flags.c_contiguous  # the next layer reads it with no transpose copy
    z = second(y)
    dz = asarray(rng.standard_normal(z.shape), np.float32)
    dy = second.backward(dz)
    assert xp.moveaxis(dy, 0, -1).flags.c_contiguous
    grad = second.weight.grad
    second.zero_grad()
    assert_close(second(xp.ascontiguousarray(y)), z, rtol=1e-6)
    assert_close(second.backward(dz), dy, rtol=1e-6)
    assert_close(second.weight.grad, grad, rtol=1e-6)


# Cases each algorithm computes: (in, out, kernel, padding, dilation, input shape). Winograd's are "same" 3x3
# convolutions of whole 4x4 tiles; the shifted GEMMs take any stride-1 ungrouped convolution.
SAME_3X3 = [(3, 5, 3, 1, 1, (2, 3, 8, 12)), (4, 2, 3, 1, 1, (1, 4, 4, 8)), (2, 3, 3, 1, 1, (3, 2, 12, 4))]
STRIDE_1 = SAME_3X3[:1] + [(3, 4, 3, 0, 1, (2, 3, 6, 5)), (2, 3, (2, 3), (1, 0), 1, (2, 2, 7, 6)),
                           (4, 4, 3, 2, 2, (2, 4, 6, 5)), (3, 2, 1, 0, 1, (2, 3, 3, 4)), (6, 16, 5, 0, 1, (3, 6, 14, 14))]
WIDE_PADDING = [(2, 3, 3, 3, 1, (2, 2, 5, 4))]  # padding beyond the kernel's reach: the flipped path crops dy
CASES = {"im2col": STRIDE_1, "im2col_flipped": STRIDE_1 + WIDE_PADDING, "shifted": STRIDE_1 + WIDE_PADDING,
         "winograd_f2": SAME_3X3, "winograd_f4": SAME_3X3}
ALGORITHM_CASES = [(a, c) for a, cases in CASES.items() for c in cases]


def _forced(algorithm, case):
    cin, cout, k, p, d, shape = case
    return Conv2D(cin, cout, k, padding=p, dilation=d, algorithm=algorithm), shape


def _growth(algorithm):
    """How much more rounding error than a plain sum `algorithm` may make: 1 for the GEMM-based ones; for
    Winograd's F(m, 3) the product of its transforms' infinity norms squared, ‖Bᵀ‖² ‖G‖² ‖Aᵀ‖² (the factor
    in the error bounds of Barabasz et al., 2020), which the transforms multiply intermediate values by."""
    if not algorithm.startswith("winograd"):
        return 1.0
    from xpnet.layers import winograd
    return float(np.prod([np.abs(np.array(m)).sum(axis=1).max() ** 2 for m in winograd.MATRICES[int(algorithm[-1])]]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("algorithm, case", ALGORITHM_CASES)
def test_every_algorithm_equals_the_reference_within_its_rounding(algorithm, case, dtype, rng, blocks, threads):
    """|y - reference| <= growth · K · eps · (|W| ⋆ |x|) elementwise, K = C·kh·kw the sum length: the bound on
    a sum's rounding error, on NCHW and on batch-last input; and the layer ran the algorithm asked for."""
    with default_dtype(dtype):
        layer, shape = _forced(algorithm, case)
    layer.bias = None
    x = asarray(rng.standard_normal(shape), dtype)
    want = to_numpy(_reference(layer, x.astype(np.float64), layer.weight.data.astype(np.float64)))
    size = to_numpy(_reference(layer, abs(x).astype(np.float64), abs(layer.weight.data).astype(np.float64)))
    bound = _growth(algorithm) * math.prod(layer.weight.shape[1:]) * np.finfo(dtype).eps * size
    for given in (x, layout.padded(x, (0, 0))):
        error = np.abs(to_numpy(layer(given)) - want)
        assert (error <= bound).all(), f"{algorithm}: error {error.max():.3g} above its bound"
        assert layer.algorithm == algorithm


@pytest.mark.parametrize("algorithm, case", ALGORITHM_CASES)
def test_every_algorithm_matches_torch(algorithm, case, torch, rng, blocks):
    cin, cout, k, p, d, shape = case
    layer, _ = _forced(algorithm, case)
    _against_torch(torch, layer, torch.nn.Conv2d(cin, cout, k, padding=p, dilation=d).double(),
                   rng.standard_normal(shape), rng)
    assert layer.algorithm == algorithm


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_gradcheck(algorithm, rng):
    layer, shape = _forced(algorithm, CASES[algorithm][1])
    gradcheck(layer, rng.standard_normal(shape))
    assert layer.algorithm == algorithm


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_every_algorithm_skips_the_input_gradient_alike(algorithm, rng):
    layer, shape = _forced(algorithm, CASES[algorithm][0])
    layer.needs_input_grad = False
    x = asarray(rng.standard_normal(shape), np.float32)
    y = layer(x)
    assert layer.backward(xp.ones_like(y)) is None
    # dL/dW for dy = 1 sums x over each tap's N*OH*OW windows: exact in float64 (im2col), and within that sum's
    # rounding bound (times the algorithm's growth) for the float32 algorithm
    sums = []
    for a in (x, abs(x)):
        with default_dtype(np.float64):
            exact = Conv2D(layer.in_channels, layer.out_channels, 3, padding=1, algorithm="im2col")
        exact.weight.data[...] = layer.weight.data
        exact.backward(xp.ones_like(exact(a.astype(np.float64))))
        sums.append(to_numpy(exact.weight.grad))
    n, unit = math.prod(y.shape) // y.shape[1], np.finfo(np.float32).eps / 2
    bound = _growth(algorithm) * n * unit / (1 - n * unit) * sums[1]
    assert (np.abs(to_numpy(layer.weight.grad) - sums[0]) <= bound).all()


def test_a_forced_algorithm_that_cannot_compute_the_layer_is_refused(rng):
    with pytest.raises(ValueError, match=r"algorithm must be auto or one of im2col, im2col_flipped, shifted.*got 'fft'"):
        Conv2D(2, 2, 3, algorithm="fft")
    for name in ("shifted", "im2col_flipped"):
        with pytest.raises(ValueError, match=f"'{name}' needs stride 1 and groups 1"):
            Conv2D(2, 2, 3, stride=2, algorithm=name)
    with pytest.raises(ValueError, match=r"'winograd_f4' does not apply.*output size \(6, 6\)"):
        Conv2D(2, 2, 3, padding=1, algorithm="winograd_f4")(asarray(rng.standard_normal((1, 2, 6, 6)), np.float32))


def test_the_environment_forces_an_algorithm_where_it_applies(monkeypatch, rng):
    monkeypatch.setenv("XPNET_CONV_ALGO", "Shifted")
    x = asarray(rng.standard_normal((2, 2, 8, 8)), np.float32)
    same, strided = Conv2D(2, 3, 3, padding=1), Conv2D(2, 3, 3, stride=2)
    same(x), strided(x)
    assert (same.algorithm, strided.algorithm) == ("shifted", "im2col")  # the strided layer keeps im2col
    own = Conv2D(2, 3, 3, padding=1, algorithm="winograd_f2")
    own(x)
    assert own.algorithm == "winograd_f2"  # the layer's own argument comes first
    monkeypatch.setenv("XPNET_CONV_ALGO", "fastest")
    with pytest.raises(ValueError, match="XPNET_CONV_ALGO must be auto or one of .*got 'fastest'"):
        same(x)


def test_winograd_applies_only_to_same_3x3_convolutions_of_whole_tiles():
    from xpnet.layers import winograd
    wide = Conv2D(64, 64, 3, padding=1)
    assert winograd.applies(wide, (32, 32), 4) and winograd.applies(wide, (14, 14), 2)
    assert not winograd.applies(wide, (14, 14), 4) and not winograd.applies(wide, (7, 8), 2)  # not whole tiles
    for other in (Conv2D(64, 64, 3), Conv2D(64, 64, 3, padding=1, stride=2), Conv2D(64, 64, 5, padding=2),
                  Conv2D(64, 64, 3, padding=2, dilation=2), Conv2D(64, 64, 3, padding=1, groups=2)):
        assert not winograd.applies(other, (32, 32), 4), other


def test_winograd_keeps_float64_precision_after_a_float32_call(monkeypatch, rng):
    from xpnet.layers import winograd
    monkeypatch.setattr(winograd, "_on_backend", {})
    Conv2D(2, 3, 3, padding=1, algorithm="winograd_f4")(asarray(rng.standard_normal((1, 2, 4, 4)), np.float32))
    with default_dtype(np.float64):
        layer = Conv2D(2, 3, 3, padding=1, algorithm="winograd_f4")
    x = asarray(rng.standard_normal((1, 2, 4, 4)))
    assert_close(layer(x), _reference(layer, x), rtol=1e-12, atol=1e-12)


# -- the tuner ---------------------------------------------------------------------------------------
@pytest.fixture
def tuner(monkeypatch):
    """The tuner with nothing remembered, timing every problem, on a clock that only the stand-ins below move;
    convolutions have one block size (the default) unless a test gives them more (`block_sizes`)."""
    from xpnet.backend.proxy import _ops_module
    from xpnet.layers import tuner
    module = _ops_module()  # the current backend's ops (cpu.py or gpu.py)
    monkeypatch.setattr(module, "block_sizes", lambda real=module.block_sizes: real()[:1])
    monkeypatch.setattr(tuner, "_winners", {})
    monkeypatch.setattr(tuner, "_rechecks", {})
    monkeypatch.setattr(tuner, "MIN_WORK", 0)
    clock = [0.0]
    monkeypatch.setattr(tuner, "clock", lambda: clock[0])
    tuner.fake_clock = clock
    return tuner


def _costs(monkeypatch, tuner, seconds):
    """Make each algorithm's forward pass advance the tuner's clock by `seconds[name]`; returns the calls made."""
    import xpnet.layers.conv as conv
    real, calls = conv._forward, []

    def timed(layer, name, *args):
        calls.append(name)
        tuner.fake_clock[0] += seconds[name]
        return real(layer, name, *args)
    monkeypatch.setattr(conv, "_forward", timed)
    return calls


@pytest.mark.parametrize("fast", ["shifted", "winograd_f2", "im2col", "im2col_flipped"])
def test_the_tuner_picks_the_fastest_candidate_and_remembers_it(fast, tuner, monkeypatch, rng):
    calls = _costs(monkeypatch, tuner, {a: 0.001 if a == fast else 0.01 for a in ALGORITHMS})
    layer = Conv2D(2, 3, 3, padding=1)
    x = asarray(rng.standard_normal((2, 2, 6, 6)), np.float32)  # F(4x4) does not apply to 6x6
    y = layer(x)
    assert layer.algorithm == fast
    assert sorted(set(calls)) == ["im2col", "im2col_flipped", "shifted", "winograd_f2"]
    # every candidate run twice (warm, then timed) in the first round; the 10x slower ones dropped after it;
    # then the real call
    assert len(calls) == 2 * (4 + tuner.ROUNDS - 1) + 1
    _assert_within_rounding(layer, x, y, _growth(fast))
    layer.backward(xp.ones_like(y))
    del calls[:]
    monkeypatch.setattr(layer, "candidates", lambda size: pytest.fail("candidates listed again for a known shape"))
    layer(x)
    assert calls == [fast]  # remembered: no more timing


def _varying_costs(monkeypatch, tuner, seconds):
    """Like `_costs`, but `seconds[name]` lists the cost of each of that algorithm's calls in turn (the last
    one repeating); returns the calls made."""
    import xpnet.layers.conv as conv
    real, calls = conv._forward, []

    def timed(layer, name, *args):
        costs = seconds[name]
        tuner.fake_clock[0] += costs[min(calls.count(name), len(costs) - 1)]
        calls.append(name)
        return real(layer, name, *args)
    monkeypatch.setattr(conv, "_forward", timed)
    return calls


def test_one_lucky_run_does_not_win_the_tuning(tuner, monkeypatch, rng):
    """Winograd's second timed run (its 4th call: warm and timed runs alternate) is 10x faster than its others,
    as a shared machine sometimes gives: its median, not its best, is compared, and that one run does not
    get the others dropped."""
    _varying_costs(monkeypatch, tuner, {"im2col": [0.005], "im2col_flipped": [0.008], "shifted": [0.008],
                                        "winograd_f2": [0.006, 0.006, 0.006, 0.0005, 0.006]})
    layer = Conv2D(2, 3, 3, padding=1)
    layer(asarray(rng.standard_normal((2, 2, 6, 6)), np.float32))
    assert layer.algorithm == "im2col"


def _rounds(*times):
    """Costs for `_varying_costs` giving each round's warm and timed run the same time."""
    return [t for t in times for _ in range(2)]


@pytest.mark.parametrize("shifted,winograd,expected", [
    ((0.009, 0.011, 0.009), (0.02,) * 3, "im2col"),  # a lower median, but one round slower than im2col's median
    ((0.009, 0.010, 0.009), (0.02,) * 3, "im2col"),  # one round only as fast as it
    ((0.009, 0.0099, 0.009), (0.02,) * 3, "shifted"),  # faster in every round
    ((0.005, 0.005, 0.011), (0.006,) * 3, "winograd_f2"),  # the lowest median fails; the next one passes
])
def test_another_candidate_wins_only_by_beating_the_first_in_every_round(shifted, winograd, expected, tuner,
                                                                         monkeypatch, rng):
    """Near-ties stay with the first candidate (the default), whichever way the machine's noise tips them."""
    _varying_costs(monkeypatch, tuner, {"im2col": _rounds(0.007, 0.010, 0.012), "shifted": _rounds(*shifted),
                                        "winograd_f2": _rounds(*winograd)})
    layer = Conv2D(2, 3, 3, padding=1).eval()  # forward only: one call per run
    layer(asarray(rng.standard_normal((2, 2, 6, 6)), np.float32))
    assert layer.algorithm == expected


@pytest.mark.parametrize("later,expected", [({"im2col": 0.001, "shifted": 0.01}, "im2col"),
                                            ({"im2col": 0.01, "shifted": 0.001}, "shifted")])
def test_a_winner_other_than_the_first_candidate_is_timed_against_it_once_more(later, expected, tuner,
                                                                              monkeypatch, rng):
    """Shifted GEMMs win while the machine is in a slow spell that hurts im2col; RECHECK calls later the two
    are timed again, and the faster then stays (and is not timed again)."""
    monkeypatch.setattr(tuner, "RECHECK", 3)
    costs = {"im2col": 0.01, "im2col_flipped": 0.02, "shifted": 0.001, "winograd_f2": 0.02}
    calls = _costs(monkeypatch, tuner, costs)
    layer = Conv2D(2, 3, 3, padding=1).eval()  # forward only: one call per run
    x = asarray(rng.standard_normal((2, 2, 6, 6)), np.float32)
    layer(x)
    assert layer.algorithm == "shifted"
    costs.update(later)
    for _ in range(2):
        del calls[:]
        layer(x)
        assert calls == ["shifted"]
    del calls[:]
    layer(x)  # the third call after tuning times the two again
    # both warm and timed in the first round, the 10x slower one dropped after it; then the real call
    assert sorted(set(calls)) == ["im2col", "shifted"] and len(calls) == 2 * (2 + tuner.ROUNDS - 1) + 1
    assert layer.algorithm == expected and calls[-1] == expected
    for _ in range(2 * tuner.RECHECK):
        del calls[:]
        layer(x)
        assert calls == [expected]


def test_a_first_candidate_that_wins_is_not_timed_again(tuner, monkeypatch, rng):
    monkeypatch.setattr(tuner, "RECHECK", 1)
    calls = _costs(monkeypatch, tuner, {"im2col": 0.001, "im2col_flipped": 0.02, "shifted": 0.02,
                                        "winograd_f2": 0.02})
    layer = Conv2D(2, 3, 3, padding=1).eval()
    x = asarray(rng.standard_normal((2, 2, 6, 6)), np.float32)
    layer(x)
    del calls[:]
    for _ in range(3):
        layer(x)
    assert calls == ["im2col"] * 3


def test_the_tuner_leaves_out_im2col_flipped_where_it_is_im2col():
    layer = Conv2D(2, 3, 3, padding=1)
    assert layer.candidates((6, 6)) == ["im2col", "im2col_flipped", "shifted", "winograd_f2"]
    layer.needs_input_grad = False
    assert "im2col_flipped" not in layer.candidates((6, 6))
    layer.needs_input_grad = True
    assert "im2col_flipped" not in layer.eval().candidates((6, 6))
    assert Conv2D(2, 3, 3, stride=2).candidates((3, 3)) == ["im2col"]


def test_the_tuner_times_each_candidate_warm(tuner, monkeypatch, rng):
    """A candidate slow only on a call that follows another candidate's (its buffers and caches cold) wins
    when it is the fastest once warm, as it will be on every call after tuning."""
    import xpnet.layers.conv as conv
    real, last = conv._forward, [None]

    def timed(layer, name, *args):
        tuner.fake_clock[0] += {"im2col": 0.005}.get(name, 0.001 if last[0] == name else 0.05)
        last[0] = name
        return real(layer, name, *args)
    monkeypatch.setattr(conv, "_forward", timed)
    layer = Conv2D(2, 3, 3, padding=1, stride=1)
    layer(asarray(rng.standard_normal((2, 2, 6, 6)), np.float32))
    assert layer.algorithm == "im2col_flipped"  # the first of the candidates at 0.001 when warm


def test_the_tuner_waits_for_the_device_around_each_timed_run(tuner, monkeypatch, rng):
    """On a GPU calls return before their kernels finish: the untimed run is finished before the clock starts,
    and the timed one before it stops."""
    import xpnet.layers.conv as conv
    events, real = [], conv._forward
    monkeypatch.setattr(conv, "_forward", lambda *args: events.append("run") or real(*args))
    monkeypatch.setattr(tuner, "synchronize", lambda: events.append("sync"))
    monkeypatch.setattr(tuner, "clock", lambda: events.append("clock") or 0.0)
    layer = Conv2D(2, 3, 3, padding=1).eval()  # forward only: each run is one _forward
    layer(asarray(rng.standard_normal((2, 2, 6, 6)), np.float32))
    rounds = tuner.ROUNDS * len(layer.candidates((6, 6)))  # equal times: nobody is dropped
    assert events == ["run", "sync", "clock", "run", "sync", "clock"] * rounds + ["run"]


def test_the_tuner_never_holds_two_candidates_work_buffers_at_once(tuner, monkeypatch, rng):
    """Each candidate's scratch buffers are dropped after its timed call, so tuning costs no more memory than
    the largest candidate (and the losers hold none afterwards)."""
    from xpnet.backend.proxy import _ops_module
    module, held, released = _ops_module(), [], []  # the current backend's ops (cpu.py or gpu.py)
    real = module.scratch
    monkeypatch.setattr(module, "scratch", lambda name, *a: held.append(name) or real(name, *a))
    monkeypatch.setattr(module, "release_scratch", lambda: released.append(sorted(set(held))) or held.clear())
    calls = _costs(monkeypatch, tuner, {a: 0.01 for a in ALGORITHMS})
    Conv2D(2, 3, 3, padding=1).train()(asarray(rng.standard_normal((2, 2, 6, 6)), np.float32))
    assert len(released) == (len(calls) - 1) // 2  # after every timed call, not after the real one
    owner = {"columns": "im2col", "shifted": "shifted", "winograd": "winograd"}  # by the buffers' names
    assert all(len({owner.get(n.split(".")[0]) for n in names} - {None}) <= 1 for names in released)
    assert any("columns" in names for names in released) and any("shifted.u" in names for names in released)


def test_the_tuner_key_holds_shape_dtype_and_backend(tuner, monkeypatch, rng):
    import xpnet.layers.conv as conv
    here = conv.current()
    _costs(monkeypatch, tuner, dict.fromkeys(ALGORITHMS, 0.0))
    layer = Conv2D(2, 3, 3, padding=1)
    layer(asarray(rng.standard_normal((2, 2, 6, 6)), np.float32))
    layer(asarray(rng.standard_normal((3, 2, 6, 6)), np.float32))  # another batch size
    layer(asarray(rng.standard_normal((2, 2, 6, 6)), np.float64))  # another dtype
    monkeypatch.setattr(conv, "current", lambda: "elsewhere")
    layer(asarray(rng.standard_normal((2, 2, 6, 6)), np.float32))  # another backend
    keys = [key for key, winner in tuner.chosen().items() if winner in ALGORITHMS]  # not the block sizes
    assert len(keys) == 4
    assert {k[0] for k in keys} == {here, "elsewhere"} and {k[1] for k in keys} == {np.dtype("float32"), np.dtype("float64")}
    assert {k[2][0] for k in keys} == {2, 3}


def test_the_tuner_times_nothing_when_forced_or_small(tuner, monkeypatch, rng):
    calls = _costs(monkeypatch, tuner, dict.fromkeys(ALGORITHMS, 0.0))
    x = asarray(rng.standard_normal((2, 2, 6, 6)), np.float32)
    Conv2D(2, 3, 3, padding=1, algorithm="shifted")(x)
    monkeypatch.setenv("XPNET_CONV_ALGO", "winograd_f2")
    Conv2D(2, 3, 3, padding=1)(x)
    assert calls == ["shifted", "winograd_f2"] and not tuner.chosen()
    monkeypatch.delenv("XPNET_CONV_ALGO")
    monkeypatch.setattr(tuner, "MIN_WORK", 1e9)
    layer = Conv2D(2, 3, 3, padding=1)
    layer(x)
    assert calls[2:] == ["im2col"] and layer.algorithm == "im2col"  # too small to time: the first candidate


def _blocks_now():
    """How many blocks `ops.row_blocks` makes of 1024 rows of 16 KiB at this moment: 4 at the default 4 MiB."""
    return len(ops.row_blocks(1024, 16 << 10))


def test_the_tuner_picks_the_fastest_block_size_for_the_fastest_algorithm(tuner, monkeypatch, rng):
    """Algorithms are timed in blocks of the default size; then the winner in each size of `ops.block_sizes()`,
    and the fastest size is kept for its forward and backward passes."""
    from xpnet.backend.proxy import _ops_module
    import xpnet.layers.conv as conv
    monkeypatch.setattr(_ops_module(), "block_sizes", lambda: (4 << 20, 1 << 20, 16 << 20))
    if len(ops.row_blocks(1024, 16 << 10)) != 4:
        pytest.skip("this backend's default blocks are not 4 MiB")
    seconds = {(a, blocks): 0.01 for a in ALGORITHMS for blocks in (1, 4, 16)}
    seconds["shifted", 4] = 0.005  # the fastest algorithm in default blocks ...
    seconds["shifted", 16] = 0.002  # ... and fastest of all in blocks of 1 MiB (16 of them)
    seconds["im2col", 16] = 0.001  # faster still, but not timed so: algorithms race in default blocks
    calls, real_forward, real_backward = [], conv._forward, conv._backward

    def forward(layer, name, *args):
        calls.append((name, _blocks_now()))
        tuner.fake_clock[0] += seconds[calls[-1]]
        return real_forward(layer, name, *args)

    def backward(layer, name, *args):
        calls.append(("backward", name, _blocks_now()))
        return real_backward(layer, name, *args)
    monkeypatch.setattr(conv, "_forward", forward)
    monkeypatch.setattr(conv, "_backward", backward)
    layer = Conv2D(2, 3, 3, padding=1)
    x = asarray(rng.standard_normal((2, 2, 6, 6)), np.float32)
    y = layer(x)
    assert (layer.algorithm, layer.block_bytes) == ("shifted", 1 << 20)
    assert {c for c in calls if c[0] != "backward"} == {(a, 4) for a in layer.candidates((6, 6))} | {
        ("shifted", 1), ("shifted", 16)}
    assert calls[-1] == ("shifted", 16)  # the call itself, in the chosen blocks
    del calls[:]
    dx = layer.backward(xp.ones_like(y))
    assert calls == [("backward", "shifted", 16)]
    assert _blocks_now() == 4  # the default again outside the layer's calls
    _assert_within_rounding(layer, x, y, _growth("shifted"))
    layer.zero_grad()
    reference = Conv2D(2, 3, 3, padding=1, algorithm="im2col")
    reference.load_state_dict(layer.state_dict())
    assert_close(reference.backward(xp.ones_like(reference(x))), dx, rtol=1e-5, atol=1e-5)
    del calls[:]
    layer(x)
    assert calls == [("shifted", 16)]  # remembered


def test_block_sizes_are_timed_again_for_the_algorithm_a_recheck_brings(tuner, monkeypatch, rng):
    from xpnet.backend.proxy import _ops_module
    monkeypatch.setattr(_ops_module(), "block_sizes", lambda: (4 << 20, 1 << 20, 16 << 20))
    monkeypatch.setattr(tuner, "RECHECK", 1)
    costs = {"im2col": 0.01, "shifted": 0.001, "winograd_f2": 0.02}
    calls = _costs(monkeypatch, tuner, costs)
    layer = Conv2D(2, 3, 3, padding=1).eval()
    x = asarray(rng.standard_normal((2, 2, 6, 6)), np.float32)
    layer(x)
    assert layer.algorithm == "shifted" and len([k for k in tuner.chosen() if "shifted" in k]) == 1
    costs["im2col"] = 0.0001  # the recheck, on the next call, finds im2col faster
    layer(x)
    assert layer.algorithm == "im2col" and len([k for k in tuner.chosen() if "im2col" in k]) == 1
    assert calls.count("im2col") > 2 * tuner.ROUNDS * 2  # its algorithm race, the recheck and its block sizes


def test_a_remembered_block_size_follows_a_new_default(tuner, monkeypatch, rng):
    """The block sizes are part of the choice's key, so a process (or test) that changes the default does
    not keep running in a size remembered from before."""
    import xpnet.backend.cpu as cpu
    import xpnet.layers.conv as conv
    if _blocks_now() != 4:
        pytest.skip("this backend's default blocks are not 4 MiB")
    counts, real = [], conv._forward
    monkeypatch.setattr(conv, "_forward", lambda *args: counts.append(_blocks_now()) or real(*args))
    layer = Conv2D(2, 3, 3, padding=1).eval()
    x = asarray(rng.standard_normal((2, 2, 6, 6)), np.float32)
    layer(x)
    monkeypatch.setattr(cpu, "_BLOCK_BYTES", 16 << 10)  # one 16 KiB row a block
    layer(x)
    assert counts[0] == 4 and counts[-1] == 1024 and layer.block_bytes == 16 << 10


def test_blocks_of_restores_the_size_around_it_on_exit_and_on_error():
    import xpnet.backend.cpu as cpu
    def blocks_now():
        return len(cpu.row_blocks(1024, 16 << 10))
    with cpu.blocks_of(1 << 20):
        assert blocks_now() == 16
        with cpu.blocks_of(None):
            assert blocks_now() == 16  # None keeps the size around it
        with pytest.raises(RuntimeError):
            with cpu.blocks_of(16 << 20):
                assert blocks_now() == 1
                raise RuntimeError
        assert blocks_now() == 16
    assert cpu._block_bytes == [None] and cpu.row_blocks(1024, 16 << 10) == cpu.row_blocks(1024, 16 << 10, 4 << 20)


def test_a_forced_algorithm_runs_untimed_in_the_blocks_around_it(tuner, monkeypatch, rng):
    """The default size, or the one a surrounding `ops.blocks_of` sets (as the bench times a tuned choice)."""
    import xpnet.layers.conv as conv
    from xpnet.backend.proxy import _ops_module
    monkeypatch.setattr(_ops_module(), "block_sizes", lambda: (4 << 20, 1 << 20, 16 << 20))
    if _blocks_now() != 4:
        pytest.skip("this backend's default blocks are not 4 MiB")
    calls, real = [], conv._forward
    monkeypatch.setattr(conv, "_forward", lambda *args: calls.append(_blocks_now()) or real(*args))
    layer = Conv2D(2, 3, 3, padding=1, algorithm="winograd_f2")
    x = asarray(rng.standard_normal((2, 2, 6, 6)), np.float32)
    layer(x)
    with ops.blocks_of(1 << 20):
        layer(x)
    assert calls == [4, 16] and layer.block_bytes is None and not tuner.chosen()


def test_shifted_unrolls_the_input_one_block_at_a_time(monkeypatch, rng):
    """The width unrolling (kw copies of the input) is built per block of output columns, so its memory is a
    block's (at least the largest kernel-row shift, 2 padded rows here, and as much again), not kw times the
    input's."""
    import xpnet.backend.cpu as cpu
    from xpnet.backend.proxy import _ops_module
    if _ops_module() is not cpu:
        pytest.skip("only the CPU keeps scratch buffers")
    monkeypatch.setattr(cpu, "_BLOCK_BYTES", 64 << 10)
    monkeypatch.setattr(cpu, "_scratch", {})
    layer = Conv2D(8, 8, 3, padding=1, algorithm="shifted")
    x = asarray(rng.standard_normal((4, 8, 64, 64)), np.float32)
    y = layer(x)
    dx = layer.backward(xp.ones_like(y))
    whole = 3 * 8 * 66 * 66 * 4  # kw·C rows over the padded input's columns
    held = {name: buf.size for (name, _), buf in cpu._scratch.items() if name.startswith("shifted.u")}
    assert set(held) == {"shifted.u", "shifted.ue"} and max(held.values()) < whole / 4
    assert held["shifted.u"] <= 3 * 8 * 2 * (2 * 66 * 4)  # a block of 2 rows and its overlap of 2 rows
    _assert_within_rounding(layer, x, y, _growth("shifted"))
    reference = Conv2D(8, 8, 3, padding=1, algorithm="im2col")
    reference.load_state_dict(layer.state_dict())
    assert_close(reference.backward(xp.ones_like(reference(x))), dx, rtol=1e-4, atol=1e-4)
    assert_close(reference.weight.grad, layer.weight.grad, rtol=1e-4, atol=1e-3)


def test_matmul_add_sums_into_strided_views(rng):
    for dtype in (np.float32, np.float64):
        a = asarray(rng.standard_normal((7, 50)), dtype)[:, 3:8]  # rows further apart than their length
        b = asarray(rng.standard_normal((14, 9)), dtype)[1:13, 2:7].T  # transposed
        room = asarray(np.ones((7, 30)), dtype)
        out = room[:, 10:22]
        want = 1 + to_numpy(a) @ to_numpy(b)
        tol = 6 * np.finfo(dtype).eps * (1 + np.abs(to_numpy(a)) @ np.abs(to_numpy(b))).max()  # sums of 5, one add
        assert ops.matmul_add(a, b, out) is out
        assert_close(out, want, rtol=0, atol=tol, what=dtype.__name__)
        assert_close(room[:, :10], np.ones((7, 10)))  # nothing written outside the view
        assert_close(room[:, 22:], np.ones((7, 8)))
        assert_close(ops.matmul_add(a, b, out, add=False), want - 1, rtol=0, atol=tol)
