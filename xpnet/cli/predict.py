"""`xpnet predict`: classify a user's own pictures with a trained model."""
import json

from .checkpoint import add_model_args, open_model
from ..errors import ModelFileError, XpnetError, printable
from .options import DefaultsHelpFormatter, add_backend, positive_int, report, use_backend


def add_parser(sub):
    p = sub.add_parser("predict", help="classify your own pictures (PNG, JPEG) with a trained model",
                       formatter_class=DefaultsHelpFormatter,
                       description="Each picture is made grayscale, inverted if its background is light, its ink "
                                   "fitted and centred as the data set's images were, then classified. One line "
                                   "per picture: the file, then the most likely classes with their probabilities.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="picture files")
    add_model_args(p, "for a file that does not say: whose class names and preprocessing to use")
    p.add_argument("--top", type=positive_int, default=3, help="how many classes to list per picture")
    p.add_argument("--json", action="store_true", help="print a JSON list (file, top classes or error) instead")
    add_backend(p)
    return p


def run(args):
    from ..data import get
    from ..train import classify

    use_backend(args)
    model, meta, dataset = open_model(args)
    ds = get(dataset or "mnist")
    try:
        results = classify(model, args.images, meta.get("preprocessing") or ds.preprocessing(),
                           meta.get("classes") or list(ds.classes), top=args.top)
    except ImportError as exc:  # no Pillow: no picture can be read
        raise RuntimeError(str(exc)) from exc
    except XpnetError:  # xpnet's own errors already name what is at fault, which need not be the file
        raise
    except ValueError as exc:  # the model's input is not made from grayscale pictures, or its outputs from the classes
        raise ModelFileError(f"{args.checkpoint}: {exc}") from exc
    for result in results:
        if "error" in result:
            report("xpnet predict", result["error"])
        elif not args.json:
            print(printable(f"{result['file']}: " + ", ".join(f"{c['class']} ({c['probability']:.1%})"
                                                             for c in result["top"])))
    if args.json:
        print(json.dumps(results, indent=1))
    return 1 if any("error" in r for r in results) else 0
