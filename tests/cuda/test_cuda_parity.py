"""xpnet's CPU/GPU parity catalogue (every layer, loss, optimizer and model, float64 and float32) with the
GPU side on the CuPy stand-in: gpu.py's ops, the fused kernels run on the host, and every array op
through `xp` on device arrays that refuse host data. It finds host arrays mixed into device code and
gpu.py paths that compute something else than cpu.py, on machines without a GPU; the real-GPU run is
tests/parity (marker gpu).
"""
import pytest

from xpnet.parity import catalogue, run_case
from xpnet.parity.table import render

pytestmark = pytest.mark.cuda_emulated


def test_every_catalogue_case_agrees_with_the_cpu(emulated_gpu):
    rows = [row for case in catalogue() for row in run_case(case, ("cpu", "gpu"))]
    bad = [r for r in rows if not r.passed]
    assert not bad, "the emulated GPU differs from the CPU:\n" + render(bad, "plain")
    assert len(rows) > len(catalogue())
