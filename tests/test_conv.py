"""Conv2D and ConvTranspose2D: numeric gradients, agreement with PyTorch, shapes and errors."""
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from util import assert_close

from xpnet import gradcheck
from xpnet.backend import asarray, default_dtype, layout, ops, to_numpy, xp
from xpnet.layers import Conv2D, ConvTranspose2D
from xpnet.layers.conv import conv2d_reference

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


def _reference(layer, x):
    """conv2d_reference with the layer's own weights and settings."""
    bias = None if layer.bias is None else layer.bias.data
    return conv2d_reference(x, layer.weight.data, bias, layer.stride, layer.padding, layer.dilation, layer.groups)


def _assert_within_rounding(layer, x, actual, m=None):
    """`actual`, the layer's output on `x` in the layer's float type, differs from the exact convolution of the
    same numbers (float64) by no more than rounding can explain, in any summation order, with or without FMA:

        |error| <= gamma_n * (the same computation on absolute values),  gamma_n = n u / (1 - n u)

    (Higham, Accuracy and Stability of Numerical Algorithms, 3.1), with u the unit roundoff and n the longest
    chain of roundings: the sum length C*kh*kw for im2col; for Winograd's F(m, 3), the terms of each stage
    (weight transform, input transform, channel sum, output transform) added up, zeros excluded, since adding
    an exact zero rounds nothing. The absolute values carry the transforms' growth (entries up to 8), so the
    bound is the algorithm's, not one machine's observed error."""
    dtype = np.dtype(layer.weight.data.dtype)
    host = (to_numpy(a).astype(np.float64) for a in (x, layer.weight.data))
    x64, w64 = host
    bias = np.zeros(layer.out_channels) if layer.bias is None else to_numpy(layer.bias.data).astype(np.float64)
    exact = to_numpy(conv2d_reference(asarray(x64, np.float64), asarray(w64, np.float64), asarray(bias, np.float64),
                                      layer.stride, layer.padding, layer.dilation, layer.groups))
    ax, aw = np.abs(x64), np.abs(w64)
    if m is None:
        size = to_numpy(conv2d_reference(asarray(ax, np.float64), asarray(aw, np.float64), None, layer.stride,
                                         layer.padding, layer.dilation, layer.groups))
        n = aw[0].size + 1
    else:
        from xpnet.layers import winograd
        t = m + 2
        bt, g, at = (np.abs(np.array(a, dtype=np.float64)) for a in winograd.MATRICES[m])
        d = sliding_window_view(np.pad(ax, ((0, 0), (0, 0), (1, 1), (1, 1))), (t, t), axis=(2, 3))[:, :, ::m, ::m]
        v = np.einsum("ai,nchwij,bj->nchwab", bt, d, bt)
        u = np.einsum("ai,ocij,bj->ocab", g, aw, g)
        size = np.einsum("pa,ocab,nchwab,qb->nohpwq", at, u, v, at)
        size = size.reshape(size.shape[0], size.shape[1], size.shape[2] * m, size.shape[4] * m)
        nonzeros = lambda a: int((a != 0).sum(axis=1).max())  # noqa: E731
        n = (9 + 4) + (nonzeros(bt) ** 2 + 1) + (aw.shape[1] + 1) + (nonzeros(at) ** 2 + 1)
    n += 1  # the bias
    unit = np.finfo(dtype).eps / 2
    bound = n * unit / (1 - n * unit) * (size + np.abs(bias).reshape(1, -1, 1, 1))
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


def test_row_blocks_cover_every_row_once():
    import xpnet.backend.cpu as cpu
    for rows, row_bytes in [(28, 358_400), (10, 1), (7, 10 ** 9), (1, 0)]:
        blocks = cpu.row_blocks(rows, row_bytes)
        assert [r for a, b in blocks for r in range(a, b)] == list(range(rows))
        assert all(b > a for a, b in blocks)
        assert all((b - a) * row_bytes <= cpu._BLOCK_BYTES or b - a == 1 for a, b in blocks)  # cache-sized
        assert len(blocks) == 1 or (blocks[0][1] + 1) * row_bytes > cpu._BLOCK_BYTES  # and no smaller than that


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


