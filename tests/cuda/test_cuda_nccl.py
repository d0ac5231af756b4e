"""The gpu backend's data-parallel path without a GPU: two processes under mpiexec on the CuPy stand-in,
reducing through NCCL's stand-in (fakenccl.py: NCCL's calls carried out by MPI on the memory their
pointers address), train the model one CPU process trains; without NCCL they fall back to MPI through
host copies. CuPy's real NCCL module (nvidia-nccl-cu13) loads and draws the id the processes share.
No real NCCL collective runs here: that needs a machine with two GPUs or more.
"""
import json
import os
from pathlib import Path

import numpy as np
import pytest
from mpi_run import mpirun, ok
from mpi_worker import LONGEST_SUM, STEPS_PER_EPOCH, U64, assert_same_training, initial, reference

pytestmark = pytest.mark.cuda_emulated

HERE = Path(__file__).parent
WORKER = str(HERE / "nccl_worker.py")


def _run(tmp_path, *extra):
    result = ok(mpirun(2, WORKER, "--save", str(tmp_path / "out.npz"), *extra, paths=[HERE], timeout=300))
    got = dict(np.load(tmp_path / "out.npz"))
    return got, str(got.pop("communicator")), json.loads(str(got.pop("calls"))), result.stderr


def test_two_emulated_gpus_over_nccl_train_as_one_cpu_process(tmp_path):
    got, communicator, calls, _ = _run(tmp_path)
    assert communicator == "nccl"
    assert_same_training(got, reference("sync", epochs=1), initial("sync"), STEPS_PER_EPOCH, LONGEST_SUM, U64)
    gradients = sum(v.size for k, v in initial("sync").items() if "running" not in k and "tracked" not in k) + 1
    packed = [c for c in calls if c[0] == "allReduce" and c[1] == gradients]
    assert len(packed) == STEPS_PER_EPOCH  # one packed allreduce per step, on the current stream
    assert {(c[2], c[3]) for c in packed} == {("float64", 0)}
    assert {c[1] for c in calls if c[0] == "bcast"} == {4, 1}  # the buffers of batch norm at the epoch's end


def test_without_nccl_the_gpu_falls_back_to_mpi_through_the_host(tmp_path):
    got, communicator, calls, _ = _run(tmp_path, "--no-nccl", "--norm", "none")
    assert communicator == "mpi" and calls == []
    assert_same_training(got, reference(epochs=1), initial(), STEPS_PER_EPOCH, LONGEST_SUM, U64)


def test_more_processes_than_gpus_fall_back_to_mpi_and_say_so(tmp_path):
    """NCCL refuses two processes on one GPU (the stand-in too): two processes on a one-GPU machine reduce
    through host copies over MPI instead, and process 0 says why."""
    got, communicator, calls, stderr = _run(tmp_path, "--gpus", "1", "--norm", "none")
    assert communicator == "mpi" and calls == []
    assert "2 processes on this machine share 1 GPU(s), and NCCL needs a GPU for each process" in stderr
    assert_same_training(got, reference(epochs=1), initial(), STEPS_PER_EPOCH, LONGEST_SUM, U64)


def test_cupys_nccl_loads_and_draws_the_id_the_processes_share():
    from xpnet.distributed.nccl import load_nccl
    try:
        nccl = load_nccl()
    except RuntimeError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but CuPy's NCCL does not load: {exc} (.ci/run installs nvidia-nccl-cu13)")
        pytest.skip(f"CuPy's NCCL is not here: {exc}")
    uid = nccl.get_unique_id()
    assert isinstance(uid, bytes) and len(uid) == 128 and uid != nccl.get_unique_id()
    assert nccl.NCCL_FLOAT32 != nccl.NCCL_FLOAT64 and nccl.get_version() >= 22000
