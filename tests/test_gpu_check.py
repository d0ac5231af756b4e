"""bench/gpu_check.sh without a GPU: its command line, results folder, summaries, and failing steps.

Stub steps (small Python commands) stand in for the GPU commands; the real ones run too, where they
must fail fast because this machine has no usable GPU.
"""
import datetime
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import gpu_check, gpu_check_steps
from bench.gpu_check import Step
from xpnet.parity import gpu_status

ROOT = Path(__file__).resolve().parent.parent
TODAY = datetime.date.today().isoformat()
needs_no_gpu = pytest.mark.skipif(gpu_status()[0], reason="a GPU works here: the no-GPU behaviour cannot be seen")


def _python(code, *args, limit_s=60, **fields):
    """A stub step running `code` (with `args` in sys.argv[1:]) in the interpreter the check uses."""
    return Step(command=("{python}", "-c", code, *args), limit_s=limit_s, **fields)


GOOD_MACHINE = _python('print("some warning"); print(\'{"device": "Fake GPU 9000", "cupy": "14.2.0"}\')',
                       name="machine")
BAD_MACHINE = _python('import sys; sys.exit("the gpu backend needs a CUDA device but finds no NVIDIA driver")',
                      name="machine")


@pytest.fixture
def data(tmp_path):
    """A data folder where `xpnet.data.where` finds MNIST (four empty files: the stubs never read them)."""
    folder = tmp_path / "data"
    (folder / "mnist").mkdir(parents=True)
    for base in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (folder / "mnist" / f"{base}.gz").touch()
    return folder


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    """Each test starts in its own folder, so relative paths given to the check are taken from there."""
    monkeypatch.chdir(tmp_path)


def _check(tmp_path, data, steps, machine=GOOD_MACHINE, extra=()):
    """Run the check with `steps` and results in ./results; returns (exit status, results folder, summary.json)."""
    args = gpu_check.parser(steps).parse_args(["--results-dir", "results", "--data", str(data), *extra])
    folder, status = gpu_check.check(args, steps, machine)
    return status, folder, json.loads((folder / "summary.json").read_text())


def test_command_line_defaults_and_skip(monkeypatch, tmp_path):
    monkeypatch.delenv("XPNET_DATA", raising=False)
    args = gpu_check.parser(gpu_check.STEPS).parse_args(["--skip", "tests", "--skip", "bench"])
    assert args.results_dir == ROOT / "bench" / "results" and not args.describe
    assert args.skip == ["tests", "bench"]
    assert gpu_check.data_folder(args) == ROOT / ".data"
    monkeypatch.setenv("XPNET_DATA", str(tmp_path))
    assert gpu_check.data_folder(args) == tmp_path
    args = gpu_check.parser(gpu_check.STEPS).parse_args(["--data", str(tmp_path / "d")])
    assert gpu_check.data_folder(args) == tmp_path / "d"


