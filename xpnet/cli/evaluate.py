"""`xpnet eval`: the test (or training) loss and accuracy of a trained model."""
import argparse

from .checkpoint import add_model_args, open_model
from .options import add_backend, add_data, positive_int, use_backend


def add_parser(sub):
    p = sub.add_parser("eval", help="test loss and accuracy of a trained model",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_model_args(p, "the data set to evaluate on; default: the one the file names")
    p.add_argument("--split", default="test", choices=("train", "test"))
    p.add_argument("--batch-size", type=positive_int, default=1000)
    add_backend(p)
    add_data(p)
    return p


def run(args):
    from ..data import DataLoader, get, load_dataset, prepare_images
    from ..errors import ModelFileError
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
    images, y = load_dataset(dataset, args.split, root=args.data)
    x = prepare_images(images, mean=_first(pre.get("mean")), std=_first(pre.get("std")), dataset=dataset)
    trainer = Trainer(model, SoftmaxCrossEntropy(), optimizer=None)
    result = trainer.evaluate(DataLoader(x, y, batch_size=args.batch_size, shuffle=False))
    name = args.model or meta.get("model") or type(model).__name__
    print(f"{name} on {dataset} {args.split}: loss {float(result['loss']):.4f}, "
          f"accuracy {float(result['accuracy']):.2%} ({len(y)} images)")
    return 0


def _first(values):
    """The one value of a one-channel list of preprocessing constants, or None."""
    return None if values is None else float(values[0])
