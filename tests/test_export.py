"""ONNX export: every built-in model and every layer configuration of the parity catalogue, exported, checked by
onnx.checker and run under ONNX Runtime to xpnet's own eval-mode output; the file's metadata; clear errors."""
import json
import os
import sys

import numpy as np
import pytest

import xpnet
from xpnet import layers as L
from xpnet.backend import asarray, to_numpy
from xpnet.models import MODELS, get_model
from xpnet.parity.cases import layer_cases, model_cases
from xpnet.parity.compare import compare_arrays, tolerance
from xpnet.parity.reduction import leaf_shapes, longest_reduction

onnx = pytest.importorskip("onnx", reason="onnx is not installed (pip install \"xpnet[onnx]\"): export tests skipped")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install \"xpnet[onnx]\"): "
                                                "export tests skipped")
from xpnet.export import DEFAULT_OPSET, MIN_OPSET, save, to_onnx  # noqa: E402  (after the skips above)

CASES = [c for c in layer_cases() + model_cases() if c.setup is not None]
NEWEST_OPSET = onnx.defs.onnx_opset_version()


def run_onnx(proto, x):
    """ONNX Runtime's output of model `proto` on host array `x` (as float32). An ONNX Runtime older than the
    onnx package cannot load the newest opset's IR version: skipped, except in CI, which pins a pair that can."""
    try:
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as exc:
        if "Unsupported model IR version" not in str(exc) or os.environ.get("CI") == "true":
            raise
        said = str(exc)
        pytest.skip(f"onnxruntime {ort.__version__} is older than onnx {onnx.__version__}: "
                    f"{said[said.index('Unsupported'):].splitlines()[0]}")
    return session.run(None, {"input": np.asarray(x, np.float32)})[0]


def eval_output(model, x):
    return to_numpy(model.eval()(asarray(np.asarray(x, np.float32))))


def export_tolerance(model, shape, k=None):
    """The float32 rtol of ONNX Runtime against xpnet: both round every sum of up to k terms (the longest
    reduction) and the error carries through each layer of the chain, as parity's float32 tolerance."""
    k = k or longest_reduction(model, shape)
    layers, _ = leaf_shapes(model, shape)
    return tolerance("float32", k, depth=len(layers))


def assert_runtime_matches(name, model, x, k=None, opset=DEFAULT_OPSET):
    """Export `model` for a batch of one, check the file, run it on the whole batch `x` (the batch axis is free)."""
    mode = model.training
    proto = to_onnx(model, (1, *x.shape[1:]), opset=opset)
    assert model.training == mode, "to_onnx must leave the model in the mode it was in"
    onnx.checker.check_model(proto, full_check=True)
    got = run_onnx(proto, x)
    want = eval_output(model, x)
    row = compare_arrays(name, "output", got, want, export_tolerance(model, x.shape, k))
    assert row.passed, row
    return proto


@pytest.mark.parametrize("opset", [DEFAULT_OPSET, NEWEST_OPSET])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_every_parity_layer_case_runs_the_same_under_onnx_runtime(case, opset):
    xpnet.backend.seed(case.seed)
    model, x = case.setup(np.random.default_rng(case.seed + 1))
    assert_runtime_matches(case.name, model, x, case.k, opset)


@pytest.mark.parametrize("name", MODELS)
def test_every_built_in_model_runs_the_same_under_onnx_runtime(name, rng):
    model = get_model(name)
    model.train()
    for _ in range(2):  # move batch-norm statistics off their initial values
        model(asarray(rng.standard_normal((8, 1, 28, 28)), "float32"))
    proto = assert_runtime_matches(name, model, rng.standard_normal((5, 1, 28, 28)))
    assert {i.name for i in proto.graph.initializer} >= set(model.state_dict()) - {
        k for k in model.state_dict() if k.endswith("num_batches_tracked")}


def test_a_fused_model_exports_without_its_batch_norms(rng):
    model = get_model("fashion_cnn")
    for _ in range(2):  # move batch-norm statistics off their initial values
        model(asarray(rng.standard_normal((8, 1, 28, 28)), "float32"))
    fused = L.fuse(model)
    proto = assert_runtime_matches("fashion_cnn fused", fused, rng.standard_normal((3, 1, 28, 28)))
    assert "BatchNormalization" not in {node.op_type for node in proto.graph.node}
    x = rng.standard_normal((2, 1, 28, 28))  # and it computes what the model with its batch norms does
    row = compare_arrays("fashion_cnn", "fused output", run_onnx(proto, x), eval_output(model, x),
                         export_tolerance(model, x.shape))
    assert row.passed, row