def test_unknown_step_is_a_usage_error_listing_the_steps(capsys):
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.main(["--results-dir", "results", "--skip", "nosuch"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.replace("'", "")  # Python 3.12 stopped quoting the choices
    assert "argument --skip: invalid choice: nosuch (choose from tests, parity, train, workers, bench)" in err


def test_the_steps_are_the_issues_four_commands():
    commands = {s.name: " ".join(s.command[1:]) for s in gpu_check.STEPS}
    assert commands == {
        "tests": "-m pytest -q --maxfail=20 -p no:cacheprovider",
        "parity": "-m xpnet parity --require-gpu",
        "train": "-m xpnet train --backend gpu --epochs 1 --quiet --data {data} --out {scratch}/run",
        "workers": "-m xpnet train --backend gpu --workers 2 --epochs 1 --quiet --data {data} --out {scratch}/run2",
        "bench": "-m bench --backend both --quick --save --results-dir {results}"}
    assert dict(gpu_check.STEPS[0].env) == {"XPNET_BACKEND": "gpu", "PYTEST_ADDOPTS": "{pytest_addopts}"}
    assert gpu_check.BUDGET_S + 5 + gpu_check_steps.GONE_S < 8 * 60  # a stopped step's grace included: 8 minutes


@pytest.mark.parametrize("environ, cores, xdist, expected", [
    ({}, 16, True, "-n 8"), ({}, 6, True, "-n 3"), ({}, 3, True, ""), ({}, 16, False, ""),
    ({"PYTEST_ADDOPTS": "-v"}, 16, True, "-v -n 8"), ({"PYTEST_ADDOPTS": "-v"}, 2, True, "-v"),
    ({"PYTEST_ADDOPTS": "-p no:xdist"}, 16, True, "-p no:xdist")])
def test_the_tests_step_runs_on_half_the_cores_where_xdist_is_installed(environ, cores, xdist, expected,
                                                                       monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: (object() if xdist else None) if name == "xdist" else real(name, *a))
    assert gpu_check.pytest_addopts(environ, cores) == expected


def test_the_tests_step_counts_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    monkeypatch.setattr(gpu_check.environment, "cores", lambda: 6)
    assert gpu_check.pytest_addopts({}) == "-n 3"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to see which processes run")
def test_a_group_runs_while_a_process_of_it_runs():
    assert gpu_check_steps._group_runs(os.getpgid(0))
    child = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    try:
        for _ in range(1000):  # until it has ended; not reaped yet, it is a zombie
            if not _alive(child.pid):
                break
            time.sleep(0.01)
        assert not gpu_check_steps._group_runs(child.pid)
    finally:
        child.wait()
    assert not gpu_check_steps._group_runs(child.pid)


def test_passing_steps_fill_one_dated_folder(tmp_path, data, monkeypatch):
    monkeypatch.delenv("XPNET_OFFLINE", raising=False)
    show_env = "import os; print(os.environ['XPNET_DATA'], os.environ['XPNET_OFFLINE'], os.environ['WHERE'])"
    steps = (_python(show_env, name="tests", env=(("WHERE", "{results}"),)),
             _python("import sys, pathlib; pathlib.Path(sys.argv[1], 'table.md').write_text('| t |')", "{results}",
                     name="bench"))
    status, folder, summary = _check(tmp_path, data, steps)
    assert status == 0
    assert folder == tmp_path / "results" / f"{TODAY}-gpu-check-fake-gpu-9000"
    assert sorted(p.name for p in folder.iterdir()) == ["bench.log", "summary.json", "summary.md", "table.md",
                                                       "tests.log"]
    assert (folder / "tests.log").read_text() == f"{data.resolve()} 1 {folder}\n"
    assert "XPNET_OFFLINE" not in os.environ  # set for the steps only
    assert summary["machine"] == {"device": "Fake GPU 9000", "cupy": "14.2.0"}
    assert summary["failed"] == [] and summary["problems"] == [] and summary["data"] == str(data.resolve())
    assert [(s["name"], s["result"], s["exit_status"]) for s in summary["steps"]] == [
        ("machine", "passed", 0), ("tests", "passed", 0), ("bench", "passed", 0)]
    assert summary["steps"][1]["command"].startswith(f"WHERE={folder} {sys.executable} -c ")
    assert all(s["seconds"] >= 0 and s["limit_s"] == 60 for s in summary["steps"])
    page = (folder / "summary.md").read_text()
    assert page.startswith(f"# xpnet GPU check, {TODAY}\n\n**Every step passed.**")
    assert re.search(r"\| device +\| Fake GPU 9000 +\|", page)


def test_a_second_run_on_the_same_day_gets_its_own_folder(tmp_path, data):
    steps = (_python("pass", name="tests"),)
    first, second = (_check(tmp_path, data, steps)[1] for _ in range(2))
    assert second == first.with_name(first.name + "-2") and (second / "summary.json").is_file()


def test_a_failing_step_fails_the_check_and_the_rest_still_run(tmp_path, data, capsys):
    steps = (_python("print('collected 3 items'); raise SystemExit(3)", name="tests"),
             _python("print('fine')", name="parity"))
    status, folder, summary = _check(tmp_path, data, steps)
    assert status == 1 and summary["failed"] == ["tests"]
    assert [s["result"] for s in summary["steps"]] == ["passed", "failed (exit status 3)", "passed"]
    err = capsys.readouterr().err
    assert "gpu check: tests failed (exit status 3)" in err and "    collected 3 items" in err
    assert f"gpu check: FAILED (tests); results in results/{folder.name}" in err  # below where it started
    assert "**FAILED: tests**" in (folder / "summary.md").read_text()


def _alive(pid):
    """Whether process `pid` still runs (a zombie, ended but not yet reaped, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to see which processes run")
def test_a_step_past_its_limit_is_stopped_with_its_children(tmp_path, data):
    hang = ("import os, subprocess, sys, time; child = subprocess.Popen(['sleep', '60']); "
            "print(os.getpid(), child.pid, flush=True); time.sleep(60)")
    status, folder, summary = _check(tmp_path, data, (_python(hang, limit_s=3, name="tests"),))
    assert status == 1 and summary["steps"][1]["result"] == "timed out after 3 s"
    assert summary["steps"][1]["exit_status"] is None
    pids = [int(p) for p in (folder / "tests.log").read_text().split()]
    assert len(pids) == 2 and not any(_alive(pid) for pid in pids)


def test_a_step_that_leaves_no_expected_file_fails(tmp_path, data):
    write = "import json, sys; json.dump({'test_accuracy': 0.98, 'epochs': 1}, open(sys.argv[1], 'w'))"
    steps = (_python("pass", name="train", expects="{scratch}/metrics.json"),
             _python(write, "{scratch}/m.json", name="train2", expects="{scratch}/m.json"))
    status, folder, summary = _check(tmp_path, data, steps)
    assert status == 1 and summary["failed"] == ["train"]
    assert summary["steps"][1]["result"] == "failed: it left no metrics.json"
    assert summary["steps"][2]["produced"] == {"test_accuracy": 0.98, "epochs": 1}
    assert "test accuracy 98.00%" in (folder / "summary.md").read_text()


def test_a_machine_without_a_gpu_stops_before_any_step(tmp_path, data, capsys):
    status, folder, summary = _check(tmp_path, data, (_python("print('ran')", name="tests"),), BAD_MACHINE)
    assert status == 1 and folder.name == f"{TODAY}-gpu-check-no-gpu"
    assert summary["machine"] == {"error": "the gpu backend needs a CUDA device but finds no NVIDIA driver"}
    assert summary["problems"] == [summary["machine"]["error"]] and summary["failed"] == ["machine", "tests"]
    assert summary["steps"][1]["result"] == "not run: the machine or the data is not ready"
    assert sorted(p.name for p in folder.iterdir()) == ["summary.json", "summary.md"]
    assert "gpu check: the gpu backend needs a CUDA device but finds no NVIDIA driver" in capsys.readouterr().err


def test_missing_mnist_stops_the_check_unless_train_is_skipped(tmp_path):
    steps = (_python("pass", name="train"),)
    status, _, summary = _check(tmp_path, tmp_path / "empty", steps)
    assert status == 1 and summary["steps"][1]["result"] == "not run: the machine or the data is not ready"
    (problem,) = summary["problems"]
    assert f"MNIST's four IDX files in {tmp_path / 'empty'}/mnist/" in problem
    assert "cp -r <folder holding mnist>/mnist .data/" in problem and "--skip train" in problem
    status, _, summary = _check(tmp_path, tmp_path / "empty", steps, extra=["--skip", "train"])
    assert status == 0 and summary["steps"][1]["result"] == "skipped" and summary["problems"] == []


def test_steps_past_the_budget_are_not_run(tmp_path, data, monkeypatch):
    monkeypatch.setattr(gpu_check, "BUDGET_S", 0)
    status, _, summary = _check(tmp_path, data, (_python("pass", name="tests"),))
    assert status == 1 and summary["steps"][1]["result"] == "not run: the 0 s budget is spent"


def test_long_logs_keep_their_end(tmp_path, data, monkeypatch):
    monkeypatch.setattr(gpu_check_steps, "LOG_BYTES", 100)
    steps = (_python("print('x' * 500); print('the last line')", name="tests"),)
    _, folder, _ = _check(tmp_path, data, steps)
    notice, kept = (folder / "tests.log").read_text().split("\n", 1)
    assert notice == "[gpu check: the first 415 bytes of this log were cut; its last 100 follow]"
    assert kept == "x" * 85 + "\nthe last line\n"


def test_nvidia_smi_gives_the_driver_version(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho '580.159.03, 143771 MiB'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert gpu_check._nvidia_smi() == {"nvidia_driver": "580.159.03", "gpu_memory": "143771 MiB"}
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    assert gpu_check._nvidia_smi() == {"nvidia_driver": "unknown: nvidia-smi not found"}


@needs_no_gpu
def test_the_script_fails_fast_and_clearly_without_a_gpu(tmp_path):
    results = tmp_path / "results"
    res = subprocess.run(["bash", str(ROOT / "bench" / "gpu_check.sh"), "--results-dir", "results",
                          "--data", str(tmp_path / "nodata")], capture_output=True, text=True, cwd=tmp_path)
    (folder,) = results.iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert res.returncode == 1 and folder.name == f"{TODAY}-gpu-check-no-gpu"
    assert summary["machine"]["error"].startswith("the gpu backend needs ")  # CuPy, or a driver, ...
    assert f"gpu check: {summary['machine']['error']}" in res.stderr
    assert summary["data"] == str(tmp_path / "nodata") and "MNIST's four IDX files" in summary["problems"][-1]
    assert [s["result"] for s in summary["steps"][1:]] == ["not run: the machine or the data is not ready"] * 5
    assert "results in results/" + folder.name in res.stderr  # relative to where it was started


@needs_no_gpu
def test_the_real_steps_run_and_each_fails_for_want_of_a_gpu(tmp_path, data):
    """Every real command parses its arguments and gets as far as asking for the GPU (exit 1, not 2)."""
    machine = _python('print(\'{"device": "none"}\')', name="machine")
    status, folder, summary = _check(tmp_path, data, gpu_check.STEPS, machine)
    assert status == 1 and summary["failed"] == ["tests", "parity", "train", "workers", "bench"]
    for step in summary["steps"][1:]:
        log = (folder / step["log"]).read_text()
        # pytest exits 2 when collection failed, the other steps 1
        assert step["exit_status"] == (2 if step["name"] == "tests" else 1), step
        reasons = ["the gpu backend needs", "no GPU available"]
        if step["name"] == "workers" and importlib.util.find_spec("mpi4py") is None:
            reasons.append("--workers 2 needs mpi4py")  # `.[test]` alone has no MPI: it stops before the GPU
        assert any(reason in log for reason in reasons), log
    assert re.match(rf"XPNET_BACKEND=gpu PYTEST_ADDOPTS=('.*'|\S*) {re.escape(sys.executable)} -m pytest ",
                    summary["steps"][1]["command"]), summary["steps"][1]["command"]
