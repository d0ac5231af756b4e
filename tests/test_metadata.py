"""Model files from strangers: every metadata key and header field is checked before xpnet acts on it, and
each bad one is one line at the command line naming the file and the key, never a traceback, an allocation
the file does not justify, or a silently wrong answer."""
import inspect
import json
import struct
import tracemalloc

import numpy as np
import pytest

from xpnet.backend import asarray
from xpnet.cli import main
from xpnet.errors import ModelFileError
from xpnet.layers import Conv2D
from xpnet.models import MODELS, get_model
from xpnet.train import describe, load_model, read_metadata, save_weights
from xpnet.train.metadata import BUILDERS, CONVOLUTION_WORK, PARAMETERS, check, model_arguments
from xpnet.train.model_file import read_header, to_bytes

Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed")


def model_file(path, model="simple_cnn", **overrides):
    """A model file of an untrained `model` whose metadata strings are describe()'s with `overrides` (None
    deletes a key)."""
    meta = describe(model, {}, "mnist")
    for key, value in overrides.items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value if isinstance(value, str) else json.dumps(value)
    save_weights(path, get_model(model), meta)
    return path


def raw_file(path, header, data=b""):
    """A safetensors file with header `header` (a dict, or bytes as they are) and data bytes `data`."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


@pytest.fixture
def digit(tmp_path):
    picture = np.zeros((28, 28), np.uint8)
    picture[6:22, 12:16] = 255
    Image.fromarray(picture).save(tmp_path / "digit.png")
    return str(tmp_path / "digit.png")


def predict(file, digit, capsys):
    """(exit code, stdout, stderr) of `xpnet predict --checkpoint file digit`."""
    code = main(["predict", "--checkpoint", str(file), digit])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err, file, *expected):
    assert err.startswith(f"xpnet predict: error: {file}"), err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and len(err) < 2100, err[:3000]
    assert "\x1b" not in err
    for text in expected:
        assert text in err, err


BAD_METADATA = [  # (metadata overrides, what the error says)
    ({"model_kwargs": {"evil": 1}}, "simple_cnn takes no argument 'evil'"),
    ({"model_kwargs": [1, 2, 3]}, "model_kwargs [1, 2, 3] (from the file): expected a JSON object"),
    ({"model_kwargs": {"channels": [[1, [2]]]}}, "model_kwargs 'channels' [[1, [2]]] (from the file)"),
    ({"model_kwargs": {"channels": True}}, "expected an integer from 1 to"),
    ({"model_kwargs": {"channels": 1000000000}}, "expected an integer from 1 to 65536"),
    ({"model": "mlp", "model_kwargs": {"hidden": [1000000000, 100]}}, "expected a list of 0 to 64 integers"),
    ({"model": "mlp", "model_kwargs": {"hidden": [60000, 60000]}}, "parameters; at most"),
    ({"model": "mlp", "model_kwargs": {"hidden": [1] * 20000}}, "expected a list of 0 to 64 integers"),
    ({"model": "mlp", "model_kwargs": {"activation": "leaky_relu:nan"}}, "a finite negative_slope"),
    ({"model": "evil"}, "model 'evil' (from the file): expected a model xpnet builds: one of lenet5"),
    ({"dataset": "evil"}, "dataset 'evil' (from the file): expected a data set xpnet knows"),
    ({"preprocessing": {"image_size": [28, 28], "mean": [0.1], "std": [0.3], "fit_box": 20, "centre": "mass"}},
     "preprocessing has no channels"),
    ({"preprocessing": {"image_size": [28, 28], "channels": 1, "mean": [0.1], "std": 0.3, "fit_box": 20,
                        "centre": "mass"}},
     "preprocessing std 0.3 (from the file): expected a list of 1 numbers from 1e-06 to 1e+06"),
    ({"preprocessing": {"image_size": [100000, 100000], "channels": 1, "mean": [0.1], "std": [0.3], "fit_box": 20,
                        "centre": "mass"}}, "preprocessing image_size [100000, 100000]"),
    ({"preprocessing": {"image_size": [28, 28], "channels": 1, "mean": [0.1], "std": ["Infinity"], "fit_box": 20,
                        "centre": "mass"}}, "numbers from 1e-06"),
    ('{"image_size": [28, 28], "channels": 1, "mean": [0.1], "std": [Infinity], "fit_box": 20, "centre": "mass"}',
     "preprocessing std [inf]"),
    ('{"image_size": [28, 28], "channels": 1, "mean": [NaN], "std": [0.3], "fit_box": 20, "centre": "mass"}',
     "preprocessing mean [nan]"),
    ({"preprocessing": {"image_size": [28, 28], "channels": 1, "mean": [0.1], "std": [0.0], "fit_box": 20,
                        "centre": "mass"}}, "numbers from 1e-06"),
    ({"preprocessing": {"image_size": [28, 28], "channels": 1, "mean": [0.1], "std": [1e-320], "fit_box": 20,
                        "centre": "mass"}},
     "std [1e-320] (from the file): expected a list of 1 numbers from 1e-06"),  # 0 in float32
    ({"preprocessing": {"image_size": [28, 28], "channels": 1, "mean": [1e308], "std": [0.3], "fit_box": 20,
                        "centre": "mass"}},
     "mean [1e+308] (from the file): expected a list of 1 numbers from -1000 to 1000"),  # inf in float32
    ({"preprocessing": {"image_size": [32, 32], "channels": 1, "mean": [0.1], "std": [0.3], "fit_box": 20,
                        "centre": "mass"}}, "preprocessing makes 1x32x32 input, but the simple_cnn takes 1x28x28"),
    ({"classes": ["a", "b", "c"]}, "3 class names for a simple_cnn with 10 outputs"),
    ({"classes": [str(i) for i in range(9)] + ["\x1b[2J\x1b[31mpwned"]}, "printable characters"),
    ({"classes": "[" * 100000 + "]" * 100000}, "nested more than 8 levels deep"),
    ({"classes": json.dumps(["x" * 5_000_000])}, "characters long; expected at most"),
    ({"classes": ["x" * 1000] * 10}, "... ("),
    ({"model_kwargs": "{not json"}, "metadata 'model_kwargs' is not valid JSON"),
]


@pytest.mark.parametrize("overrides,expected", BAD_METADATA, ids=[e[:40] for _, e in BAD_METADATA])
def test_bad_metadata_is_one_line_naming_file_and_key(tmp_path, digit, capsys, overrides, expected):
    key = next(iter(overrides)) if isinstance(overrides, dict) else "preprocessing"
    overrides = overrides if isinstance(overrides, dict) else {key: overrides}
    model = overrides.get("model", "simple_cnn")
    file = tmp_path / "model.safetensors"
    meta = describe("simple_cnn", {}, "mnist")
    for k, value in overrides.items():
        meta[k] = value if isinstance(value, str) else json.dumps(value)
    weights = get_model("mlp" if model == "mlp" else "simple_cnn").state_dict()
    file.write_bytes(to_bytes(weights, meta))
    tracemalloc.start()
    code, out, err = predict(file, digit, capsys)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert code == 1 and out == ""
    assert_one_line(err, file, expected)
    assert peak < 200 << 20  # nothing of the size the file asks for was allocated
    with pytest.raises(ModelFileError):
        load_model(file)


def test_unknown_metadata_keys_are_left_alone_and_good_files_load(tmp_path, digit, capsys):
    file = model_file(tmp_path / "model.safetensors", comment="\x1b[31m anything")
    assert "comment" not in read_metadata(file)
    code, out, err = predict(file, digit, capsys)
    assert code == 0 and err == "" and out.startswith(digit)


BAD_HEADERS = [  # (header, data, what the error says)
    ({"__metadata__": ["model", "mlp"]}, b"", "its __metadata__ is not a JSON object of strings"),
    ({"__metadata__": {"model": 5}}, b"", "its __metadata__ is not a JSON object of strings"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, "8"]}}, bytes(8), "data_offsets [0, '8']"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, bytes(4), "span 4 bytes, but F32 [2] needs 8"),
    ({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, bytes(8), "expected a list of at most 8 sizes"),
    ({"w": {"dtype": "X9", "shape": [2], "data_offsets": [0, 8]}}, bytes(8), "dtype 'X9', expected one of"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, bytes(12), "data starts at byte 4, expected 0"),
    ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, bytes(100), "92 bytes after the tensor data"),
    ({"w": "weights"}, b"", "expected an entry with dtype, shape and data_offsets"),
    ({"w": {"dtype": "F32", "shape": [[[[[[[[[[2]]]]]]]]]], "data_offsets": [0, 8]}}, bytes(8), "not a JSON object"),
]


@pytest.mark.parametrize("header,data,expected", BAD_HEADERS, ids=[e[:40] for *_, e in BAD_HEADERS])
def test_bad_headers_are_one_line_naming_the_file(tmp_path, digit, capsys, header, data, expected):
    file = raw_file(tmp_path / "model.safetensors", header, data)
    code, out, err = predict(file, digit, capsys)
    assert code == 1
    assert_one_line(err, file, expected)


def test_a_huge_foreign_file_is_refused_from_its_header_without_reading_the_data(tmp_path, digit, capsys):
    """A file announcing 512 MiB of weights that do not fit the model: refused before the data is read."""
    file = raw_file(tmp_path / "big.safetensors", {"w": {"dtype": "F32", "shape": [1 << 27],
                                                      "data_offsets": [0, 1 << 29]}})
    with open(file, "r+b") as f:
        f.truncate(file.stat().st_size + (1 << 29))  # sparse: no disk used
    tracemalloc.start()
    code, _, err = predict(file, digit, capsys)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert code == 1 and peak < 64 << 20
    assert_one_line(err, file, "does not say which model it holds")
    code = main(["predict", "--checkpoint", str(file), "--model", "lenet5", digit])
    assert code == 1
    assert_one_line(capsys.readouterr().err, file, "weights do not fit the model", "unexpected keys ['w']")
    with pytest.raises(ModelFileError, match="weights do not fit the model"):
        from xpnet.train.model_file import load_state
        tracemalloc.start()
        try:
            load_state(file, get_model("mlp"))
        finally:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    assert peak < 64 << 20  # the file's 512 MiB were not read


def test_an_oversized_header_length_is_refused_before_reading_it(tmp_path):
    file = tmp_path / "big.safetensors"
    file.write_bytes(struct.pack("<Q", 1 << 30) + b"{")
    with open(file, "r+b") as f:
        f.truncate((1 << 30) + 16)
    with pytest.raises(ModelFileError, match="header announces 1,073,741,824 bytes, more than the"):
        read_header(file)


def test_every_builder_has_a_schema_and_a_parameter_count_that_match_it():
    for name, builder in MODELS.items():
        assert set(BUILDERS[name]) == set(inspect.signature(builder).parameters), name
        args = model_arguments(name, {})
        assert PARAMETERS[name](args) == sum(p.data.size for p in get_model(name).parameters()), name
    odd = model_arguments("fc_net", {"hidden": [7, 5], "norm": "batch", "in_features": 12, "num_classes": 3})
    assert PARAMETERS["fc_net"](odd) == sum(p.data.size for p in get_model("fc_net", **odd).parameters())
    odd = model_arguments("fashion_cnn", {"widths": [3, 4, 5], "hidden": 7, "image_size": 16, "in_channels": 2})
    assert PARAMETERS["fashion_cnn"](odd) == sum(p.data.size for p in get_model("fashion_cnn", **odd).parameters())


@pytest.mark.parametrize("name, kwargs", [("simple_cnn", {}), ("simple_cnn", {"channels": 3, "in_channels": 2,
                                                                             "image_size": 9}),
                                          ("fashion_cnn", {}), ("fashion_cnn", {"widths": [3, 4, 5], "image_size": 17,
                                                                                "in_channels": 2})])
def test_convolution_work_is_what_the_convolutions_do(name, kwargs):
    """The per-picture values and multiply-adds counted from the arguments are those of a forward pass."""
    args = model_arguments(name, kwargs)
    model = get_model(name, **args).eval()
    seen = []
    for layer in model.modules():
        if isinstance(layer, Conv2D):
            layer.register_forward_hook(lambda m, x, y: seen.append((y.size, y.size * m.weight.data[0].size)))
    model(asarray(np.zeros((1, args["in_channels"], args["image_size"], args["image_size"]), np.float32)))
    assert CONVOLUTION_WORK[name](args) == tuple(map(sum, zip(*seen)))


@pytest.mark.parametrize("kwargs, work", [
    ({"widths": [64, 1, 1, 1, 1, 1, 1, 1], "hidden": 1, "image_size": 1024}, "134,916,736 values and take "
                                                                               "39,413,612,160"),  # 40K weights
    ({"widths": [17], "hidden": 1, "image_size": 1024}, "35,651,584 values"),  # too many values only
    ({"widths": [4, 4096], "hidden": 1, "image_size": 64}, "8,421,376 values and take 154,770,554,880"),  # work only
])
def test_a_model_too_costly_for_one_picture_is_refused_before_it_is_built(kwargs, work):
    meta = {"model": "fashion_cnn", "model_kwargs": json.dumps(kwargs)}
    with pytest.raises(ModelFileError, match=f"bomb.safetensors: .* make a fashion_cnn whose convolutions output "
                                             f"{work}.* per picture; at most 33,554,432 and 17,179,869,184 are run"):
        check(meta, "bomb.safetensors")
    model_arguments("fashion_cnn", {"widths": [32, 64], "image_size": 512})  # a large picture, within bounds


def test_class_names_must_be_one_per_output(tmp_path):
    from xpnet.train import classify
    Image.fromarray(np.tile(np.arange(28, dtype=np.uint8) * 9, (28, 1))).save(tmp_path / "ramp.png")
    pre = json.loads(describe(None, None, "mnist")["preprocessing"])
    model = get_model("simple_cnn", num_classes=2)
    assert len(classify(model, [str(tmp_path / "ramp.png")], pre, ["a", "b"], top=2)[0]["top"]) == 2
    with pytest.raises(ValueError, match="the model gives 2 outputs per picture but 3 class names were given"):
        classify(model, [str(tmp_path / "ramp.png")], pre, ["a", "b", "c"])
