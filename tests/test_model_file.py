"""Model files: the metadata schema, building a model from the file alone, clear errors, and torch.nn reading it."""
import json
import os

import numpy as np
import pytest
from models_for_tests import tiny_model, weights
from util import assert_rounding_close

import xpnet
from xpnet.data import DataLoader, load, load_dataset, prepare_images
from xpnet.losses import SoftmaxCrossEntropy
from xpnet.models import get_model
from xpnet.optim import Adam
from xpnet.train import (Trainer, describe, load_model, load_weights, read_metadata, save_checkpoint,
                         save_weights)
from xpnet.train.model_file import read


def test_describe_writes_the_documented_strings():
    meta = describe("mlp", {"hidden": (32, 16)}, "fashion-mnist")
    assert all(isinstance(v, str) for v in meta.values())
    assert meta["xpnet_version"] == xpnet.__version__ and meta["model"] == "mlp" and meta["dataset"] == "fashion-mnist"
    assert json.loads(meta["model_kwargs"]) == {"hidden": [32, 16]}
    assert json.loads(meta["classes"])[9] == "Ankle boot"
    assert json.loads(meta["preprocessing"]) == {"image_size": [28, 28], "channels": 1, "mean": [0.2860],
                                                 "std": [0.3530], "fit_box": 28, "centre": "box"}
    assert describe() == {"xpnet_version": xpnet.__version__}


def test_the_file_alone_rebuilds_the_model(tmp_path):
    model = get_model("mlp", hidden=(32, 16))
    save_checkpoint(tmp_path / "ck", model, metadata=describe("mlp", {"hidden": (32, 16)}, "mnist"))
    file = tmp_path / "ck" / "model.safetensors"
    meta = read_metadata(file)
    assert meta["model_kwargs"] == {"hidden": [32, 16]} and meta["classes"] == [str(d) for d in range(10)]
    assert meta["preprocessing"]["mean"] == [0.1307] and meta["preprocessing"]["std"] == [0.3081]
    loaded = load_model(file)
    assert [layer.out_features for layer in loaded if hasattr(layer, "out_features")] == [32, 16, 10]
    assert all(np.array_equal(a, b) for a, b in zip(weights(loaded), weights(model)))
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    x = xpnet.backend.asarray(x)
    np.testing.assert_array_equal(xpnet.backend.to_numpy(loaded(x)), xpnet.backend.to_numpy(model(x)))
    arrays, strings = read(file)
    assert sorted(arrays) == sorted(model.state_dict()) and strings["model"] == "mlp"


def test_a_hand_built_model_saves_without_builder_and_loads_when_named(tmp_path):
    model = tiny_model()
    save_weights(tmp_path / "w.safetensors", model, describe(dataset="mnist"))
    meta = read_metadata(tmp_path / "w.safetensors")
    assert "model" not in meta and meta["dataset"] == "mnist"
    with pytest.raises(ValueError, match=r"w\.safetensors does not say which model it holds .*: name the model"):
        load_model(tmp_path / "w.safetensors")
    fresh = tiny_model()
    assert load_model(tmp_path / "w.safetensors", fresh) is fresh
    assert all(np.array_equal(a, b) for a, b in zip(weights(fresh), weights(model)))
    save_weights(tmp_path / "bare.safetensors", model)
    assert read_metadata(tmp_path / "bare.safetensors") == {}
    assert load_weights(tmp_path / "bare.safetensors", tiny_model()) is not None


def test_other_files_given_for_a_model_file_are_named_for_what_they_are(tmp_path):
    from xpnet.train.checkpoint import TRAINING_FILE
    model, opt = tiny_model(), Adam(tiny_model().parameters())
    for p in opt.param_groups[0]["params"]:
        p.grad = p.data * 0 + 1
    opt.step()
    save_checkpoint(tmp_path / "ck", model, opt)
    with pytest.raises(ValueError, match=rf"{TRAINING_FILE}: holds a checkpoint's training state .*not a model's "
                                         r"weights: pass the run folder"):
        load_weights(tmp_path / "ck" / TRAINING_FILE, model)
    (tmp_path / "lenet5.onnx").write_bytes(b"\x08\x08\x12\x05xpnet" + bytes(100))
    with pytest.raises(ValueError, match=r"lenet5\.onnx: not a safetensors file: it starts as an ONNX model"):
        load_model(tmp_path / "lenet5.onnx")


def test_a_pipe_given_as_a_model_file_is_refused_without_waiting_on_it(tmp_path):
    os.mkfifo(tmp_path / "model.safetensors")  # opening it to read would wait for a writer for ever
    for reader in (read_metadata, read, load_model):
        with pytest.raises(ValueError, match=r"model\.safetensors is not a regular file \(a pipe or device\?\)"):
            reader(tmp_path / "model.safetensors")


def test_metadata_must_be_strings_and_valid_json(tmp_path):
    with pytest.raises(TypeError, match=r"metadata must map strings to strings; not so for \{'epoch': 'int'\}"):
        save_weights(tmp_path / "w.safetensors", tiny_model(), {"epoch": 3})
    assert not (tmp_path / "w.safetensors").exists()
    save_weights(tmp_path / "w.safetensors", tiny_model(), {"classes": "[1, 2"})
    with pytest.raises(ValueError, match=r"w\.safetensors: metadata 'classes' is not valid JSON"):
        read_metadata(tmp_path / "w.safetensors")


