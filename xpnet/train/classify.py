"""Classifying a user's own pictures with a trained model: the library side of `xpnet predict`.

    model = load_model("runs/lenet5-mnist/checkpoint/model.safetensors")
    meta = read_metadata(...)      # its "preprocessing" and "classes" say how to frame and name
    classify(model, ["digit.png"], meta["preprocessing"], meta["classes"])
"""
import numpy as host  # host-side pictures and ranking of the (few) probabilities

from ..backend import asarray, to_numpy
from ..data.images import load_picture
from ..data.loader import prepare_images
from ..layers import Softmax


def classify(model, paths, preprocessing, classes, top=3):
    """One result per picture, in order: {"file", "top": [{"class", "index", "probability"}, ...]} with the
    `top` most likely classes, or {"file", "error"} for a picture that could not be read (missing, not a
    picture, blank); the others are still classified. `preprocessing` is a model file's (model_file.py).
    Without Pillow, ImportError."""
    if preprocessing["channels"] != 1:
        raise ValueError(f"the model takes {preprocessing['channels']}-channel input; pictures are made into "
                         "1-channel (grayscale) input")
    frames, results = [], []
    for path in paths:
        try:
            frames.append(load_picture(path, tuple(preprocessing["image_size"]), preprocessing["fit_box"],
                                       preprocessing["centre"]))
            results.append({"file": str(path)})
        except (OSError, ValueError) as exc:
            results.append({"file": str(path), "error": str(exc)})
    if frames:
        x = prepare_images(host.stack(frames), mean=preprocessing["mean"][0], std=preprocessing["std"][0])
        saved = model.training
        probs = to_numpy(Softmax(dim=1)(model.eval()(asarray(x))))
        model.train(saved)
        if probs.ndim != 2 or probs.shape[1] != len(classes):
            raise ValueError(f"the model gives {probs.shape[1] if probs.ndim == 2 else probs.shape[1:]} outputs per "
                             f"picture but {len(classes)} class names were given: expected one name per output")
        for result, p in zip((r for r in results if "error" not in r), probs):
            best = host.argsort(-p, kind="stable")[:top]
            result["top"] = [{"class": classes[i], "index": int(i), "probability": float(p[i])} for i in best]
    return results
