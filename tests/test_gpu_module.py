"""gpu.py offers the `ops` API of cpu.py with the same parameter names: checked from the source with `ast`,
so it runs without CuPy. cpu.py may add trailing parameters with defaults (row_blocks' `budget`)."""
import ast
from pathlib import Path

BACKEND = Path(__file__).resolve().parents[1] / "xpnet" / "backend"


def _functions(filename):
    """{public function name: (parameter names, how many have no default)} of a backend module."""
    out = {}
    for node in ast.parse((BACKEND / filename).read_text()).body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            names = [a.arg for a in node.args.posonlyargs + node.args.args]
            out[node.name] = names, len(names) - len(node.args.defaults)
    return out


def test_gpu_module_offers_every_op_with_cpu_parameter_names():
    cpu, gpu = _functions("cpu.py"), _functions("gpu.py")
    assert {"im2col", "col2im", "matmul", "matmul_nt", "row_blocks", "scratch", "random"} <= set(cpu)
    assert not set(cpu) - set(gpu), f"gpu.py lacks ops that cpu.py has: {sorted(set(cpu) - set(gpu))}"
    assert not set(gpu) - set(cpu), f"gpu.py has ops that cpu.py lacks: {sorted(set(gpu) - set(cpu))}"
    differ = {n: (cpu[n], gpu[n]) for n in cpu
              if gpu[n][0] != cpu[n][0][:len(gpu[n][0])] or len(gpu[n][0]) < cpu[n][1]}
    assert not differ, f"parameter names differ between cpu.py and gpu.py: {differ}"
