"""CPU speed machinery: elementwise passes split across threads (ops.run_elementwise) give
exactly the numbers of one pass, long strided rows are added without NumPy's buffers, and freed
memory is kept for reuse when asked."""
import contextlib

import numpy as np
import pytest

import xpnet.backend.allocator as allocator
import xpnet.backend.cpu as cpu
import xpnet.backend.threads as threads
from xpnet import optim
from xpnet.backend import asarray, layout, to_numpy
from xpnet.layers import BatchNorm2D, MaxPool2D, ReLU
from xpnet.parameter import Parameter


def _run(make, x, dy):
    """Output, input gradient and parameter gradients of a fresh layer from `make`."""
    layer = make()
    y = layer(x)
    dx = layer.backward(dy)
    return [to_numpy(a).copy() for a in (y, dx, *(p.grad for p in layer.parameters()))]


@pytest.mark.parametrize("count", [2, 3, 5])
@pytest.mark.parametrize("make", [ReLU, lambda: BatchNorm2D(6), lambda: MaxPool2D(2), lambda: MaxPool2D(3, 2, 1)])
def test_layers_split_across_threads_match_one_thread(make, count, monkeypatch, rng):
    x = layout.padded(asarray(rng.integers(-2, 3, (4, 6, 5, 7)), np.float32), (0, 0))  # ties for max-pooling
    shape = make()(x).shape
    dy = layout.padded(asarray(rng.standard_normal(shape), np.float32), (0, 0))
    alone = _run(make, x, dy)
    monkeypatch.setattr(threads, "PARALLEL_MIN", 1)
    monkeypatch.setattr(threads, "THREADS", count)
    for got, want in zip(_run(make, x, dy), alone):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("first", [True, False])
def test_a_pass_splits_along_its_largest_array_once_that_is_large_enough(first, monkeypatch):
    """The largest array, wherever it comes in the arguments, decides: at PARALLEL_MIN elements the pass runs in
    THREADS pieces along its outermost axis in memory, arrays of another rank going to every piece whole."""
    x, row = np.zeros((6, 40)), np.zeros(40)
    args = (x, row, 2.0) if first else (row, 2.0, x)
    monkeypatch.setattr(threads, "THREADS", 2)
    for at_least, pieces in [(x.size + 1, [(6, 40)]), (x.size, [(3, 40), (3, 40)])]:
        monkeypatch.setattr(threads, "PARALLEL_MIN", at_least)
        seen = []
        threads.in_parallel(lambda *a: seen.append(tuple(np.shape(b) for b in a)), *args)
        assert sorted(seen) == [tuple(piece if b is x else np.shape(b) for b in args) for piece in pieces]


@pytest.mark.parametrize("make", [lambda p: optim.Adam(p, lr=0.1, amsgrad=True, weight_decay=0.1),
                                  lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                                  lambda p: optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True)])
def test_optimizer_steps_split_across_threads_match_one_thread(make, monkeypatch, rng):
    start = rng.standard_normal((7, 3)).astype(np.float32)
    grads = [rng.standard_normal((7, 3)).astype(np.float32) for _ in range(3)]

    def train():
        p = Parameter(asarray(start.copy()))
        opt = make([p])
        for g in grads:
            p.grad = asarray(g)
            opt.step()
        return to_numpy(p.data)
    alone = train()
    monkeypatch.setattr(threads, "PARALLEL_MIN", 1)
    monkeypatch.setattr(threads, "THREADS", 3)
    np.testing.assert_array_equal(train(), alone)


@pytest.mark.parametrize("setting, calls", [(None, [(-3, 32 << 20), (-1, 1 << 30)]), ("0", [])])
def test_freed_memory_is_kept_unless_asked_not_to(setting, calls, monkeypatch):
    seen = []

    class Libc:
        def mallopt(self, option, value):
            seen.append((option, value))
    monkeypatch.setattr(allocator.ctypes, "CDLL", lambda name: Libc())
    if setting is None:
        monkeypatch.delenv("XPNET_KEEP_MEMORY", raising=False)
    else:
        monkeypatch.setenv("XPNET_KEEP_MEMORY", setting)
    assert allocator.keep_freed_memory() == bool(calls)
    assert seen == calls


@pytest.mark.parametrize("view, run", [
    (lambda a: a, 4 * 5 * 6 * 8),
    (lambda a: a[:, 1:3, 1:4], 3 * 8),  # a window: rows of OW*N
    (lambda a: a[:, :, ::2], 8),  # a pooling window: the batch only
    (lambda a: a[..., 3], 1),
    (lambda a: a[:1, :, None], 5 * 6 * 8),  # axes of length 1 (whatever their stride) do not break a row
    (lambda a: a.transpose(3, 0, 1, 2), 4 * 5 * 6 * 8),  # memory order, not axis order
])
def test_contiguous_run_counts_the_elements_of_a_row_in_memory(view, run):
    assert cpu._contiguous_run(view(np.zeros((4, 5, 6, 8), np.float32))) == run


@pytest.mark.parametrize("shape, dtypes, bufsize", [
    ((3, 300), ("float32", "float32"), 16),
    ((3, 100), ("float32", "float32"), None),  # short rows: buffered loops are faster
    ((3, 300), ("float32", "float64"), None),  # a cast needs the buffers
])
def test_unbuffered_sets_the_smallest_buffer_for_long_rows_of_one_dtype(shape, dtypes, bufsize):
    default = np.getbufsize()
    rows = [np.zeros((shape[0], shape[1] + 5), dtype)[:, :shape[1]] for dtype in dtypes]
    with pytest.raises(RuntimeError):
        with cpu._unbuffered(*rows):
            assert np.getbufsize() == (bufsize or default)
            raise RuntimeError
    assert np.getbufsize() == default


def test_col2im_adds_long_rows_unbuffered_in_every_thread(monkeypatch, rng):
    """col2im's window additions run unbuffered in each thread they are split across (NumPy's buffer size
    is per thread), and sum the windows as one plain loop does."""
    from xpnet.backend.proxy import _ops_module
    if _ops_module() is not cpu:
        pytest.skip("the CPU backend's col2im")
    seen, real = [], cpu._unbuffered

    @contextlib.contextmanager
    def spy(*arrays):
        with real(*arrays):
            seen.append(np.getbufsize())
            yield
    monkeypatch.setattr(cpu, "_unbuffered", spy)
    monkeypatch.setattr(threads, "PARALLEL_MIN", 1)
    monkeypatch.setattr(threads, "THREADS", 2)
    n, c, k, oh = 64, 4, 3, 6
    col = layout.batch_first(rng.standard_normal((c, k, k, oh, oh, n)).astype(np.float32))
    out = cpu.col2im(col, layout.zeros((n, c, oh + k - 1, oh + k - 1), np.float32), (1, 1), (1, 1))
    want = np.zeros(out.shape, np.float32)
    for i in range(k):
        for j in range(k):
            want[:, :, i:i + oh, j:j + oh] += col[:, :, i, j]
    np.testing.assert_array_equal(out, want)
    assert seen == [16, 16]