@pytest.mark.parametrize("content,expected", [
    (None, r"missing\.safetensors does not exist \(expected a \.safetensors file\)"),
    (b"", r"0 bytes, too short for a safetensors file \(expected a safetensors file: an 8-byte header length"),
    (b"\x89PNG\r\n\x1a\n" + bytes(100), "not a safetensors file: it starts as a PNG picture does"),
    (b'{"model": "lenet5"}', "not a safetensors file: it starts as JSON text does"),
    (b"\x01\xff\xff" + bytes(100), "truncated or not a safetensors file: it announces a 16,776,961-byte header but 95"),
    ((20).to_bytes(8, "little") + b"[1, 2, 3]" + bytes(11), "not a safetensors file: its header is not a JSON object"),
])
def test_unreadable_files_are_named(tmp_path, content, expected):
    file = tmp_path / "missing.safetensors"
    if content is not None:
        file.write_bytes(content)
    for reader in (read_metadata, read, load_model):
        with pytest.raises((ValueError, FileNotFoundError), match=expected):
            reader(file)


def test_torch_nn_loads_a_trained_checkpoint_and_predicts_the_same(tiny_mnist, tmp_path, torch):
    """The README's PyTorch snippet: weights from the file, preprocessing from its metadata."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    model = get_model("lenet5")
    x, y = load("mnist", "train", root=tiny_mnist)
    trainer = Trainer(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=3e-3))
    history = trainer.fit(DataLoader(x, y, 16, seed=0), epochs=2, out_dir=tmp_path / "run", verbose=False,
                          metadata=describe("lenet5", {}, "mnist"))
    assert history.train_acc[-1] > 0.2  # trained, not just initialised
    file = tmp_path / "run" / "checkpoint" / "model.safetensors"
    images, _ = load_dataset("mnist", "test", root=tiny_mnist)

    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                        nn.Linear(84, 10))
    net.load_state_dict(load_file(file))
    with safe_open(file, "pt") as f:
        meta = f.metadata()
    pre = json.loads(meta["preprocessing"])
    mean, std = torch.tensor(pre["mean"]).view(-1, 1, 1), torch.tensor(pre["std"]).view(-1, 1, 1)
    x = (torch.from_numpy(images).unsqueeze(1).float() / 255 - mean) / std
    with torch.no_grad():
        theirs = net.eval()(x).numpy()

    x = xpnet.backend.asarray(prepare_images(images, dataset="mnist"))
    ours = xpnet.backend.to_numpy(load_model(file).eval()(x))
    assert_rounding_close(ours, theirs, np.float32, k=400, depth=5, what="LeNet-5 logits")  # Linear(400, 120)
    assert (ours.argmax(axis=1) == theirs.argmax(axis=1)).all()
    assert json.loads(meta["classes"]) == [str(d) for d in range(10)] and meta["model"] == "lenet5"


@pytest.mark.parametrize("key,dtype,expected", [
    ("1.weight", np.int32, "expected float32 values, got I32"),
    ("2.num_batches_tracked", np.float32, "expected int64 values, got F32"),
])
def test_integer_and_floating_point_tensors_are_not_swapped(key, dtype, expected, tmp_path):
    """A file whose tensor is integer where the model's is floating point, or the reverse, is refused by name
    before its data is read."""
    from xpnet.layers import BatchNorm1D, Dense, Flatten, Sequential
    from xpnet.train.model_file import ModelFileError, to_bytes
    model = Sequential(Flatten(), Dense(4, 3), BatchNorm1D(3))
    state = model.state_dict()
    state[key] = state[key].astype(dtype)
    (tmp_path / "w.safetensors").write_bytes(to_bytes(state))
    with pytest.raises(ModelFileError, match=f"{key}: {expected}"):
        load_weights(tmp_path / "w.safetensors", model)


@pytest.mark.parametrize("key,value", [("1.weight", np.nan), ("1.bias", np.inf), ("2.running_var", -np.inf)])
def test_weights_must_be_finite(key, value, tmp_path):
    """NaN or infinity in a weight or buffer would make every prediction NaN: the file is refused by name."""
    from xpnet.layers import BatchNorm1D, Dense, Flatten, Sequential
    from xpnet.train.model_file import ModelFileError, to_bytes
    model = Sequential(Flatten(), Dense(4, 3), BatchNorm1D(3))
    state = model.state_dict()
    state[key] = state[key].copy()
    state[key].flat[1] = value
    (tmp_path / "w.safetensors").write_bytes(to_bytes(state, describe(None, None, "mnist")))
    for load in (load_weights, load_model):
        with pytest.raises(ModelFileError, match=f"w.safetensors: tensor '{key}' holds NaN or infinite values"):
            load(tmp_path / "w.safetensors", model)
    assert np.isfinite(model.state_dict()[key]).all()  # the model is left as it was


def test_loading_a_model_reads_its_header_once(tmp_path, monkeypatch):
    """load_model and the commands' open_model read and check a model file's header (up to 16 MiB of JSON
    from a stranger) once, not once per step."""
    import argparse

    from xpnet.cli.checkpoint import open_model
    from xpnet.train import model_file
    save_checkpoint(tmp_path / "ck", get_model("mlp", hidden=(8,)), metadata=describe("mlp", {"hidden": (8,)}))
    file = tmp_path / "ck" / "model.safetensors"
    calls, real = [], model_file.read_header
    monkeypatch.setattr(model_file, "read_header", lambda f: calls.append(f) or real(f))
    load_model(file)
    assert len(calls) == 1
    with pytest.raises(ValueError, match="pass one of sha256 and header"):  # a header read before the checksum
        read(file, sha256="0" * 64, header=real(file))
    model, meta, _ = open_model(argparse.Namespace(checkpoint=str(tmp_path / "ck"), model=None, dataset=None))
    assert len(calls) == 2 and meta["model"] == "mlp" and model[1].out_features == 8
