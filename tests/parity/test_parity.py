"""CPU/GPU parity of every case in the catalogue (needs CuPy and a CUDA device; see conftest.py)."""
import pytest

from xpnet import backend
from xpnet.cli import main as xpnet_main
from xpnet.parity import Case, catalogue, run_case
from xpnet.parity.table import render


def main(argv):
    """`xpnet parity ARGV`'s exit status."""
    return xpnet_main(["parity", *argv])


pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("case", catalogue(), ids=lambda c: c.label)
def test_gpu_matches_cpu(case, allow_tf32):
    rows = run_case(case, ("cpu", "gpu"), allow_tf32=allow_tf32)
    bad = [r for r in rows if not r.passed]
    assert not bad, "GPU differs from CPU:\n" + render(bad, "plain")


def test_runner_really_uses_the_gpu():
    seen = []

    def probe(gen):
        y = backend.xp.asarray(gen.standard_normal(3))
        seen.append(backend.backend_of(y))
        return {"y": y}

    rows = run_case(Case("probe", probe), ("cpu", "gpu"))
    assert seen == ["cpu", "gpu"]
    assert all(r.passed for r in rows)


def test_command_passes_on_the_gpu(allow_tf32, capsys):
    args = ["--only", "Dense(in_features=7,", "--format", "json"] + (["--allow-tf32"] if allow_tf32 else [])
    assert main(args) == 0
    assert '"failed": 0' in capsys.readouterr().out
