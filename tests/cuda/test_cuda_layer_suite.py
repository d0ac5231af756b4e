"""The whole test suite but tests/cuda (layers with numeric gradients and PyTorch agreement, losses,
optimizers, training, checkpoints, parity, ...) passes on xpnet's gpu backend, gpu.py's ops standing in
for cpu.py's and its fused kernels run on the host: one pytest run in a subprocess with
emulated_gpu_plugin.py, as `XPNET_BACKEND=gpu python3 -m pytest` runs it on a real GPU.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from xpnet import environment

pytestmark = pytest.mark.cuda_emulated

ROOT = Path(__file__).resolve().parents[2]
SUITE = ("tests", "--ignore=tests/cuda")


def test_the_test_suite_passes_on_the_emulated_gpu():
    if environment.backend() == "gpu":
        pytest.skip("this session runs the whole suite on a real GPU (XPNET_BACKEND=gpu)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(ROOT)]
                                                       + [p for p in [os.environ.get("PYTHONPATH")] if p])}
    env.pop("XPNET_BACKEND", None)
    env.pop("PYTEST_ADDOPTS", None)  # one process: the stand-in is set up in this pytest's own process
    command = [sys.executable, "-m", "pytest", "-p", "emulated_gpu_plugin", "-p", "no:cacheprovider", *SUITE]
    res = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    out = res.stdout + res.stderr
    assert res.returncode == 0, f"the test suite failed on the emulated GPU:\n{out[-6000:]}"
    assert "xpnet backend: gpu on fakecupy" in out, out[-3000:]
    assert int(re.search(r"(\d+) passed", out).group(1)) > 0, out[-3000:]
    launches = dict(re.findall(r"(xpnet_\w+)=(\d+)", out))
    assert int(launches.get("xpnet_im2col", 0)) > 0 and int(launches.get("xpnet_col2im", 0)) > 0, out[-3000:]