@pytest.fixture(params=["never", "f2", "f4"])
def algorithm(request, monkeypatch):
    """Run a test with im2col, and with Winograd's F(2x2, 3x3) and F(4x4, 3x3) wherever they apply."""
    from xpnet.layers import winograd
    monkeypatch.setattr(winograd, "MODE", request.param)
    return request.param


SAME_3X3 = [(3, 5, (2, 3, 8, 12)), (4, 2, (1, 4, 4, 8)), (2, 3, (3, 2, 12, 4))]


@pytest.mark.parametrize("cin, cout, shape", SAME_3X3)
def test_same_3x3_convolution_on_every_path_matches_torch(cin, cout, shape, algorithm, torch, rng, blocks):
    layer = Conv2D(cin, cout, 3, padding=1)
    _against_torch(torch, layer, torch.nn.Conv2d(cin, cout, 3, padding=1).double(), rng.standard_normal(shape),
                   rng)
    assert bool(layer._tile) == (algorithm != "never")  # the path asked for was taken


@pytest.mark.parametrize("cin, cout, shape", SAME_3X3[:2])
def test_same_3x3_convolution_on_every_path_gradcheck(cin, cout, shape, algorithm, rng):
    layer = Conv2D(cin, cout, 3, padding=1)
    gradcheck(layer, rng.standard_normal(shape))
    assert bool(layer._tile) == (algorithm != "never")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_winograd_float_error_stays_within_the_reference_tolerance(algorithm, dtype, rng, blocks, threads):
    """Rounding of the transforms (growing with their entries, most for F(4x4, 3x3)) stays within the bound
    derived from the computation, for every algorithm, block size and thread count."""
    with default_dtype(dtype):
        layer = Conv2D(16, 8, 3, padding=1)
    x = asarray(rng.standard_normal((4, 16, 8, 8)), dtype)
    y = layer(layout.padded(x, (0, 0)))
    assert bool(layer._tile) == (algorithm != "never")
    _assert_within_rounding(layer, x, y, m=layer._tile or None)


def test_winograd_applies_only_to_same_3x3_convolutions_of_whole_tiles(monkeypatch):
    from xpnet.layers import winograd
    monkeypatch.setattr(winograd, "MODE", "auto")
    wide = Conv2D(64, 64, 3, padding=1)
    assert winograd.tile(wide, (32, 32)) == 4 and winograd.tile(wide, (14, 14)) is None  # too small to pay
    assert winograd.tile(Conv2D(32, 64, 3, padding=1), (32, 32)) is None  # too few channels to pay
    assert winograd.tile(wide, (30, 30)) is None  # not whole 4x4 tiles
    for other in (Conv2D(64, 64, 3), Conv2D(64, 64, 3, padding=1, stride=2), Conv2D(64, 64, 5, padding=2),
                  Conv2D(64, 64, 3, padding=2, dilation=2), Conv2D(64, 64, 3, padding=1, groups=2)):
        assert winograd.tile(other, (32, 32)) is None, other
    monkeypatch.setattr(winograd, "MODE", "f2")
    assert winograd.tile(Conv2D(1, 1, 3, padding=1), (6, 6)) == 2 and winograd.tile(wide, (7, 8)) is None


def test_winograd_keeps_float64_precision_after_a_float32_call(monkeypatch, rng):
    from xpnet.layers import winograd
    monkeypatch.setattr(winograd, "MODE", "f4")
    monkeypatch.setattr(winograd, "_on_backend", {})
    Conv2D(2, 3, 3, padding=1)(asarray(rng.standard_normal((1, 2, 4, 4)), np.float32))  # caches float32 matrices
    with default_dtype(np.float64):
        layer = Conv2D(2, 3, 3, padding=1)
    x = asarray(rng.standard_normal((1, 2, 4, 4)))
    assert_close(layer(x), _reference(layer, x), rtol=1e-12, atol=1e-12)
