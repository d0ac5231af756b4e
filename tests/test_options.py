"""Command-line options are a stranger's input too: each out-of-range, infinite or NaN value is refused by
argparse (exit 2) in one line naming the option, before any data is read or anything is written."""
import pytest

from xpnet.cli import main

BAD = [
    ("train", "--shift", "100000", "an integer from 0 to 13"),  # digits pushed out of the frame
    ("train", "--seed", "-1", "an integer >= 0"),
    ("train", "--lr", "inf", "a number from 0 to 1e+06"),
    ("train", "--lr", "nan", "a number from 0 to 1e+06"),
    ("train", "--weight-decay", "-1", "a number from 0 to 1e+06"),
    ("train", "--momentum", "2", "a number from 0 to 1"),
    ("train", "--epochs", "0", "a positive integer"),
    ("train", "--batch-size", "0", "a positive integer"),
    ("bench", "--min-time", "inf", "seconds from 0 to 60"),
]


@pytest.mark.parametrize("command, option, value, expected", BAD)
def test_out_of_range_options_are_refused_naming_the_option(command, option, value, expected, tmp_path, capsys):
    run = tmp_path / "run"
    extra = ["--out", str(run), "--data", str(tmp_path / "no-data")] if command == "train" else []
    assert main([command, option, value, *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"xpnet {command}: error: argument {option}: expected {expected}, got {value!r}"
    assert not run.exists()
