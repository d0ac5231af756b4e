"""`bash bench/gpu_check.sh`: xpnet's whole GPU path checked in one call, on a machine with an NVIDIA GPU.

Runs this checkout's xpnet, installed or not, in the checkout's root, each step in its own process
under its own time limit and all of them within `BUDGET_S` (7.5 minutes):

    machine  the gpu backend loads, else stop at once with its reason; the GPU, driver and versions
    tests    XPNET_BACKEND=gpu python3 -m pytest -q --maxfail=20, on several processes where pytest-xdist is
             installed and the machine has the cores (a GPU machine is lent rarely: report many failures)
    parity   python3 -m xpnet parity --require-gpu
    train    python3 -m xpnet train --backend gpu --epochs 1 on MNIST, into a scratch run folder
    workers  the same with --workers 2 (mpiexec): NCCL on a machine with 2 GPUs or more (its metrics.json
             names the communicator), MPI through host copies on one GPU
    bench    python3 -m bench --backend both --quick --save --results-dir <the results folder>

Everything lands in one folder, `bench/results/<date>-gpu-check-<GPU name>/` unless `--results-dir`
names another parent: summary.md, summary.json, one <step>.log per step run (long ones cut to their
end) and the bench's two tables, at most 8 files. Exit status 0 when every step passed, 1 when any
failed, timed out or could not run, 2 for a bad command line.
"""
import argparse
import datetime
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from xpnet import environment
from xpnet.bench.report import slug
from xpnet.data.datasets import FILES, file_path

from .gpu_check_report import write_summary
from .gpu_check_steps import Step, not_run, run_step

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 450  # the whole check, so that it ends within 8 minutes
MIN_STEP_S = 10  # a step that would get less time than this is not started
TAIL_LINES = 20  # lines of a failed step's log shown on the console

MACHINE = Step("machine", ("{python}", "-m", "bench.gpu_check", "--describe"), 120)
STEPS = (
    Step("tests", ("{python}", "-m", "pytest", "-q", "--maxfail=20", "-p", "no:cacheprovider"), 300,
         env=(("XPNET_BACKEND", "gpu"), ("PYTEST_ADDOPTS", "{pytest_addopts}"))),
    Step("parity", ("{python}", "-m", "xpnet", "parity", "--require-gpu"), 120),
    Step("train", ("{python}", "-m", "xpnet", "train", "--backend", "gpu", "--epochs", "1", "--quiet",
                   "--data", "{data}", "--out", "{scratch}/run"), 150, expects="{scratch}/run/metrics.json"),
    Step("workers", ("{python}", "-m", "xpnet", "train", "--backend", "gpu", "--workers", "2", "--epochs", "1",
                     "--quiet", "--data", "{data}", "--out", "{scratch}/run2"), 150,
         expects="{scratch}/run2/metrics.json"),
    Step("bench", ("{python}", "-m", "bench", "--backend", "both", "--quick", "--save",
                   "--results-dir", "{results}"), 240),
)


def parser(steps):
    names = [s.name for s in steps]
    p = argparse.ArgumentParser(prog="bench/gpu_check.sh", description=(
        f"Check xpnet's GPU path in one call ({', '.join(names)}) and write every log and table into "
        "one dated folder. See README.md, 'Checking a GPU'."))
    p.add_argument("--results-dir", type=Path, default=ROOT / "bench" / "results", metavar="DIR",
                   help="where the dated results folder is made (default bench/results)")
    p.add_argument("--data", type=Path, default=None, metavar="DIR",
                   help="folder holding mnist/ (default $XPNET_DATA, else .data in the checkout)")
    p.add_argument("--skip", action="append", default=[], choices=names, metavar="STEP",
                   help=f"leave a step out (repeatable): {', '.join(names)}")
    p.add_argument("--describe", action="store_true", help=argparse.SUPPRESS)
    return p


# -- the machine step, run in its own process ----------------------------------------------------
def describe():
    """Print the machine as JSON once the gpu backend loads; else its reason on stderr and return 1."""
    from xpnet import backend
    try:
        backend.use("gpu")
    except RuntimeError as exc:
        print(exc, file=sys.stderr)
        return 1
    out = {**backend.info(), **_nvidia_smi(), "python_executable": sys.executable}
    try:
        import torch
        out.update(torch=torch.__version__, torch_cuda=torch.version.cuda, torch_sees_gpu=torch.cuda.is_available())
    except ImportError:
        out["torch"] = "not installed"
    print(json.dumps(out))
    return 0


def _nvidia_smi():
    """The driver's version and the GPU's memory as nvidia-smi reports them (CuPy gives neither)."""
    if shutil.which("nvidia-smi") is None:
        return {"nvidia_driver": "unknown: nvidia-smi not found"}
    query = ["nvidia-smi", "--query-gpu=driver_version,memory.total", "--format=csv,noheader"]
    res = subprocess.run(query, capture_output=True, text=True, timeout=30)
    fields = res.stdout.splitlines()[0].split(", ") if res.returncode == 0 and res.stdout.strip() else []
    if len(fields) != 2:
        return {"nvidia_driver": f"unknown: nvidia-smi said {(res.stdout + res.stderr).strip()!r}"}
    return {"nvidia_driver": fields[0], "gpu_memory": fields[1]}


