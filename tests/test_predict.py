"""`xpnet predict`: top classes per picture, JSON for scripts, bad pictures reported without stopping the rest,
and MNIST test digits saved as a user would (PNG, other sizes, black on white) recognised by a trained LeNet-5."""
import json

import numpy as np
import pytest

import xpnet
from xpnet.cli import main
from xpnet.data import DataLoader, load_dataset, prepare_images
from xpnet.losses import SoftmaxCrossEntropy
from xpnet.models import get_model
from xpnet.optim import Adam
from xpnet.data.images import load_picture
from xpnet.train import Trainer, classify, describe, load_model, read_metadata, save_weights

Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed")


def picture(path, digit, size=28, black_on_white=False):
    """Write MNIST-style digit `digit` (uint8 28x28, light on black) as a PNG or JPEG of `size` x `size`."""
    image = Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR)
    if black_on_white:
        image = Image.fromarray(255 - np.asarray(image))
    image.save(path)
    return str(path)


@pytest.fixture
def untrained(tmp_path):
    """A model file of an untrained simple_cnn that names its model and data set."""
    file = tmp_path / "model.safetensors"
    save_weights(file, get_model("simple_cnn"), describe("simple_cnn", {}, "fashion-mnist"))
    return str(file)


def band(row):
    """A 28x28 light-on-black picture with one bright bar."""
    digit = np.zeros((28, 28), np.uint8)
    digit[row:row + 3, 6:22] = 255
    return digit


def test_one_line_per_picture_and_bad_ones_reported_without_stopping(untrained, tmp_path, capsys):
    good = [picture(tmp_path / "a.png", band(5)), picture(tmp_path / "b.jpg", band(15), size=50)]
    (tmp_path / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    given = [good[0], str(tmp_path / "missing.png"), str(tmp_path / "junk.png"), good[1]]
    assert main(["predict", "--checkpoint", untrained, *given, "--backend", "cpu"]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert [line.split(": ")[0] for line in lines] == good
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    for line in lines:
        top = line.split(": ", 1)[1].split(", ")
        assert len(top) == 3 and all(entry.rsplit(" (", 1)[0] in names and entry.endswith("%)") for entry in top)
    errors = captured.err.splitlines()
    assert len(errors) == 2
    assert errors[0].startswith(f"xpnet predict: error: {tmp_path / 'missing.png'}: no such file")
    assert errors[1].startswith(f"xpnet predict: error: {tmp_path / 'junk.png'}: not a picture xpnet reads")



@pytest.mark.parametrize("variable, value", [("XPNET_NUM_THREADS", "abc"), ("XPNET_CONV_ALGO", "garbage")])
def test_a_bad_setting_is_reported_as_itself_not_blamed_on_the_model_file(untrained, tmp_path, monkeypatch, capsys,
                                                                          variable, value):
    from xpnet.backend import threads
    monkeypatch.setattr(threads, "THREADS", None)  # XPNET_NUM_THREADS is read again on first use
    monkeypatch.setenv(variable, value)
    assert main(["predict", "--checkpoint", untrained, picture(tmp_path / "a.png", band(5)), "--backend", "cpu"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"xpnet predict: error: {variable} must be ") and f"got '{value}'" in err, err
    assert untrained not in err and len(err.splitlines()) == 1

def test_json_output_and_top(untrained, tmp_path, capsys):
    good = picture(tmp_path / "a.png", band(9))
    assert main(["predict", "--checkpoint", untrained, good, good, "--json", "--top", "4"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["file"] for r in result] == [good, good] and result[0] == result[1]
    top = result[0]["top"]
    assert [sorted(entry) for entry in top] == [["class", "index", "probability"]] * 4
    probabilities = [entry["probability"] for entry in top]
    assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1 + 1e-6
    names = json.loads(describe(dataset="fashion-mnist")["classes"])
    assert all(entry["class"] == names[entry["index"]] for entry in top)
    assert main(["predict", "--checkpoint", untrained, str(tmp_path / "none.png"), "--json"]) == 1
    error = json.loads(capsys.readouterr().out)[0]["error"]
    assert error.endswith("no such file (expected a PNG, JPEG, TIFF, BMP, GIF or WebP file)")


def test_probabilities_are_the_models_on_the_framed_standardised_picture(untrained, tmp_path):
    path = picture(tmp_path / "a.png", band(7), size=40, black_on_white=True)
    meta = read_metadata(untrained)
    model = load_model(untrained)
    [result] = classify(model, [path], meta["preprocessing"], meta["classes"], top=10)
    framed = load_picture(path, (28, 28), fit_box=28, centre="box")  # Fashion-MNIST's framing, from the file
    x = (framed.astype(np.float32) / 255 - 0.2860) / 0.3530           # and its statistics
    logits = xpnet.backend.to_numpy(model.eval()(xpnet.backend.asarray(x[None, None])))[0].astype(np.float64)
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    assert [entry["index"] for entry in result["top"]] == list(np.argsort(-expected))
    np.testing.assert_allclose([entry["probability"] for entry in result["top"]], np.sort(expected)[::-1], rtol=1e-5)


@pytest.fixture(scope="module")
def mnist_model(data_root, tmp_path_factory):
    """A LeNet-5 trained for two epochs on 8,000 real MNIST digits (about 96% test accuracy), with the test set."""
    xpnet.backend.seed(0)
    images, labels = load_dataset("mnist", "train", root=data_root)
    model = get_model("lenet5")
    trainer = Trainer(model, SoftmaxCrossEntropy(), Adam(model.parameters(), lr=3e-3))
    trainer.fit(DataLoader(prepare_images(images[:8000]), labels[:8000], 64, seed=0), epochs=2, verbose=False)
    file = tmp_path_factory.mktemp("run") / "lenet5.safetensors"
    save_weights(file, model, describe("lenet5", {}, "mnist"))
    return file, trainer, load_dataset("mnist", "test", root=data_root)


def test_predict_names_mnist_test_digits_saved_as_pictures(mnist_model, tmp_path, capsys):
    file, trainer, (images, labels) = mnist_model
    logits = trainer.predict(prepare_images(images[:300]))
    others = np.where(np.eye(10, dtype=bool)[labels[:300]], -np.inf, logits).max(axis=1)
    margin = logits[np.arange(300), labels[:300]] - others
    # per class the test digit the model is surest of as the data set has it: the pictures test the framing
    chosen = [int(np.argmax(np.where(labels[:300] == digit, margin, -np.inf))) for digit in range(10)]
    paths = [picture(tmp_path / f"white{i}.png", images[i]) for i in chosen]
    paths += [picture(tmp_path / f"black{i}.png", images[i], size=56, black_on_white=True) for i in chosen]
    assert main(["predict", "--checkpoint", str(file), *paths, "--json"]) == 0
    named = [int(r["top"][0]["class"]) for r in json.loads(capsys.readouterr().out)]
    assert named == [int(labels[i]) for i in chosen] * 2


def test_eval_reports_the_accuracy_from_the_model_file_alone(mnist_model, data_root, capsys):
    file, trainer, (images, labels) = mnist_model
    accuracy = trainer.evaluate(DataLoader(prepare_images(images), labels, 1000, shuffle=False))["accuracy"]
    assert accuracy > 0.9
    assert main(["eval", "--checkpoint", str(file), "--data", data_root]) == 0
    assert capsys.readouterr().out.strip().endswith(f"accuracy {accuracy:.2%} (10000 images)")
