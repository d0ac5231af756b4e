"""The fused CUDA kernels behind gpu.py's im2col and col2im, their exact CUDA C bodies run on the host,
against cpu.py's NumPy versions: bitwise, since im2col copies and col2im adds the same numbers in the
same order as cpu.py's slice additions. Geometries of tests/parity/test_gpu_kernels.py plus padding,
fewer windows than fit, row blocks as the convolutions run them, and strided, transposed and flipped
views; and the results do not depend on the order the threads run in.
"""
import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest

from xpnet.backend import backend_of, cpu, layout as memory, using


def _real_gpu_tests():
    """tests/parity/test_gpu_kernels.py (the same checks on a real GPU), for its geometries and helpers."""
    path = Path(__file__).resolve().parents[1] / "parity" / "test_gpu_kernels.py"
    spec = importlib.util.spec_from_file_location("xpnet_parity_test_gpu_kernels", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_real = _real_gpu_tests()
GEOMETRIES, SHAPES, DTYPES, SENTINEL = _real.GEOMETRIES, _real.SHAPES, _real.DTYPES, _real.SENTINEL
window_count, ids = _real.window_count, _real.ids
CASES = list(itertools.product(GEOMETRIES, SHAPES, [False, True]))  # (geometry, shape, fewer windows than fit)
PADDINGS = [(0, 0), (2, 1)]
LAYOUTS = ["nchw", "batch_last", "rows", "transposed", "flipped"]
COL2IM_LAYOUTS = [("batch_last", "batch_last"), ("nchw", "nchw"), ("batch_last", "rows"), ("transposed", "flipped"),
                  ("flipped", "transposed")]  # (columns, image)

pytestmark = pytest.mark.cuda_emulated


@pytest.fixture(scope="module")
def gpu(emulated_gpu_module):
    import xpnet.backend.gpu as gpu
    return gpu


def on_backend(f, *args):
    """f(*args) on the backend the first array argument lives on (layout helpers go through `xp`)."""
    with using(backend_of(next(a for a in args if hasattr(a, "shape")))):
        return f(*args)


def laid_out(host, layout, xp=None):
    """(view, whole): the values of `host` (N, C, H, W) as a view of memory laid out as `layout`, and the
    array it lies in: C-contiguous; batch-last; rows 1..H of a batch-last array with a row of SENTINEL
    above and below; an H/W-swapped array seen transposed back; or stored W-reversed, seen through a
    negative stride. On the stand-in's device when `xp` is given."""
    if layout == "rows":
        host = np.pad(host, [(0, 0), (0, 0), (1, 1), (0, 0)], constant_values=SENTINEL)
    memory = {"nchw": lambda a: a, "batch_last": lambda a: np.moveaxis(a, 0, -1),
              "rows": lambda a: np.moveaxis(a, 0, -1), "transposed": lambda a: np.swapaxes(a, 2, 3),
              "flipped": lambda a: a[..., ::-1]}[layout]
    stored = np.ascontiguousarray(memory(host))
    whole = stored if xp is None else xp.asarray(stored)
    back = {"nchw": lambda a: a, "batch_last": lambda a: a.transpose(3, 0, 1, 2),
            "rows": lambda a: a.transpose(3, 0, 1, 2)[:, :, 1:-1], "transposed": lambda a: a.swapaxes(2, 3),
            "flipped": lambda a: a[..., ::-1]}[layout]
    return back(whole), whole


def case_id(case):
    return "-".join(map(ids, case)) if isinstance(case, tuple) else ids(case)


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("padding", PADDINGS, ids=ids)
@pytest.mark.parametrize("geometry, shape, fewer", CASES, ids=case_id)
def test_im2col_is_numpys_bitwise(gpu, emulated_gpu_module, geometry, shape, fewer, padding, layout, dtype):
    x_host = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    x = on_backend(memory.pad, laid_out(x_host, layout, emulated_gpu_module)[0], padding)
    want = on_backend(cpu.im2col, on_backend(memory.pad, laid_out(x_host, layout)[0], padding), *geometry,
                      window_count(x.shape, geometry, fewer))
    col = gpu.im2col(x, *geometry, window_count(x.shape, geometry, fewer))
    assert col.shape == want.shape and col.dtype == dtype
    assert col.strides == want.strides  # a view of contiguous batch-last memory
    np.testing.assert_array_equal(col.get(), want)


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
@pytest.mark.parametrize("layouts", COL2IM_LAYOUTS, ids=lambda p: "col-%s-out-%s" % p)
@pytest.mark.parametrize("geometry, shape, fewer", CASES, ids=case_id)
def test_col2im_is_numpys_bitwise(gpu, emulated_gpu_module, geometry, shape, fewer, layouts, dtype):
    col_shape = (*shape[:2], *geometry[0], *window_count(shape, geometry, fewer))
    rng = np.random.default_rng(1)
    col_host, out_host = (rng.standard_normal(s).astype(dtype) for s in (col_shape, shape))
    col_layout, out_layout = layouts  # out_host is not zero: col2im adds into it
    out, whole = laid_out(out_host, out_layout, emulated_gpu_module)
    want = laid_out(out_host, out_layout)[0]
    col = laid_out6(col_host, col_layout, emulated_gpu_module)
    assert gpu.col2im(col, out, *geometry[1:]) is out
    on_backend(cpu.col2im, laid_out6(col_host, col_layout), want, *geometry[1:])
    np.testing.assert_array_equal(out.get(), want)
    if out_layout == "rows":  # the rows around the view are untouched
        assert (whole.get()[:, [0, -1]] == SENTINEL).all()


def laid_out6(host, layout, xp=None):
    """Columns (N, C, kh, kw, OH, OW) laid out as `layout` (see `laid_out`; its spatial axes are OH, OW)."""
    n, c, kh, kw, oh, ow = host.shape
    view, _ = laid_out(host.reshape(n, c * kh * kw, oh, ow), layout, xp)
    return view.reshape(n, c, kh, kw, oh, ow)


def rows_read(start, stop, kernel, stride, dilation):
    """The input rows that output rows start..stop-1 read (as xpnet/layers/conv.py computes them)."""
    return slice(start * stride[0], (stop - 1) * stride[0] + dilation[0] * (kernel[0] - 1) + 1)


@pytest.mark.parametrize("rows_per_block", [1, 2])
@pytest.mark.parametrize("geometry", [GEOMETRIES[3], GEOMETRIES[5], GEOMETRIES[6]], ids=ids)
def test_row_blocks_as_convolutions_run_them(gpu, emulated_gpu_module, geometry, rows_per_block):
    """Blocks of output rows: im2col of each block's input rows into the front of one scratch buffer, and
    col2im of each block's columns into overlapping row views of one input gradient."""
    xp, rng = emulated_gpu_module, np.random.default_rng(2)
    kernel, stride, dilation = geometry
    raw = rng.standard_normal((3, 4, 12, 11))
    x, x_host = on_backend(memory.pad, xp.asarray(raw), (1, 2)), on_backend(memory.pad, raw, (1, 2))  # batch-last
    oh, ow = window_count(x.shape, geometry, False)
    buf = xp.empty(4 * np.prod(kernel) * rows_per_block * ow * 3)
    dx = memory.full(x.shape, 0.5, x.dtype)
    with using("cpu"):
        dx_host = memory.full(x.shape, 0.5, x.dtype)
    for start, stop in cpu.row_blocks(oh, 1, rows_per_block):
        rows = rows_read(start, stop, *geometry)
        col = gpu.im2col(x[:, :, rows], kernel, stride, dilation, (stop - start, ow), buf)
        want = on_backend(cpu.im2col, x_host[:, :, rows], kernel, stride, dilation, (stop - start, ow))
        assert xp.shares_memory(col, buf)
        np.testing.assert_array_equal(col.get(), want)
        dcol = rng.standard_normal(want.shape)
        gpu.col2im(xp.asarray(dcol), dx[:, :, rows], stride, dilation)
        on_backend(cpu.col2im, dcol, dx_host[:, :, rows], stride, dilation)
    np.testing.assert_array_equal(dx.get(), dx_host)


@pytest.mark.parametrize("geometry", GEOMETRIES, ids=ids)
def test_results_do_not_depend_on_thread_order(gpu, emulated_gpu_module, geometry):
    """Each thread writes only its own output element: running the threads backwards changes nothing."""
    rng = np.random.default_rng(3)
    x, _ = laid_out(rng.standard_normal((3, 4, 12, 11)), "rows", emulated_gpu_module)
    size = window_count(x.shape, geometry, False)
    col = gpu.im2col(x, *geometry, size)
    out = laid_out(rng.standard_normal(x.shape), "batch_last", emulated_gpu_module)[0]
    backwards = out.copy()
    gpu.col2im(col, out, *geometry[1:])
    emulated_gpu_module.settings.reverse_threads = True
    try:
        np.testing.assert_array_equal(gpu.im2col(x, *geometry, size).get(), col.get())
        gpu.col2im(col, backwards, *geometry[1:])
    finally:
        emulated_gpu_module.settings.reverse_threads = False
    np.testing.assert_array_equal(backwards.get(), out.get())
