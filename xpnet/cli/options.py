"""What every command of the command line shares: argument types, common options, and how a failure is reported."""
import argparse
import difflib
import math
import os
import sys

from .. import backend
from ..errors import XpnetError, printable


def positive_int(text):
    """An argparse type: an integer of at least 1."""
    return _int_at_least(text, 1, "a positive integer")


def natural_int(text):
    """An argparse type: an integer of at least 0."""
    return _int_at_least(text, 0, "an integer >= 0")


def _int_at_least(text, low, what, high=None):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


MAX_SHIFT = 13  # pixels: half of the 28-pixel images, less one, keeps every digit at least half in the frame
# What the float options accept: a learning rate, penalty or momentum outside these is a typo
FLOAT_RANGES = {"lr": (0.0, 1e6), "weight_decay": (0.0, 1e6), "momentum": (0.0, 1.0)}


def bounded_int(low, high):
    """An argparse type: an integer from `low` to `high`."""
    return lambda text: _int_at_least(text, low, f"an integer from {low} to {high}", high)


def finite_float(low, high, what="a number"):
    """An argparse type: a finite float from `low` to `high` (inf and nan refused)."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not low <= value <= high:  # false for nan
            raise argparse.ArgumentTypeError(f"expected {what} from {low:g} to {high:g}, got {text!r}")
        return value
    return parse


# The numeric options of `xpnet train` that a run records in its config.json: the parser reads them with
# these types, and --resume checks the recorded values with the same ones.
TRAIN_TYPES = {"batch_size": positive_int, "lr": finite_float(*FLOAT_RANGES["lr"]),
               "weight_decay": finite_float(*FLOAT_RANGES["weight_decay"]),
               "momentum": finite_float(*FLOAT_RANGES["momentum"]), "shift": bounded_int(0, MAX_SHIFT),
               "seed": natural_int, "epochs": positive_int}


def comma_list(item, what, distinct=False, choices=None):
    """An argparse type: comma-separated values, each converted by `item` (an argparse type or a callable
    raising ValueError) and described as `what` in errors, at least one; `distinct` refuses repeats,
    `choices` values outside them."""
    def parse(text):
        values = []
        for part in (t.strip() for t in text.split(",")):
            try:
                values.append(item(part))
            except (ValueError, argparse.ArgumentTypeError):
                raise argparse.ArgumentTypeError(f"{part!r} in {text!r}: expected comma-separated "
                                                 f"{what}") from None
        unknown = [v for v in values if choices is not None and v not in choices]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown {', '.join(map(str, unknown))}: expected some of "
                                             f"{', '.join(choices)}")
        if not values or (distinct and len(set(values)) != len(values)):
            raise argparse.ArgumentTypeError(f"expected {'distinct ' if distinct else ''}comma-separated values, "
                                             f"got {text!r}")
        return values
    return parse


def existing_folder(text):
    """An argparse type: a folder that exists (checked before anything is looked up in it or downloaded)."""
    if not os.path.isdir(text):
        why = "a file" if os.path.exists(text) else "no such folder"
        raise argparse.ArgumentTypeError(f"expected an existing folder, got {text!r} ({why})")
    return text


class Parser(argparse.ArgumentParser):
    """The command line's parser: an unknown option is an error of the (sub)command it was given to, which
    suggests the closest option that command has."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:  # every xpnet parser, subcommands included, takes all of its arguments
            self.error(f"unrecognized arguments: {' '.join(extras)}{_suggestion(self, extras)}")
        return namespace, extras


def _suggestion(parser, extras):
    """"; did you mean --optimizer?" for the options among `extras` that are close to one of `parser`'s."""
    known = [s for a in parser._actions if a.help != argparse.SUPPRESS for s in a.option_strings]
    close = [difflib.get_close_matches(e.split("=")[0], known, n=1) for e in extras if e.startswith("-")]
    names = list(dict.fromkeys(match[0] for match in close if match))
    return f"; did you mean {' or '.join(names)}?" if names else ""


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" to an option's help only where that says something: not for None or False, nor
    where the help text already tells the default."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def add_backend(parser):
    parser.add_argument("--backend", default=None, choices=backend.NAMES,
                        help="array backend (overrides XPNET_BACKEND, else cpu)")


def add_data(parser):
    parser.add_argument("--data", type=existing_folder, default=None, metavar="DIR",
                        help="folder holding mnist/ and fashion-mnist/ (else XPNET_DATA or the cache)")


def use_backend(args):
    """Switch to the backend that --backend names, if it was given."""
    if args.backend is not None:
        backend.use(args.backend)


MESSAGE_CHARS = 2000  # longer error messages are cut: a value echoed from a file must not flood the terminal


def guarded(prog, command, *args):
    """`command(*args)`'s exit status, as every xpnet command reports it: argparse's own for --help and usage
    errors (2), 130 for an interrupt, and 1 with one line on stderr for a failure while running: xpnet's own
    errors (xpnet.errors), and OSError, RuntimeError, ValueError and MemoryError, which missing files, a
    missing GPU, bad values and an allocation too large for this machine raise. Other exceptions are
    bugs and keep their traceback."""
    try:
        return command(*args)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except MemoryError as exc:
        what = f" ({exc})" if str(exc) else ""
        report(prog, f"out of memory{what}: this machine could not allocate the arrays the command needs; "
                     "try a smaller --batch-size or model")
        return 1
    except (XpnetError, OSError, RuntimeError, ValueError) as exc:
        report(prog, str(exc))
        return 1


def report(prog, message):
    """Print "<prog>: error: <message>" on stderr, the message shortened and its control characters escaped."""
    if len(message) > MESSAGE_CHARS:
        message = f"{message[:MESSAGE_CHARS]}... (message cut at {MESSAGE_CHARS} of {len(message)} characters)"
    print(f"{prog}: error: {printable(message, newlines=True)}", file=sys.stderr)
