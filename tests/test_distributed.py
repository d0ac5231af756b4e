"""Data-parallel training under `mpiexec -n 2/3` (subprocesses with timeouts): N processes train the model one
process trains, resume across world sizes, SyncBatchNorm, one writer, and failures that end the whole job.

Needs mpi4py and an mpiexec (`pip install mpi4py mpich`); skipped without them, failed under CI=true.
Tolerances: summation order is the only difference between N processes and one, so after `steps` steps a
weight differs by at most steps * n * u relative to the weights' change (u: the unit roundoff, n: the
longest sum of the step, the worst case of recursive summation).
"""
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from mpi_run import ROOT, mpirun, ok
from mpi_worker import (LONGEST_SUM, STEPS_PER_EPOCH, U64, assert_same_training, initial, model, outcome, reference,
                        sync_bn, train)

from xpnet import backend
from xpnet.distributed import SingleProcess, launched_size, workers
from xpnet.layers import BatchNorm2D
from xpnet.train import load_checkpoint

WORKER = str(Path(__file__).with_name("mpi_worker.py"))


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("norm", ["none", "sync"])
def test_processes_train_the_model_one_process_trains(tmp_path, n, norm):
    """float64, shifted images, an uneven last batch (37 = 4 * 8 + 5), SGD with momentum and weight decay;
    with batch norm, SyncBatchNorm on N processes equals BatchNorm on one."""
    ok(mpirun(n, WORKER, "train", "--norm", norm, "--save", str(tmp_path / "n.npz")))
    got = dict(np.load(tmp_path / "n.npz"))
    assert_same_training(got, reference(norm), initial(norm), 2 * STEPS_PER_EPOCH, LONGEST_SUM, U64)


def test_plain_batchnorm_normalises_each_process_part(tmp_path):
    """Without synchronisation each process normalises its own part (as PyTorch DDP): not one process's
    training, yet every process ends the epoch with process 0's running statistics (checked alike)."""
    ok(mpirun(2, WORKER, "train", "--norm", "plain", "--save", str(tmp_path / "n.npz")))
    got, want = dict(np.load(tmp_path / "n.npz")), reference("plain")
    assert np.abs(got["0.weight"] - want["0.weight"]).max() > 1e-6


def test_resume_across_world_sizes(tmp_path):
    """Epoch 1 on 2 processes, epoch 2 on 3, epoch 3 on one: the weights of three epochs in one go."""
    run = str(tmp_path / "run")
    ok(mpirun(2, WORKER, "train", "--epochs", "1", "--run-dir", run))
    ok(mpirun(3, WORKER, "train", "--epochs", "2", "--run-dir", run, "--resume"))
    got = outcome(*train(SingleProcess(), epochs=3, run_dir=run, resume=True))
    assert_same_training(got, reference(epochs=3), initial(), 3 * STEPS_PER_EPOCH, LONGEST_SUM, U64)


@pytest.mark.parametrize("n", [2, 3])
def test_sync_batchnorm_is_batchnorm_on_the_global_batch(tmp_path, n):
    ok(mpirun(n, WORKER, "syncbn", "--save", str(tmp_path / "bn.npz")))
    got = dict(np.load(tmp_path / "bn.npz"))
    want = sync_bn(SingleProcess(), (0, 10))
    with backend.default_dtype("float64"):  # and that is plain batch norm
        bn = BatchNorm2D(3)
        bn.weight.data[...], bn.bias.data[...] = backend.asarray([0.5, 1.5, -1.0]), backend.asarray([0.1, 0.0, -0.2])
        gen = np.random.default_rng(2)
        x = gen.standard_normal((10, 3, 4, 5)) * 2 + 1
        np.testing.assert_allclose(backend.to_numpy(bn(backend.asarray(x))), want["y"], rtol=0, atol=1e-13)
    for key, value in want.items():  # sums of 200 values per channel, of magnitude about 1
        np.testing.assert_allclose(got[key], value, rtol=0, atol=200 * U64 * 10, err_msg=key)


def test_a_failing_process_ends_the_job_and_keeps_the_checkpoint(tmp_path):
    run = tmp_path / "run"
    start = time.monotonic()
    result = mpirun(2, WORKER, "fail", "--run-dir", str(run), "--step", str(STEPS_PER_EPOCH + 2), timeout=60)
    assert result.returncode != 0 and time.monotonic() - start < 60
    assert "error on process 1 of 2: planted failure at step 7; stopping all 2 processes" in result.stderr
    with backend.default_dtype("float64"):
        assert load_checkpoint(run / "checkpoint", model("none"))["epoch"] == 1  # the last good one, intact


@pytest.mark.parametrize("rank", [0, 1])
def test_a_killed_process_ends_the_job(rank):
    result = mpirun(2, WORKER, "fail", "--kill", "--rank", str(rank), timeout=60)
    assert result.returncode != 0


