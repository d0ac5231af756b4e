"""gpu.py offers the `ops` API of cpu.py with the same parameter names: checked from the source with `ast`,
so it runs without CuPy. cpu.py may add trailing parameters with defaults (row_blocks' `budget`)."""
import ast
from pathlib import Path

BACKEND = Path(__file__).resolve().parents[1] / "xpnet" / "backend"
OPS = ("pad", "windows", "im2col", "col2im", "full_batch_last", "batch_last", "row_blocks", "scratch", "matmul",
       "matmul_nt")


def _params(fn, drop_self=False):
    """(parameter names, how many have no default)."""
    names = [a.arg for a in fn.args.posonlyargs + fn.args.args][drop_self:]
    return names, len(names) - len(fn.args.defaults)


def _module_names(filename):
    """{name bound at module level: `_params` of it, or None when not known}. A name bound to
    `obj.method` takes the parameters of cpu.py's WindowKernels.method."""
    cpu_tree = ast.parse((BACKEND / "cpu.py").read_text())
    methods = {f.name: _params(f, drop_self=True) for c in cpu_tree.body if isinstance(c, ast.ClassDef)
               and c.name == "WindowKernels" for f in c.body if isinstance(f, ast.FunctionDef)}
    names = {}
    for node in ast.parse((BACKEND / filename).read_text()).body:
        if isinstance(node, ast.FunctionDef):
            names[node.name] = _params(node)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                pairs = (zip(target.elts, node.value.elts) if isinstance(target, ast.Tuple)
                         and isinstance(node.value, ast.Tuple) else [(target, node.value)])
                for name, value in pairs:
                    if isinstance(name, ast.Name):
                        attr = value.attr if isinstance(value, ast.Attribute) else None
                        names[name.id] = methods.get(attr)
    return names


def test_gpu_module_offers_every_op_with_cpu_parameter_names():
    cpu, gpu = _module_names("cpu.py"), _module_names("gpu.py")
    assert not [n for n in OPS if n not in cpu], "cpu.py no longer binds every op"
    assert not [n for n in OPS if n not in gpu], "gpu.py lacks an op that cpu.py exports"
    differ = {n: (cpu[n], gpu[n]) for n in OPS if cpu[n] and gpu[n]
              and (gpu[n][0] != cpu[n][0][:len(gpu[n][0])] or len(gpu[n][0]) < cpu[n][1])}
    assert not differ, f"parameter names differ between cpu.py and gpu.py: {differ}"
    assert gpu["im2col"] is not None and gpu["col2im"] is not None