def test_the_file_describes_itself(tmp_path):
    meta = xpnet.train.describe("lenet5", {}, "mnist")
    proto = to_onnx(get_model("lenet5"), (1, 1, 28, 28), metadata=meta)
    path = save(proto, tmp_path / "out" / "lenet5.onnx")
    assert os.listdir(tmp_path / "out") == ["lenet5.onnx"]  # written atomically: no temporary file left
    loaded = onnx.load(path)
    props = {p.key: p.value for p in loaded.metadata_props}
    assert props == meta and '"mean": [0.1307]' in props["preprocessing"]
    assert (loaded.producer_name, loaded.producer_version) == ("xpnet", xpnet.__version__)
    assert loaded.opset_import[0].version == DEFAULT_OPSET
    dims = [d.dim_param or d.dim_value for d in loaded.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 1, 28, 28]
    out = [d.dim_param or d.dim_value for d in loaded.graph.output[0].type.tensor_type.shape.dim]
    assert out == ["batch", 10]


def test_non_default_flatten_keeps_the_batch_free(rng):
    model = L.Sequential(L.Flatten(2), L.Softmax(-1))
    x = rng.standard_normal((4, 3, 2, 5))
    assert_runtime_matches("Flatten(2)", model, x)


def test_batch_norm_without_running_statistics_normalises_by_the_batch(rng):
    model = L.Sequential(L.Conv2D(2, 3, 3), L.BatchNorm2D(3, track_running_stats=False), L.Flatten(),
                         L.BatchNorm1D(27, track_running_stats=False, affine=False))
    model[1].weight.data[...] = asarray(rng.uniform(0.5, 2, 3), "float32")
    assert_runtime_matches("batch statistics", model, rng.standard_normal((6, 2, 5, 5)))


class Swish(L.Layer):
    def forward(self, x):
        return x / (1 + xpnet.backend.xp.exp(-x))


class ShiftedReLU(L.ReLU):
    def _forward(self, x):
        return super()._forward(x - 1)


@pytest.mark.parametrize("layer,name", [(Swish(), "Swish"), (ShiftedReLU(), "ShiftedReLU")])
def test_a_layer_without_an_export_is_named(layer, name):
    model = L.Sequential(L.Dense(4, 4), layer)
    with pytest.raises(ValueError, match=f"^{name} cannot be exported to ONNX: it has no export_onnx"):
        to_onnx(model, (1, 4))
    assert model.training


@pytest.mark.parametrize("kwargs,match", [
    (dict(input_shape=(1, 0, 28, 28)), "input_shape must be"),
    (dict(input_shape=28), "input_shape must be"),
    (dict(input_shape=(1, 1, 28, 28), opset=MIN_OPSET - 1), "opset must be an int from 17"),
    (dict(input_shape=(1, 1, 28, 28), opset=NEWEST_OPSET + 1), "opset must be an int from 17"),
    (dict(input_shape=(1, 3, 28, 28)), "Conv2D expects 1 channels"),
])
def test_bad_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        to_onnx(get_model("lenet5"), **kwargs)


@pytest.mark.parametrize("name", MODELS)
def test_export_command_on_a_run_folder_and_a_bare_model_file(name, tiny_mnist, tmp_path, capsys):
    from xpnet.cli import main
    from xpnet.train import load_model, read_metadata
    run = tmp_path / "run"
    assert main(["train", "--model", name, "--epochs", "1", "--out", str(run), "--data", str(tiny_mnist),
                 "--batch-size", "16", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["export", "--checkpoint", str(run)]) == 0
    out = capsys.readouterr().out
    written = run / "checkpoint" / "model.onnx"
    assert f"wrote {written} ({name}, opset {DEFAULT_OPSET}, input (batch, 1, 28, 28)" in out
    assert "largest difference from xpnet" in out

    alone = tmp_path / "elsewhere" / "mine.safetensors"
    alone.parent.mkdir()
    alone.write_bytes((run / "checkpoint" / "model.safetensors").read_bytes())
    assert main(["export", "--checkpoint", str(alone), "--out", str(tmp_path / "m.onnx"), "--opset", "21"]) == 0
    proto = onnx.load(tmp_path / "m.onnx")
    assert proto.opset_import[0].version == 21
    props = {p.key: p.value for p in proto.metadata_props}
    meta = read_metadata(alone)
    assert props["model"] == name and props["dataset"] == "mnist" and props["classes"] == json.dumps(meta["classes"])
    model = load_model(alone)
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28))
    row = compare_arrays(name, "output", run_onnx(proto, x), eval_output(model, x),
                         export_tolerance(model, x.shape))
    assert row.passed, row


