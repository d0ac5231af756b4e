"""The memory a training step needs, measured on two small batches before a run starts: predicted within the
margin, refused with what fits, and the real model and random generator left as they were."""
import copy

import numpy as np
import pytest

from xpnet import backend
from xpnet.cli import main
from xpnet.errors import ConfigError
from xpnet.losses import SoftmaxCrossEntropy
from xpnet.models import get_model
from xpnet.train import footprint


@pytest.fixture(autouse=True)
def fresh_tuner(monkeypatch):
    """No convolution choice left by earlier tests: a pending second timing (tuner.RECHECK) that came due in a
    measured step would count its candidates' work buffers in that step's peak."""
    from xpnet.layers import tuner
    monkeypatch.setattr(tuner, "_winners", {})
    monkeypatch.setattr(tuner, "_rechecks", {})


@pytest.mark.parametrize("name", ["lenet5", "mlp"])
@pytest.mark.parametrize("n", [64, 200])
def test_prediction_from_two_small_batches_covers_a_large_batch(name, n, rng):
    model, loss = get_model(name), SoftmaxCrossEntropy()
    sample = np.zeros((1, 28, 28), np.float32)
    per_image, besides = footprint.step_bytes(model, loss, sample)
    assert per_image > 28 * 28 * 4  # at least the image itself
    probe = copy.deepcopy(model)
    x = backend.asarray(rng.standard_normal((n, 1, 28, 28)).astype(np.float32))
    footprint._step_peak(probe, loss, x)
    peak = footprint._step_peak(probe, loss, x)
    predicted = besides + n * per_image
    assert peak <= footprint.MARGIN * predicted and predicted <= footprint.MARGIN * peak, (peak, predicted)


def test_too_large_a_batch_is_refused_with_what_fits():
    model, loss, sample = get_model("lenet5"), SoftmaxCrossEntropy(), np.zeros((1, 28, 28), np.float32)
    per_image, besides = footprint.step_bytes(model, loss, sample)
    free = int(footprint.MARGIN * (besides + 1000 * per_image))
    footprint.check_batch(model, loss, sample, 800, free=free)  # measured again: room for its noise
    with pytest.raises(ConfigError, match=rf"--batch-size 10000000: .* of {backend.ops.MEMORY} are free: at most "
                                          r"(\d+) images fit") as info:
        footprint.check_batch(model, loss, sample, 10_000_000, free=free)
    fits = int(info.value.args[0].rsplit("at most ", 1)[1].split()[0])
    assert 800 <= fits <= 1200


def test_measuring_leaves_the_model_and_the_generator_alone():
    backend.seed(5)
    model = get_model("lenet5")
    before = [backend.to_numpy(p.data).copy() for p in model.parameters()]
    footprint.step_bytes(model, SoftmaxCrossEntropy(), np.ones((1, 28, 28), np.float32))
    after_probe = backend.to_numpy(backend.rng().random(4))
    backend.seed(5)
    get_model("lenet5")
    assert np.array_equal(after_probe, backend.to_numpy(backend.rng().random(4)))  # the same draws follow
    assert all(p.grad is None or not np.any(backend.to_numpy(p.grad)) for p in model.parameters())
    assert all(np.array_equal(backend.to_numpy(p.data), b) for p, b in zip(model.parameters(), before))


def test_train_refuses_a_batch_that_does_not_fit_before_writing_anything(tiny_mnist, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(footprint, "available_bytes", lambda: 10 ** 6)
    run = tmp_path / "run"
    assert main(["train", "--model", "lenet5", "--epochs", "1", "--out", str(run), "--data", str(tiny_mnist),
                 "--batch-size", "64", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xpnet train: error: --batch-size 64: one training step needs about") and "fit" in err, err
    assert not run.exists() or not any(run.iterdir())


def test_the_backend_counts_the_peak_of_what_it_allocates():
    """ops.peak_bytes sees the arrays made and dropped inside the call (NumPy's through Python's tracer,
    CuPy's through its memory pool), not one made before it, also when that one is dropped inside;
    free_bytes says how much more would fit."""
    n = 1 << 20
    before = [backend.xp.ones(n, np.float32)]

    def run():
        old = before.pop()
        a = backend.xp.ones(n, np.float32)
        b = a + old  # two new arrays of 4 MiB held at once
        del old, a, b  # the array made before the call goes too: it was never counted
    peak = backend.ops.peak_bytes(run)
    if peak is None:
        pytest.skip("another allocation tracer runs (PYTHONTRACEMALLOC?): nothing is counted")
    assert 2 * 4 * n <= peak <= 2 * 4 * n + (1 << 16), peak  # a pool rounds each block up a little
    assert backend.ops.free_bytes() > 4 * n


def test_the_gpu_count_leaves_out_blocks_held_before_it_began():
    """CuPy's pool reports every block returned while the hook is on, those handed out before it began too:
    only blocks handed out since count, and a failed allocation (pointer 0) holds nothing."""
    pytest.importorskip("cupy", reason="CuPy is not installed")
    from xpnet.backend import gpu
    hook = gpu._PeakHook()
    hook.free_postprocess(device_id=0, mem_size=1000, mem_ptr=100, pmem_id=1)  # held before
    hook.malloc_postprocess(device_id=0, size=1000, mem_size=1024, mem_ptr=200, pmem_id=2)
    hook.malloc_postprocess(device_id=0, size=1 << 30, mem_size=1 << 30, mem_ptr=0, pmem_id=0)  # failed
    hook.malloc_postprocess(device_id=0, size=500, mem_size=512, mem_ptr=300, pmem_id=3)
    hook.free_postprocess(device_id=0, mem_size=1024, mem_ptr=200, pmem_id=2)
    hook.malloc_postprocess(device_id=0, size=200, mem_size=256, mem_ptr=400, pmem_id=4)
    assert (hook.peak, hook.held) == (1536, 768)


def test_nothing_is_measured_or_refused_while_another_tracer_runs():
    import tracemalloc
    with backend.using("cpu"):
        model, loss, sample = get_model("mlp"), SoftmaxCrossEntropy(), np.zeros((1, 28, 28), np.float32)
        tracemalloc.start()
        try:
            assert footprint.step_bytes(model, loss, sample) == (0, 0)
            footprint.check_batch(model, loss, sample, 10 ** 9, free=1)
        finally:
            tracemalloc.stop()
