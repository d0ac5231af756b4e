"""A model file's metadata read as a stranger's: every key checked before xpnet acts on it.

The metadata (model_file.py lists the keys) decides what model is built, how big, how pictures are
made into its input and what its outputs are called. A file from anywhere may hold anything there,
so each key has a schema (type, range, length), the builder's keyword arguments are checked against
a table of what each built-in builder takes, the number of parameters the model will have is counted
from them before anything is built (and must not exceed the numbers the file holds), so is the work of
its convolutions on one picture (small weights can still ask for huge images and wide layers), and the keys are
checked against each other (class names one per output, preprocessing channels = model input
channels, image size = what the model takes). Every failure is a ModelFileError naming the source
and the key, showing the offending value shortened and escaped.
"""
import inspect
import json
import math
import re

import numpy as host  # host-side scan of JSON text

from ..data.datasets import DATASETS
from ..errors import ModelFileError, is_int, shown
from ..models import MODELS, get_activation
from ..models.activations import OPTIONS

MAX_VALUE_CHARS = 1 << 20   # one metadata string (a class list of 10,000 names fits easily)
MAX_JSON_DEPTH = 8          # nesting of a JSON value; the deepest legitimate one (preprocessing) is 2
MAX_CLASSES = 10_000
MAX_CLASS_CHARS = 64
MAX_IMAGE_SIDE = 1024       # pixels per side of the model's input
MAX_CHANNELS = 16
MAX_LAYERS = 64             # hidden layers of the fully connected builders
MAX_WIDTH = 1 << 16         # units or channels of one layer
MAX_PARAMETERS = 1 << 28    # about 1 GiB of float32 weights
MAX_MEAN, MIN_STD = 1e3, 1e-6  # preprocessing's per-channel mean and standard deviation (of pixels in [0, 1])
MAX_IMAGE_VALUES = 1 << 25  # convolution outputs per picture: with the layers between them, about 0.4 GiB of float32
MAX_IMAGE_MACS = 1 << 34    # the convolutions' multiply-adds per picture: about a second on two cores
KNOWN_KEYS = ("xpnet_version", "model", "model_kwargs", "dataset", "classes", "preprocessing")
JSON_KEYS = ("model_kwargs", "classes", "preprocessing")


class _Where:
    """Where a value came from, for messages: "<source>: metadata 'key'"."""

    def __init__(self, source, key):
        self.source, self.key = source, key

    def fail(self, expected, got):
        return ModelFileError(f"{self.source}: {self.key} {shown(got)} (from the file): expected {expected}")


# -- value checkers: (value, where) -> value, or ModelFileError ---------------------------------------
def _int(low, high):
    def check(v, where):
        if not is_int(v) or not low <= v <= high:
            raise where.fail(f"an integer from {low} to {high}", v)
        return v
    return check


def _ints(low, high, longest, shortest=1):
    def check(v, where):
        if (not isinstance(v, list) or not shortest <= len(v) <= longest
                or not all(is_int(x) and low <= x <= high for x in v)):
            raise where.fail(f"a list of {shortest} to {longest} integers from {low} to {high}", v)
        return v
    return check


def _fraction(v, where):
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v < 1:
        raise where.fail("a number in [0, 1)", v)
    return float(v)


def _choice(*values):
    def check(v, where):
        if v not in values or isinstance(v, bool):
            raise where.fail(f"one of {', '.join(map(repr, values))}", v)
        return v
    return check


def _activation(v, where):
    if not isinstance(v, str) or len(v) > 40:
        raise where.fail("an activation name such as 'relu' or 'leaky_relu:0.01'", v)
    name, colon, option = v.partition(":")
    if colon and name in OPTIONS and OPTIONS[name][1] is float:
        try:
            finite = math.isfinite(float(option))
        except ValueError:
            finite = False
        if not finite:
            raise where.fail(f"a finite {OPTIONS[name][0]} after '{name}:'", v)
    try:
        get_activation(v)
    except (ValueError, TypeError) as exc:
        raise where.fail(f"an activation xpnet knows ({exc})", v) from None
    return v