def test_copies_of_the_model_that_drift_apart_are_caught():
    result = mpirun(2, WORKER, "desync", timeout=60)
    assert result.returncode != 0
    assert "after epoch 1 the model on 1 of 2 processes differs from process 0's" in result.stderr


# -- the command line ------------------------------------------------------------------------------

def _train(tiny_mnist, out, *extra, n=None, cwd=None):
    args = ["-m", "xpnet", "train", "--epochs", "2", "--batch-size", "24", "--optimizer", "sgd",
            "--data", str(tiny_mnist), "--out", str(out), *extra]
    if n is None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd)
    return mpirun(n, *args, label=True, cwd=cwd)


def _weights(run):
    from safetensors.numpy import load_file
    return load_file(str(run / "checkpoint" / "model.safetensors"))


def test_the_command_on_processes_trains_one_model_into_one_run_folder(tiny_mnist, tmp_path):
    """`mpiexec -n 3 xpnet train` and `xpnet train --workers 2` equal `xpnet train` (float32; 64 images in
    batches of 24, 24 and 16), and only process 0 prints or writes."""
    one, three, two, elsewhere = tmp_path / "one", tmp_path / "three", tmp_path / "two", tmp_path / "cwd"
    elsewhere.mkdir()
    ok(_train(tiny_mnist, one))
    result = ok(_train(tiny_mnist, three, n=3, cwd=elsewhere))
    ok(_train(tiny_mnist, two, "--workers", "2"))
    lines = result.stdout.splitlines()
    assert lines and all(line.startswith("[0]") for line in lines)  # the others print nothing
    assert "(3 processes, mpi)" in result.stdout
    assert sorted(os.listdir(three)) == sorted(os.listdir(one)) and os.listdir(elsewhere) == []
    from xpnet.models import get_model
    backend.seed(0)
    start = get_model("lenet5").state_dict()
    want, u32 = _weights(one), np.finfo(np.float32).eps / 2
    for run in (three, two):
        assert_same_training(_weights(run), want, start, 6, 24 * 28 * 28, u32)
    metrics = json.loads((three / "metrics.json").read_text())
    assert metrics["processes"] == 3 and metrics["communicator"] == "mpi"
    assert metrics["test_accuracy"] == json.loads((one / "metrics.json").read_text())["test_accuracy"]


def test_sync_bn_option_keeps_the_model_file_of_batch_norm(tiny_mnist, tmp_path):
    """--sync-bn on a batch-norm model (its equality with one process: the SyncBatchNorm tests above): the
    model file holds batch norm's keys and shapes, so plain xpnet loads it."""
    ok(_train(tiny_mnist, tmp_path / "two", "--model", "fashion_cnn", "--epochs", "1", "--sync-bn", "--quiet", n=2))
    from xpnet.models import get_model
    plain = get_model("fashion_cnn").state_dict()
    got = _weights(tmp_path / "two")
    assert {k: v.shape for k, v in got.items()} == {k: v.shape for k, v in plain.items()}
    assert any(k.endswith("running_var") for k in got)


def test_workers_needs_mpi_and_says_what_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match=r"--workers 2 needs mpi4py and an MPI: pip install 'xpnet\[mpi\]'"):
        workers.relaunch(2, ["-m", "xpnet", "train"])


def test_workers_command_and_threads(monkeypatch):
    monkeypatch.setattr(workers, "cores", lambda: 8)
    assert workers.command(4, ["-m", "xpnet", "train"], "/x/mpiexec", "/x/python") == [
        "/x/mpiexec", "-n", "4", "/x/python", "-m", "mpi4py", "-m", "xpnet", "train"]
    env = workers.environment(4, {"OMP_NUM_THREADS": "3"})
    assert env["XPNET_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "2" and env["OMP_NUM_THREADS"] == "3"


def test_launch_is_read_from_the_launcher_environment():
    assert launched_size({}) == 1
    assert launched_size({"PMI_SIZE": "3"}) == 3 and launched_size({"OMPI_COMM_WORLD_SIZE": "2"}) == 2
    with pytest.raises(RuntimeError, match="PMI_SIZE='x'"):
        launched_size({"PMI_SIZE": "x"})


def test_one_process_never_imports_mpi4py(tiny_mnist, tmp_path):
    code = ("import sys; from xpnet.cli import main; "
            f"code = main(['train', '--epochs', '1', '--data', {str(tiny_mnist)!r}, '--out', {str(tmp_path / 'r')!r},"
            " '--quiet']); assert 'mpi4py' not in sys.modules, 'mpi4py imported'; sys.exit(code)")
    env = {k: v for k, v in os.environ.items() if k not in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=dict(env, PYTHONPATH=str(ROOT)))
    ok(result)