def pytest_addopts(environ=os.environ, cores=None):
    """PYTEST_ADDOPTS for the tests step: the caller's, with `-n K` added where pytest-xdist is installed (and
    not turned off there) and this process may run on 4 cores or more (K = half of them, at most 8: each
    process also runs BLAS threads)."""
    given = environ.get("PYTEST_ADDOPTS", "")
    cores = environment.cores() if cores is None else cores
    if cores < 4 or "no:xdist" in given or importlib.util.find_spec("xdist") is None:
        return given
    return f"{given} -n {min(8, cores // 2)}".strip()


# -- the check ------------------------------------------------------------------------------------
def data_folder(args):
    """The folder holding mnist/: --data, else $XPNET_DATA, else .data in the checkout."""
    return (args.data or Path(os.environ.get("XPNET_DATA") or ROOT / ".data")).resolve()


def _data_problem(data, skipped):
    """Why training cannot find MNIST under `data`, or None (also when the train step is skipped)."""
    if "train" in skipped or all(file_path(data / "mnist", base) for base in FILES["train"] + FILES["test"]):
        return None
    return (f"the train step needs MNIST's four IDX files in {data}/mnist/ and found none there; copy them into "
            f"the checkout (mkdir -p .data && cp -r <folder holding mnist>/mnist .data/), or pass --data DIR, "
            f"or --skip train")


def _described(probe):
    """The machine step's JSON line (its last), or {"error": why the step failed}."""
    output = probe.pop("output").strip()
    found = [line for line in output.splitlines() if line.startswith("{")]
    if probe["result"] == "passed" and found:
        return json.loads(found[-1])
    return {"error": output or probe["result"]}


def _folder(parent, date, device):
    """<parent>/<date>-gpu-check-<device>, with -2, -3, ... added when that folder is already there."""
    base = parent.resolve() / f"{date}-gpu-check-{slug(device)}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    path.mkdir(parents=True)
    return path


def check(args, steps=STEPS, machine=MACHINE):
    """Run the check for parsed `args`; returns the results folder and the exit status."""
    deadline = time.monotonic() + BUDGET_S
    data = data_folder(args)
    places = {"python": sys.executable, "data": str(data), "pytest_addopts": pytest_addopts()}
    # the steps read the data copy and never try to download; unbuffered, a step stopped at its limit
    # still leaves everything it printed
    env = {**os.environ, "XPNET_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop("XPNET_DATA", None)
    if data.is_dir():  # xpnet refuses an XPNET_DATA that names no folder
        env["XPNET_DATA"] = str(data)
    summary = {"date": datetime.date.today().isoformat(), "data": str(data), "budget_s": BUDGET_S}

    probe = run_step(machine, places, env, machine.limit_s, ROOT)
    summary["machine"] = _described(probe)
    problems = [p for p in (summary["machine"].get("error"), _data_problem(data, args.skip)) if p]
    folder = _folder(args.results_dir, summary["date"], summary["machine"].get("device", "no-gpu"))
    summary["steps"] = [probe]
    with tempfile.TemporaryDirectory(prefix="xpnet-gpu-check-") as scratch:
        places.update(results=str(folder), scratch=scratch)
        for step in steps:
            if step.name in args.skip:
                summary["steps"].append(not_run(step, "skipped"))
            elif problems:
                summary["steps"].append(not_run(step, "not run: the machine or the data is not ready"))
            elif deadline - time.monotonic() < MIN_STEP_S:
                summary["steps"].append(not_run(step, f"not run: the {BUDGET_S} s budget is spent"))
            else:
                _announce(step)
                limit_s = min(step.limit_s, deadline - time.monotonic())
                summary["steps"].append(run_step(step, places, env, limit_s, ROOT, folder / f"{step.name}.log"))
                _report(summary["steps"][-1], folder)
    failed = [s["name"] for s in summary["steps"] if s["result"] not in ("passed", "skipped")]
    summary["problems"], summary["failed"] = problems, failed
    write_summary(folder, summary)
    for problem in problems:
        print(f"gpu check: {problem}", file=sys.stderr)
    verdict = f"FAILED ({', '.join(failed)})" if failed else "every step passed"
    print(f"gpu check: {verdict}; results in {_shown(folder)}", file=sys.stderr)
    return folder, 1 if failed else 0


def _announce(step):
    print(f"gpu check: {step.name} ...", file=sys.stderr, flush=True)


def _report(record, folder):
    """One line per finished step; a failed one also shows the end of its log."""
    print(f"gpu check: {record['name']} {record['result']} in {record['seconds']} s", file=sys.stderr, flush=True)
    if record["result"] != "passed":
        lines = (folder / record["log"]).read_text(errors="replace").splitlines()[-TAIL_LINES:]
        print("\n".join("    " + line for line in lines), file=sys.stderr, flush=True)


def _shown(path):
    """`path` relative to the current folder when it lies below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv=None, steps=STEPS, machine=MACHINE):
    """The command line; returns the exit status."""
    args = parser(steps).parse_args(argv)
    if args.describe:
        return describe()
    return check(args, steps, machine)[1]


if __name__ == "__main__":
    sys.exit(main())
