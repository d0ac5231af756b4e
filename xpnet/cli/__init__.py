"""The `xpnet` command line: the workshop around the framework, which the framework never imports.

    xpnet train [--model lenet5] [--dataset mnist] [--epochs N] ...   train into runs/<model>-<dataset>/
    xpnet eval --checkpoint runs/lenet5-mnist                          test loss and accuracy of a model
    xpnet predict --checkpoint runs/lenet5-mnist digit.png ...         classify your own pictures
    xpnet export --checkpoint runs/lenet5-mnist [--out model.onnx]     the model as ONNX (the onnx extra)
    xpnet info                                                         backend, versions, BLAS, data sets
    xpnet compare activations | optimizers | models                    train variants side by side
    xpnet parity | xpnet bench                                         CPU/GPU parity, timing tables

Each command is a module here with `add_parser(subparsers)` and `run(args)`; `options` holds what they
share. Exit codes: 0 success, 2 bad command line (argparse lists the valid names), 1 a failure while
running (missing data, no GPU, bad checkpoint, a diverged run, a picture that could not be read),
reported in one line as "xpnet COMMAND: error: ...", 130 interrupted.
"""
import sys

from .. import environment
from . import bench, compare, evaluate, export, info, parity, predict, train
from .options import Parser, guarded

COMMANDS = {"train": train, "eval": evaluate, "predict": predict, "export": export, "info": info,
            "compare": compare, "parity": parity, "bench": bench}


def build_parser():
    from .. import __version__
    parser = Parser(prog="xpnet", description="A readable CNN framework on NumPy or CuPy.")
    parser.add_argument("--version", action="version", version=f"xpnet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


def main(argv=None):
    """Run the command line `argv` (default sys.argv[1:]); returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    return guarded("xpnet", _run, argv)


def _run(argv):
    args = build_parser().parse_args(argv)
    args.argv = argv[argv.index(args.command) + 1:]  # the command's own arguments, for re-runs and records
    return guarded(f"xpnet {args.command}", _checked_run, args)


def _checked_run(args):
    environment.check()  # every variable, before the command reads only some of them
    return COMMANDS[args.command].run(args)
