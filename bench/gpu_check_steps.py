"""One step of the GPU check: a command run in its own process group under a time limit, its output kept.

A step's record (for summary.json) holds its command as a shell line, its limit, exit status, seconds
and result: "passed", "failed (exit status N)", "timed out after N s", or "failed: it left no <file>"
when it exits 0 without leaving the file it `expects`.
"""
import contextlib
import dataclasses
import json
import os
import shlex
import signal
import subprocess
import tempfile
import time
from pathlib import Path

LOG_BYTES = 2 << 20  # a longer log keeps its end
GONE_S = 5  # how long a stopped step's processes get to disappear


@dataclasses.dataclass(frozen=True)
class Step:
    """One command of the check. "{python}", "{data}", "{results}" and "{scratch}" in `command`, `env`
    and `expects` are filled in when it runs; `expects` names a file the step must leave behind."""
    name: str
    command: tuple
    limit_s: int
    env: tuple = ()
    expects: str | None = None


def _fill(text, places):
    """`text` with each "{name}" of `places` replaced by its value (other braces stay as they are)."""
    for name, value in places.items():
        text = text.replace("{" + name + "}", value)
    return text


def run_step(step, places, env, limit_s, cwd, log_path=None):
    """Run `step` in folder `cwd` with environment `env` for at most `limit_s` seconds; its output goes to
    `log_path` (else into the record as "output"). Returns the step's record for summary.json."""
    command = [_fill(part, places) for part in step.command]
    env_add = {k: _fill(v, places) for k, v in step.env}
    record = {"name": step.name, "command": shlex.join([f"{k}={v}" for k, v in env_add.items()] + command),
              "limit_s": round(limit_s), "exit_status": None, "seconds": None}
    with tempfile.TemporaryFile() as out:
        start = time.monotonic()
        # its own process group, so a timeout ends the step's children too
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                env={**env, **env_add}, start_new_session=True)
        try:
            record["exit_status"] = proc.wait(timeout=limit_s)
        except subprocess.TimeoutExpired:
            _stop(proc)
        record["seconds"] = round(time.monotonic() - start, 1)
        out.seek(0)
        output = out.read()
    if log_path is None:
        record["output"] = output.decode(errors="replace")
    else:
        log_path.write_bytes(_tail(output))
        record["log"] = log_path.name
    expected = Path(_fill(step.expects, places)) if step.expects else None
    record["result"] = _result(record["exit_status"], expected, limit_s)
    if record["result"] == "passed" and expected is not None and expected.suffix == ".json":
        record["produced"] = json.loads(expected.read_text())
    return record


def not_run(step, why):
    """The record of a step left out, and `why`."""
    return {"name": step.name, "command": None, "limit_s": step.limit_s, "exit_status": None, "seconds": None,
            "result": why}


def _stop(proc):
    """End a step that ran past its limit, and everything it started: asked first, then killed."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    # signals arrive when the kernel gets to them: wait (a little) until no process of the step runs
    deadline = time.monotonic() + GONE_S
    while _group_runs(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _group_runs(pgid):
    """Whether a process of group `pgid` still runs (an ended one not yet reaped does not), from /proc;
    where there is no /proc, whether the group has any process left."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # state, ppid, pgrp, ...
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _tail(output):
    """`output`, or its last LOG_BYTES after a line saying how much was cut."""
    cut = len(output) - LOG_BYTES
    if cut <= 0:
        return output
    notice = f"[gpu check: the first {cut} bytes of this log were cut; its last {LOG_BYTES} follow]\n"
    return notice.encode() + output[cut:]


def _result(exit_status, expected, limit_s):
    """'passed', 'timed out after N s', 'failed (exit status N)' or 'failed: it left no <expected file>'."""
    if exit_status is None:
        return f"timed out after {round(limit_s)} s"
    if exit_status != 0:
        return f"failed (exit status {exit_status})"
    if expected is not None and not expected.is_file():
        return f"failed: it left no {expected.name}"
    return "passed"
