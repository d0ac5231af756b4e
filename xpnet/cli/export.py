"""`xpnet export`: a trained model as an ONNX file, checked under ONNX Runtime against xpnet."""
from pathlib import Path

from .checkpoint import add_model_args, model_file, open_model
from .options import DefaultsHelpFormatter

INSTALL = 'exporting to ONNX needs the onnx extra: pip install "xpnet[onnx]" (onnx and onnxruntime)'
CHECK_BATCH = 8


def add_parser(sub):
    p = sub.add_parser("export", help="write a trained model as an ONNX file (for ONNX Runtime and others)",
                       formatter_class=DefaultsHelpFormatter,
                       description="The model's eval-mode forward pass in standard ONNX operators, with a free "
                                   "batch axis and the model file's metadata (classes, preprocessing). When "
                                   "onnxruntime is installed the file is run once on random inputs and compared "
                                   "with xpnet.")
    add_model_args(p, "for a file that does not say: whose class names and preprocessing to record")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="the .onnx file to write; default: the model file's name ending in .onnx")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: xpnet.export.DEFAULT_OPSET)")
    return p


def run(args):
    try:
        from ..export import DEFAULT_OPSET, save, to_onnx
    except ImportError as exc:
        raise RuntimeError(INSTALL) from exc
    from ..data import get
    from ..train import describe

    model, meta, dataset = open_model(args)
    pre = meta.get("preprocessing") or get(dataset or "mnist").preprocessing()
    meta = {**describe(args.model, None, dataset), **meta}  # the file's own metadata first; else what is known
    shape = (1, int(pre["channels"]), *(int(s) for s in pre["image_size"]))
    opset = DEFAULT_OPSET if args.opset is None else args.opset
    proto = to_onnx(model, shape, metadata=meta, opset=opset, name=meta.get("model"))
    out = Path(args.out) if args.out else model_file(args.checkpoint).with_suffix(".onnx")
    save(proto, out)
    params = sum(p.data.size for p in model.parameters())
    print(f"wrote {out} ({meta.get('model', type(model).__name__)}, opset {opset}, input (batch, "
          f"{', '.join(map(str, shape[1:]))}), {params:,} parameters)")
    print(_runtime_check(model, proto, shape))
    return 0


def _runtime_check(model, proto, shape):
    """One line: how far ONNX Runtime's output is from xpnet's on a batch of random inputs."""
    try:
        import onnxruntime
    except ImportError:
        return "onnxruntime is not installed: the file was not run (pip install onnxruntime)"
    import numpy as host  # random host inputs for both runtimes

    from ..backend import asarray, to_numpy
    x = host.random.default_rng(0).standard_normal((CHECK_BATCH, *shape[1:])).astype(host.float32)
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    want = to_numpy(model.eval()(asarray(x)))
    diff = float(host.abs(got - want).max() / max(float(host.abs(want).max()), 1e-30))
    return f"ONNX Runtime {onnxruntime.__version__} on {CHECK_BATCH} random inputs: largest difference from xpnet " \
           f"{diff:.1e} of the largest output"