_CHANNELS, _CLASSES = _int(1, MAX_CHANNELS), _int(1, MAX_CLASSES)
_SIDE, _WIDTH = _int(1, MAX_IMAGE_SIDE), _int(1, MAX_WIDTH)

# What each built-in builder takes: keyword -> checker. tests/test_metadata.py checks that the keys are
# exactly each builder's parameters.
BUILDERS = {
    "lenet5": {"in_channels": _CHANNELS, "num_classes": _CLASSES, "activation": _activation},
    "mlp": {"hidden": _ints(1, MAX_WIDTH, MAX_LAYERS, 0), "in_features": _int(1, MAX_IMAGE_SIDE ** 2 * MAX_CHANNELS),
            "num_classes": _CLASSES, "activation": _activation},
    "fc_net": {"hidden": _ints(1, MAX_WIDTH, MAX_LAYERS, 0), "norm": _choice(None, "batch", "layer"),
               "dropout": _fraction, "in_features": _int(1, MAX_IMAGE_SIDE ** 2 * MAX_CHANNELS),
               "num_classes": _CLASSES, "activation": _activation},
    "simple_cnn": {"channels": _WIDTH, "in_channels": _CHANNELS, "num_classes": _CLASSES, "image_size": _SIDE,
                   "activation": _activation},
    "fashion_cnn": {"widths": _ints(1, MAX_WIDTH, 8), "hidden": _WIDTH, "dropout": _fraction,
                    "in_channels": _CHANNELS, "num_classes": _CLASSES, "image_size": _SIDE,
                    "activation": _activation},
}


def _dense(n_in, n_out):
    return n_in * n_out + n_out


def _fc_parameters(a):
    widths = [a["in_features"], *a["hidden"], a["num_classes"]]
    norm = 2 * sum(a["hidden"]) if a.get("norm") else 0
    return sum(_dense(i, o) for i, o in zip(widths, widths[1:])) + norm


def _fashion_parameters(a):
    total, channels, side = 0, a["in_channels"], a["image_size"]
    for width in a["widths"]:
        total += 9 * channels * width + 9 * width * width + 4 * width
        channels, side = width, side // 2
    if side < 1:
        raise ValueError(f"image_size {a['image_size']} is too small for {len(a['widths'])} pooling stages")
    return total + _dense(channels * side * side, a["hidden"]) + _dense(a["hidden"], a["num_classes"])


def _simple_parameters(a):
    side = a["image_size"] // 2
    if side < 1:
        raise ValueError(f"image_size {a['image_size']} is too small for its 2x2 pooling")
    return 9 * a["in_channels"] * a["channels"] + a["channels"] + _dense(a["channels"] * side * side, a["num_classes"])


def _simple_work(a):
    pixels = a["image_size"] ** 2
    return a["channels"] * pixels, 9 * a["in_channels"] * a["channels"] * pixels


def _fashion_work(a):
    values = macs = 0
    channels, side = a["in_channels"], a["image_size"]
    for width in a["widths"]:  # two 3x3 convolutions at each stage's size, the first from `channels`
        values += 2 * width * side * side
        macs += 9 * (channels + width) * width * side * side
        channels, side = width, side // 2
    return values, macs


# builder -> (values its convolutions output, their multiply-adds) for one picture. lenet5 is fixed at 28x28,
# and the dense builders' work is their parameters'.
CONVOLUTION_WORK = {"simple_cnn": _simple_work, "fashion_cnn": _fashion_work}

PARAMETERS = {  # builder -> the number of parameters it makes from its (complete) keyword arguments
    "lenet5": lambda a: 150 * a["in_channels"] + 6 + 2416 + _dense(400, 120) + _dense(120, 84)
                        + _dense(84, a["num_classes"]),
    "mlp": _fc_parameters,
    "fc_net": _fc_parameters,
    "simple_cnn": _simple_parameters,
    "fashion_cnn": _fashion_parameters,
}


