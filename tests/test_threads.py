"""CPU speed machinery: elementwise passes split across threads (ops.run_elementwise) give
exactly the numbers of one pass, and freed memory is kept for reuse when asked."""
import numpy as np
import pytest

import xpnet.backend.allocator as allocator
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
