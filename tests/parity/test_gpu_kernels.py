"""The fused CuPy im2col/col2im of xpnet/backend/gpu.py against cpu.py's NumPy versions, on the same data: kernel
sizes, strides, dilations, odd shapes, fewer windows than fit, memory layouts and dtypes (needs CuPy and a CUDA
device; see conftest.py)."""
import importlib

import numpy as np
import pytest

from xpnet.backend import cpu, using

pytestmark = pytest.mark.gpu

GEOMETRIES = [  # (kernel, stride, dilation)
    ((1, 1), (1, 1), (1, 1)),
    ((2, 2), (2, 2), (1, 1)),
    ((3, 3), (1, 1), (1, 1)),
    ((3, 3), (2, 2), (2, 2)),
    ((5, 5), (1, 1), (1, 1)),
    ((5, 5), (2, 1), (1, 2)),
    ((2, 3), (1, 2), (2, 1)),
    ((3, 1), (2, 1), (1, 1)),
]
SHAPES = [(1, 1, 7, 9), (3, 4, 12, 11)]  # (N, C, H, W): odd sizes, N and C of 1 and more
DTYPES = [np.float32, np.float64]
SENTINEL = 7.0
TOL = {np.float32: 1e-6, np.float64: 1e-13}  # col2im sums in cpu.py's order; this only absorbs rounding


@pytest.fixture
def cupy():
    return importlib.import_module("cupy")  # imported only once conftest.py has seen a usable GPU


@pytest.fixture
def gpu():
    return importlib.import_module("xpnet.backend.gpu")


def laid_out(xp, host, layout):
    """(view, whole): `host` (N, ...) as an `xp` array that is C-contiguous ("nchw"), a view of batch-last memory
    ("batch_last"), or rows 1..H of a batch-last array with a row of SENTINEL above and below ("rows"); `whole`
    is the array the view lies in (the view itself but for "rows")."""
    if layout == "nchw":
        view = xp.asarray(np.ascontiguousarray(host))
        return view, view
    if layout == "rows":
        host = np.pad(host, [(0, 0), (0, 0), (1, 1), (0, 0)], constant_values=SENTINEL)
    whole = xp.moveaxis(xp.asarray(np.ascontiguousarray(np.moveaxis(host, 0, -1))), -1, 0)
    return (whole[:, :, 1:-1], whole) if layout == "rows" else (whole, whole)


def window_count(shape, geometry, fewer):
    """(OH, OW) for `geometry` over `shape`: all windows that fit, or fewer of them."""
    oh, ow = ((size - d * (k - 1) - 1) // s + 1 for size, k, s, d in zip(shape[2:], *geometry))
    assert oh > 0 and ow > 0, "the kernel must fit the test input"
    return (max(1, oh - 1), max(1, ow // 2)) if fewer else (oh, ow)


def ids(value):
    return getattr(value, "__name__", str(value)).replace(" ", "")


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
@pytest.mark.parametrize("layout", ["nchw", "batch_last", "rows"])
@pytest.mark.parametrize("fewer", [False, True], ids=["all", "fewer"])
@pytest.mark.parametrize("shape", SHAPES, ids=ids)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=ids)
def test_im2col_matches_numpy(cupy, gpu, geometry, shape, fewer, layout, dtype):
    x_host = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    size = window_count(shape, geometry, fewer)
    x, _ = laid_out(cupy, x_host, layout)
    col = gpu.im2col(x, *geometry, size)
    with using("cpu"):
        want = cpu.im2col(laid_out(np, x_host, layout)[0], *geometry, size)
    assert col.shape == want.shape == (*shape[:2], *geometry[0], *size)
    assert col.dtype == dtype and col.strides == want.strides  # a view of contiguous batch-last memory
    np.testing.assert_array_equal(cupy.asnumpy(col), want)


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
def test_im2col_fills_the_front_of_out(cupy, gpu, dtype):
    geometry, shape = ((3, 2), (2, 1), (1, 2)), (3, 4, 12, 11)
    x, _ = laid_out(cupy, np.random.default_rng(2).standard_normal(shape).astype(dtype), "rows")
    size = window_count(shape, geometry, True)
    with using("cpu"):
        want = cpu.im2col(laid_out(np, cupy.asnumpy(x), "nchw")[0], *geometry, size)
    buf = cupy.full(want.size + 5, SENTINEL, dtype=dtype)
    col = gpu.im2col(x, *geometry, size, out=buf)
    assert cupy.shares_memory(col, buf)
    np.testing.assert_array_equal(cupy.asnumpy(col), want)
    np.testing.assert_array_equal(cupy.asnumpy(buf)[:want.size], np.moveaxis(want, 0, -1).ravel())
    assert (cupy.asnumpy(buf)[want.size:] == SENTINEL).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
@pytest.mark.parametrize("layouts", [("batch_last", "batch_last"), ("nchw", "nchw"), ("batch_last", "rows"),
                                     ("nchw", "rows")], ids=lambda p: "col-%s-out-%s" % p)
@pytest.mark.parametrize("fewer", [False, True], ids=["all", "fewer"])
@pytest.mark.parametrize("shape", SHAPES, ids=ids)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=ids)
def test_col2im_matches_numpy(cupy, gpu, geometry, shape, fewer, layouts, dtype):
    rng = np.random.default_rng(1)
    size = window_count(shape, geometry, fewer)
    col_host = rng.standard_normal((*shape[:2], *geometry[0], *size)).astype(dtype)
    out_host = rng.standard_normal(shape).astype(dtype)  # not zero: col2im adds into it
    col_layout, out_layout = layouts
    col = laid_out(cupy, col_host, col_layout)[0]
    out, whole = laid_out(cupy, out_host, out_layout)
    want = laid_out(np, out_host, out_layout)[0]
    stride, dilation = geometry[1:]
    assert gpu.col2im(col, out, stride, dilation) is out
    with using("cpu"):
        cpu.col2im(laid_out(np, col_host, col_layout)[0], want, stride, dilation)
    tol = TOL[dtype]
    np.testing.assert_allclose(cupy.asnumpy(out), want, rtol=tol, atol=tol)
    if out_layout == "rows":  # the rows around the view are untouched
        assert (cupy.asnumpy(whole)[:, :, [0, -1]] == SENTINEL).all()


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
def test_col2im_adds_into_a_strided_out(cupy, gpu, dtype):
    geometry, shape = ((3, 3), (1, 1), (1, 1)), (3, 4, 7, 9)
    rng = np.random.default_rng(3)
    col_host = rng.standard_normal((*shape[:2], *geometry[0], 5, 7)).astype(dtype)
    start = rng.standard_normal(shape).astype(dtype) + 10.0
    with using("cpu"):
        alone = cpu.col2im(col_host, np.zeros(shape, dtype), *geometry[1:])
    out, whole = laid_out(cupy, start, "rows")
    assert not out.flags.c_contiguous and not out.flags.f_contiguous
    gpu.col2im(laid_out(cupy, col_host, "batch_last")[0], out, *geometry[1:])
    tol = TOL[dtype]
    np.testing.assert_allclose(cupy.asnumpy(out), start + alone, rtol=tol, atol=tol)
    assert (cupy.asnumpy(whole)[:, :, [0, -1]] == SENTINEL).all()