def model_arguments(name, kwargs, source="model", limit=MAX_PARAMETERS):
    """The complete keyword arguments (defaults filled in) of builder `name` given `kwargs` from `source`
    (a file or run folder), after checking every one, and that the model they make has at most `limit`
    parameters. ModelFileError otherwise, naming the source and the key."""
    if not isinstance(name, str) or name not in MODELS:
        raise _Where(source, "model").fail(f"a model xpnet builds: one of {', '.join(MODELS)}", name)
    where = _Where(source, "model_kwargs")
    if not isinstance(kwargs, dict):
        raise where.fail(f"a JSON object of {name}'s keyword arguments", kwargs)
    schema = BUILDERS.get(name, {})
    unknown = [k for k in kwargs if k not in schema]
    if unknown:
        raise ModelFileError(f"{source}: model_kwargs: {name} takes no argument {shown(unknown[0])} (from the file); "
                             f"it takes {', '.join(schema) or 'none'}")
    args = {k: p.default for k, p in inspect.signature(MODELS[name]).parameters.items()
            if p.default is not inspect.Parameter.empty}
    for key, value in kwargs.items():
        args[key] = schema[key](value, _Where(source, f"model_kwargs {key!r}"))
    args = {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}
    try:
        count = PARAMETERS[name](args) if name in PARAMETERS else 0
    except ValueError as exc:
        raise ModelFileError(f"{source}: model_kwargs: {exc}") from None
    if count > limit:
        raise ModelFileError(f"{source}: model_kwargs {shown(kwargs)} (from the file) make a {name} with {count:,} "
                             f"parameters; at most {limit:,} can be built from this file")
    values, macs = CONVOLUTION_WORK[name](args) if name in CONVOLUTION_WORK else (0, 0)
    if values > MAX_IMAGE_VALUES or macs > MAX_IMAGE_MACS:
        raise ModelFileError(f"{source}: model_kwargs {shown(kwargs)} (from the file) make a {name} whose "
                             f"convolutions output {values:,} values and take {macs:,} multiply-adds per picture; "
                             f"at most {MAX_IMAGE_VALUES:,} and {MAX_IMAGE_MACS:,} are run")
    return args


def _json_depth(text):
    """The deepest nesting of brackets in JSON `text`, strings left out."""
    codes = host.frombuffer(_STRING.sub("", text).encode(), dtype=host.uint8)
    steps = host.isin(codes, (91, 123)).astype(host.int64) - host.isin(codes, (93, 125))
    return int(host.cumsum(steps).max(initial=0))


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)  # unrolled: no backtracking stack per character


def parse_json(text, where, limit=MAX_VALUE_CHARS, depth=MAX_JSON_DEPTH):
    """JSON `text` decoded, after checking its length and nesting (Python's parser recurses)."""
    if len(text) > limit:
        raise ModelFileError(f"{where.source}: {where.key} is {len(text):,} characters long; expected at most "
                             f"{limit:,}")
    if _json_depth(text) > depth:
        raise ModelFileError(f"{where.source}: {where.key} is JSON nested more than {depth} levels deep")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{where.source}: metadata {where.key!r} is not valid JSON ({shown(str(exc))})") from None


def _class_names(v, where):
    if (not isinstance(v, list) or not 1 <= len(v) <= MAX_CLASSES
            or not all(isinstance(c, str) and 1 <= len(c) <= MAX_CLASS_CHARS and c.isprintable() for c in v)):
        bad = next((c for c in v if not (isinstance(c, str) and 1 <= len(c) <= MAX_CLASS_CHARS
                                         and c.isprintable())), v) if isinstance(v, list) else v
        raise where.fail(f"a list of 1 to {MAX_CLASSES} class names, each 1 to {MAX_CLASS_CHARS} printable "
                         "characters; not so for", bad)
    return v


def _numbers(v, where, count, low, high):
    if (not isinstance(v, list) or len(v) != count
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and low <= x <= high for x in v)):
        raise where.fail(f"a list of {count} numbers from {low:g} to {high:g} (one per channel)", v)
    return [float(x) for x in v]


