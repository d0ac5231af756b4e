"""Atomic writes: the new file appears whole or not at all, with ordinary permissions."""
import json
import os
import stat

import pytest

from xpnet.io import atomic_write, write_bytes, write_json


def test_success_replaces_the_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "sub" / "out"
    write_bytes(target, b"old")
    with atomic_write(target) as f:
        f.write(b"new")
        assert os.path.dirname(f.name) == str(target.parent) and f.name != str(target)
        assert target.read_bytes() == b"old"  # not visible until the block ends
    assert target.read_bytes() == b"new"
    assert os.listdir(target.parent) == ["out"]


def test_failure_keeps_the_old_file_and_removes_the_temp(tmp_path):
    target = tmp_path / "out"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="rejected"):
        with atomic_write(target) as f:
            f.write(b"new")
            raise RuntimeError("rejected")
    assert os.listdir(tmp_path) == ["out"] and target.read_bytes() == b"old"


def test_failure_without_an_old_file_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(tmp_path / "out", "w") as f:
            f.write("half")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_bytes(tmp_path / "a", b"x")
        os.umask(0o027)
        write_bytes(tmp_path / "b", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "a").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / "b").st_mode) == 0o640


def test_text_mode_and_json(tmp_path):
    with atomic_write(tmp_path / "t.txt", "w") as f:
        f.write("héllo\n")
    assert (tmp_path / "t.txt").read_bytes() == "héllo\n".encode()
    write_json(tmp_path / "d.json", {"a": [1, 2.5, None]})
    text = (tmp_path / "d.json").read_text()
    assert text.endswith("\n") and json.loads(text) == {"a": [1, 2.5, None]}


def test_bad_mode_is_refused(tmp_path):
    with pytest.raises(ValueError, match="mode must be 'wb' or 'w'"):
        with atomic_write(tmp_path / "x", "ab"):
            pass
    assert os.listdir(tmp_path) == []
