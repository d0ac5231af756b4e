"""Environment variables are read in xpnet/environment.py only, each listed in its table, and importing
xpnet changes nothing process-wide (no malloc tuning until the caller asks for it)."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from xpnet import environment
from xpnet.errors import ConfigError, shown

ROOT = Path(__file__).resolve().parents[1]


def _run(code, **env):
    import os
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    assert res.returncode == 0, res.stderr
    return res.stdout.strip()


def test_every_xpnet_variable_in_the_source_is_listed():
    named = set()
    for path in (ROOT / "xpnet").rglob("*.py"):
        named |= set(re.findall(r"\bXPNET_[A-Z0-9_]*[A-Z0-9]", path.read_text()))
    unlisted = sorted(named - set(environment.NAMES))
    assert not unlisted, f"XPNET_ variables missing from environment.VARIABLES: {unlisted}"
    assert len(environment.NAMES) == len(set(environment.NAMES))


def test_only_environment_py_reads_the_environment():
    readers = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "xpnet").rglob("*.py")
                     if p.name != "environment.py" and re.search(r"environ(\.get)?\s*(\[|\.get\()\s*[\"']XPNET_",
                                                                   p.read_text()))
    assert not readers, f"read XPNET_ variables outside xpnet/environment.py: {readers}"


_MALLOPT_SPY = """
import ctypes
calls = []
class Spy:
    def __init__(self, real):
        self.real = real
    def __getattr__(self, name):
        if name == "mallopt":
            return lambda *a: calls.append(a)
        return getattr(self.real, name)
real_cdll = ctypes.CDLL
ctypes.CDLL = lambda name, *a, **k: Spy(real_cdll(name, *a, **k))
"""


def test_importing_and_training_does_not_tune_malloc():
    """Importing xpnet and running a CPU training step leaves malloc alone; the explicit call tunes it."""
    out = _run(_MALLOPT_SPY + """
import numpy as np
import xpnet
from xpnet.backend import asarray
model = xpnet.models.get_model("lenet5")
opt = xpnet.optim.Adam(model.parameters())
y = model(asarray(np.zeros((2, 1, 28, 28)), "float32"))
model.backward(y)
opt.step()
print(len(calls), end=" ")
xpnet.backend.keep_freed_memory()
print(len(calls))
""", XPNET_BACKEND="cpu")
    assert out == "0 2"


def test_threads_are_read_on_first_use():
    out = _run("""
import os
import xpnet
from xpnet.backend import threads
os.environ["XPNET_NUM_THREADS"] = "3"
print(threads.count())
""", XPNET_NUM_THREADS="2")
    assert out == "3"


def test_each_variable_is_read_from_the_given_environment():
    assert environment.backend({"XPNET_BACKEND": " GPU "}) == "gpu"
    assert environment.backend({}) == "cpu"
    assert environment.offline({"XPNET_OFFLINE": "yes"}) and not environment.offline({})
    assert environment.num_threads({"XPNET_NUM_THREADS": " 7 "}) == 7 and environment.num_threads({}) >= 1
    assert not environment.keep_memory({"XPNET_KEEP_MEMORY": "off"}) and environment.keep_memory({})
    assert environment.cache_dir({"XPNET_CACHE": "/c"}) == "/c"
    assert environment.data_dir({}) is None


def test_every_documented_spelling_is_still_accepted(tmp_path):
    allow, offline, keep = environment.parity_allow_tf32, environment.offline, environment.keep_memory
    for yes in ("1", "true", "YES", " On "):
        assert offline({"XPNET_OFFLINE": yes}) and allow({"XPNET_PARITY_ALLOW_TF32": yes})
        assert keep({"XPNET_KEEP_MEMORY": yes})
    for no in ("0", "False", "no", "OFF", ""):
        assert not offline({"XPNET_OFFLINE": no}) and not allow({"XPNET_PARITY_ALLOW_TF32": no})
    assert not keep({"XPNET_KEEP_MEMORY": "0"}) and keep({"XPNET_KEEP_MEMORY": ""})
    assert [environment.num_threads({"XPNET_NUM_THREADS": n}) for n in ("1", "1024")] == [1, 1024]
    algorithms = [environment.conv_algorithm({"XPNET_CONV_ALGO": a}) for a in ("Shifted", "AUTO", "")]
    assert algorithms == ["shifted", "auto", "auto"]
    assert environment.data_dir({"XPNET_DATA": str(tmp_path)}) == str(tmp_path)


READERS = {"XPNET_NUM_THREADS": environment.num_threads, "XPNET_OFFLINE": environment.offline,
           "XPNET_KEEP_MEMORY": environment.keep_memory, "XPNET_PARITY_ALLOW_TF32": environment.parity_allow_tf32,
           "XPNET_CONV_ALGO": environment.conv_algorithm, "XPNET_DATA": environment.data_dir}
YES_NO = "one of 1, true, yes, on, 0, false, no, off"


@pytest.mark.parametrize("name, value, accepted", [
    ("XPNET_NUM_THREADS", "abc", "a whole number from 1 to 1024"),
    ("XPNET_NUM_THREADS", "-3", "a whole number from 1 to 1024"),  # was taken as 1
    ("XPNET_NUM_THREADS", "0", "a whole number from 1 to 1024"),  # was taken as 1
    ("XPNET_NUM_THREADS", "100000", "a whole number from 1 to 1024"),  # a thread per row of a large array
    ("XPNET_NUM_THREADS", "\u0663", "a whole number from 1 to 1024"),  # a digit int() takes, but not ASCII
    ("XPNET_OFFLINE", "maybe", YES_NO),  # was taken as online
    ("XPNET_OFFLINE", "\x1b[2J", YES_NO),  # an escape sequence is shown, never sent to the terminal
    ("XPNET_KEEP_MEMORY", "garbage", YES_NO),  # was ignored
    ("XPNET_PARITY_ALLOW_TF32", "2", YES_NO),  # was taken as not allowed
    ("XPNET_CONV_ALGO", "garbage", "auto or one of im2col, im2col_flipped, shifted, winograd_f2, winograd_f4"),
    ("XPNET_DATA", "/no/such/folder", "a folder holding mnist/"),  # was passed over for the cache
])
def test_a_value_outside_what_a_variable_accepts_is_refused_naming_it(name, value, accepted):
    with pytest.raises(ConfigError) as caught:
        READERS[name]({name: value})
    message = str(caught.value)
    assert message.startswith(f"{name} must be ") and accepted in message and shown(value) in message, message
    assert "\x1b" not in message
    with pytest.raises(ConfigError, match=f"^{name} must be "):  # `check`, which commands call first, reads it too
        environment.check({name: value})