def preprocessing(v, source):
    """The `preprocessing` entry checked (model_file.py says what it means)."""
    where = _Where(source, "preprocessing")
    if not isinstance(v, dict):
        raise where.fail("a JSON object with image_size, channels, mean, std, fit_box and centre", v)
    missing = [k for k in ("image_size", "channels", "mean", "std", "fit_box", "centre") if k not in v]
    if missing:
        raise ModelFileError(f"{source}: preprocessing has no {', '.join(missing)} (expected image_size, channels, "
                             "mean, std, fit_box and centre)")
    out = dict(v)
    out["image_size"] = _ints(1, MAX_IMAGE_SIDE, 2, 2)(v["image_size"], _Where(source, "preprocessing image_size"))
    out["channels"] = _CHANNELS(v["channels"], _Where(source, "preprocessing channels"))
    # Pixels in [0, 1] standardised by these stay far inside float32's range (and NaN fails the comparisons).
    out["mean"] = _numbers(v["mean"], _Where(source, "preprocessing mean"), out["channels"], -MAX_MEAN, MAX_MEAN)
    out["std"] = _numbers(v["std"], _Where(source, "preprocessing std"), out["channels"], MIN_STD, 1 / MIN_STD)
    out["fit_box"] = _int(1, max(out["image_size"]))(v["fit_box"], _Where(source, "preprocessing fit_box"))
    out["centre"] = _choice("mass", "box")(v["centre"], _Where(source, "preprocessing centre"))
    return out


def _input_of(name, args):
    """(channels, (height, width) or None when any size works) of the input the model takes."""
    if name == "lenet5":
        return args["in_channels"], (28, 28)
    if name in ("simple_cnn", "fashion_cnn"):
        return args["in_channels"], (args["image_size"],) * 2
    return None, None


def strings_of(raw, source):
    """`raw`, a file's __metadata__, if it is what safetensors metadata must be (a JSON object of strings)."""
    if not isinstance(raw, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise ModelFileError(f"{source}: its __metadata__ is not a JSON object of strings (safetensors metadata)")
    return raw


def check(strings, source, numbers=None):
    """The metadata strings of a model file (`source` names it), decoded and checked; `numbers` is how
    many numbers its tensors hold, which bounds the model it may build."""
    meta = {}
    for key, text in strings_of(strings, source).items():
        if key in JSON_KEYS:
            meta[key] = parse_json(text, _Where(source, key))
        elif key in KNOWN_KEYS:
            if len(text) > MAX_CLASS_CHARS:
                raise _Where(source, key).fail(f"at most {MAX_CLASS_CHARS} characters", text)
            meta[key] = text
        # other keys are kept out: nothing acts on them
    if "dataset" in meta and meta["dataset"] not in DATASETS:
        raise _Where(source, "dataset").fail(f"a data set xpnet knows: one of {', '.join(DATASETS)}", meta["dataset"])
    if "model" in meta:
        limit = MAX_PARAMETERS if numbers is None else min(MAX_PARAMETERS, numbers)
        args = model_arguments(meta["model"], meta.get("model_kwargs", {}), source, limit)
        meta.setdefault("model_kwargs", {})
    elif "model_kwargs" in meta:
        raise ModelFileError(f"{source}: model_kwargs without a model: the file does not say which builder they are for")
    if "classes" in meta:
        meta["classes"] = _class_names(meta["classes"], _Where(source, "classes"))
        outputs = args.get("num_classes") if "model" in meta else None
        if outputs is not None and outputs != len(meta["classes"]):
            raise ModelFileError(f"{source}: {len(meta['classes'])} class names for a {meta['model']} with "
                                 f"{outputs} outputs: expected one name per output")
    if "preprocessing" in meta:
        meta["preprocessing"] = pre = preprocessing(meta["preprocessing"], source)
        channels, size = _input_of(meta["model"], args) if "model" in meta else (None, None)
        if channels is not None and (channels != pre["channels"] or size != tuple(pre["image_size"])):
            raise ModelFileError(f"{source}: preprocessing makes {pre['channels']}x{pre['image_size'][0]}x"
                                 f"{pre['image_size'][1]} input, but the {meta['model']} takes {channels}x{size[0]}x"
                                 f"{size[1]}")
        if "model" in meta and channels is None and pre["channels"] * math.prod(pre["image_size"]) != args["in_features"]:
            raise ModelFileError(f"{source}: preprocessing makes {pre['channels']}x{pre['image_size'][0]}x"
                                 f"{pre['image_size'][1]} input, but the {meta['model']} takes "
                                 f"{args['in_features']} features")
    return meta
