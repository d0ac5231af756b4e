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


@pytest.mark.parametrize("argv, expected", [
    (["train", "--epochs", "1", "--optimiser", "sgd"],
     "xpnet train: error: unrecognized arguments: --optimiser sgd; did you mean --optimizer?"),
    (["eval", "--checkpoint", "m.safetensors", "--batchsize=8", "--splt", "test"],
     "xpnet eval: error: unrecognized arguments: --batchsize=8 --splt test; did you mean --batch-size or --split?"),
    (["compare", "activations", "--subsets", "10"],
     "xpnet compare activations: error: unrecognized arguments: --subsets 10; did you mean --subset?"),
    (["info", "extra"], "xpnet info: error: unrecognized arguments: extra"),
])
def test_an_unknown_option_is_the_commands_error_with_the_closest_option(argv, expected, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == expected
    assert err.startswith(f"usage: {expected.split(':')[0]} ")  # the command's usage, not the top level's


@pytest.mark.parametrize("argv, prog", [(["train"], "xpnet train"), (["eval", "--checkpoint", "m"], "xpnet eval"),
                                        (["info"], "xpnet info"), (["compare", "models"], "xpnet compare models")])
@pytest.mark.parametrize("given", ["missing", "file"])
def test_a_data_folder_that_is_not_one_is_refused_before_any_lookup(argv, prog, given, tmp_path, monkeypatch, capsys):
    from xpnet.data import download
    monkeypatch.setattr(download, "download", lambda *a, **k: pytest.fail("a download was tried"))
    data = tmp_path / "data"
    if given == "file":
        data.write_text("not a folder")
    out = ["--out", str(tmp_path / "run")] if argv[0] in ("train", "compare") else []
    assert main([*argv, "--data", str(data), *out]) == 2
    why = "no such folder" if given == "missing" else "a file"
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err == f"{prog}: error: argument --data: expected an existing folder, got {str(data)!r} ({why})"
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("command, shown", [
    ("train", ["--model {lenet5,", "the model to train (default: lenet5)", "--epochs EPOCHS default: the model's "
               "recipe, lenet5 8, else 5 --batch-size"]),
    ("eval", ["the split to evaluate on (default: test)", "default 1000, or the whole split when it is smaller "
              "--backend"]),
    ("predict", ["how many classes to list per picture (default: 3)"]),
    ("export", ["--out FILE the .onnx file to write; default: the model file's name ending in .onnx --opset"]),
])
def test_help_adds_a_default_only_where_it_says_something(command, shown, capsys):
    assert main([command, "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())  # the help unwrapped
    assert "(default: None)" not in out and "(default: False)" not in out, out
    for text in shown:
        assert text in out, out