def test_export_command_without_onnx_says_what_to_install(tiny_mnist, tmp_path, monkeypatch, capsys):
    from xpnet.cli import main
    model = tmp_path / "m.safetensors"
    xpnet.train.save_weights(model, get_model("lenet5"), xpnet.train.describe("lenet5", {}, "mnist"))
    for module in [m for m in sys.modules if m == "onnx" or m.startswith(("onnx.", "xpnet.export"))]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    assert main(["export", "--checkpoint", str(model)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("xpnet export: error: exporting to ONNX needs the onnx extra: pip install \"xpnet[onnx]\"")
    assert not (tmp_path / "m.onnx").exists()


def test_export_command_errors_are_one_line(tmp_path, capsys):
    from xpnet.cli import main
    assert main(["export", "--checkpoint", str(tmp_path / "nothing")]) == 1
    assert "xpnet export: error:" in capsys.readouterr().err


def test_exported_trained_lenet5_has_the_same_mnist_test_accuracy_under_onnx_runtime(data_root, tmp_path, capsys):
    """A short LeNet-5 training (6,000 images, one epoch), `xpnet eval` on its model file, and the exported
    file under ONNX Runtime on all 10,000 test digits: the same predictions but where the two top logits
    lie within the comparison's tolerance of each other, so the same accuracy."""
    from xpnet.cli import main
    from xpnet.data import DataLoader, load_dataset, prepare_images
    from xpnet.losses import SoftmaxCrossEntropy
    from xpnet.optim import Adam
    from xpnet.train import Trainer, describe, save_weights

    images, labels = load_dataset("mnist", "train", root=data_root, download=False, progress=False)
    model = get_model("lenet5")
    Trainer(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=2e-3)).fit(
        DataLoader(prepare_images(images[:6000]), labels[:6000], batch_size=50, shuffle=True, seed=0),
        epochs=1, verbose=False)
    file = tmp_path / "lenet5.safetensors"
    save_weights(file, model, describe("lenet5", {}, "mnist"))
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(file), "--data", data_root]) == 0
    said = capsys.readouterr().out
    assert main(["export", "--checkpoint", str(file)]) == 0
    proto = onnx.load(tmp_path / "lenet5.onnx")

    props = {p.key: p.value for p in proto.metadata_props}
    pre = json.loads(props["preprocessing"])
    test_images, test_labels = load_dataset("mnist", "test", root=data_root, download=False, progress=False)
    x = prepare_images(test_images, mean=pre["mean"][0], std=pre["std"][0])
    got, want = run_onnx(proto, x), eval_output(model, x)
    ours, theirs = got.argmax(1), want.argmax(1)
    top2 = np.sort(want, axis=1)[:, -2:]
    rtol = export_tolerance(model, x[:1].shape)
    near_tie = (top2[:, 1] - top2[:, 0]) <= 2 * rtol * (np.abs(top2[:, 1]) + np.sqrt(np.mean(want ** 2)))
    assert np.all((ours == theirs) | near_tie)
    accuracy = float(np.mean(ours == test_labels))
    assert accuracy > 0.85
    assert abs(accuracy - float(np.mean(theirs == test_labels))) <= near_tie.sum() / len(x)
    assert f"accuracy {float(np.mean(theirs == test_labels)):.2%} (10000 images)" in said
    if not near_tie.any():
        assert f"accuracy {accuracy:.2%} (10000 images)" in said
    print(f"xpnet eval: {said.strip()}; ONNX Runtime: accuracy {accuracy:.2%}, {near_tie.sum()} near ties, "
          f"{int(np.sum(ours != theirs))} predictions differ")
