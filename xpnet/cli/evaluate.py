"""`xpnet eval`: the test (or training) loss and accuracy of a trained model."""
import sys

from ..errors import ConfigError, ModelFileError, printable
from .checkpoint import add_model_args, open_model
from .options import DefaultsHelpFormatter, add_backend, add_data, positive_int, use_backend

BATCH_SIZE = 1000


def add_parser(sub):
    p = sub.add_parser("eval", help="test loss and accuracy of a trained model",
                       formatter_class=DefaultsHelpFormatter)
    add_model_args(p, "the data set to evaluate on; default: the one the file names")
    p.add_argument("--split", default="test", choices=("train", "test"), help="the split to evaluate on")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help=f"images per batch; default {BATCH_SIZE}, or the whole split when it is smaller")
    add_backend(p)
    add_data(p)
    return p


def run(args):
    from ..data import DataLoader, get, load_dataset, prepare_images
    from ..losses import SoftmaxCrossEntropy
    from ..train import Trainer

    use_backend(args)
    model, meta, dataset = open_model(args)
    dataset = dataset or "mnist"
    pre = meta.get("preprocessing", {})
    shape = get(dataset).image_shape
    if pre and (pre["channels"], tuple(pre["image_size"])) != (1, shape):
        raise ModelFileError(f"{args.checkpoint}: the model takes {pre['channels']}x{pre['image_size'][0]}x"
                             f"{pre['image_size'][1]} input (its preprocessing says), {dataset}'s images are "
                             f"1x{shape[0]}x{shape[1]}")
    if meta.get("dataset") not in (None, dataset):  # allowed: evaluating on another data set can be deliberate
        print(printable(f"xpnet eval: warning: {args.checkpoint} was trained on {meta['dataset']}; evaluating it on "
                        f"{dataset} as --dataset asks"), file=sys.stderr)
    images, y = load_dataset(dataset, args.split, root=args.data)
    if args.batch_size is not None and args.batch_size > len(y):
        raise ConfigError(f"--batch-size {args.batch_size}: expected at most {len(y)}, the number of images in "
                          f"{dataset}'s {args.split} split")
    x = prepare_images(images, mean=_first(pre.get("mean")), std=_first(pre.get("std")), dataset=dataset)
    trainer = Trainer(model, SoftmaxCrossEntropy(), optimizer=None)
    result = trainer.evaluate(DataLoader(x, y, batch_size=args.batch_size or min(BATCH_SIZE, len(y)), shuffle=False))
    name = args.model or meta.get("model") or type(model).__name__
    print(f"{name} on {dataset} {args.split}: loss {float(result['loss']):.4f}, "
          f"accuracy {float(result['accuracy']):.2%} ({len(y)} images)")
    return 0


def _first(values):
    """The one value of a one-channel list of preprocessing constants, or None."""
    return None if values is None else float(values[0])
