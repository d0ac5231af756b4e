"""xpnet's own errors: raised where the fault is known, each message naming what was expected and what came.

    XpnetError                    base of everything below
    ├── ModelFileError            a model file or checkpoint that is not what it should be (ValueError)
    ├── DataError                 a data file that exists but is corrupt, truncated or the wrong kind (ValueError)
    ├── DataNotFoundError         a data set's files are missing and could not be downloaded (FileNotFoundError)
    ├── ImageError                a picture that cannot be read or is out of bounds (ValueError)
    ├── ConfigError               options, settings or a run folder that do not fit together (ValueError)
    └── BackendError              the backend asked for cannot run on this machine (RuntimeError)

Each also derives from the built-in exception that code written before it caught, so
`except ValueError` still works. `shown(value)` is how a value that came from outside appears in a
message: its repr, shortened, with control characters and escape sequences escaped, so a hostile file
can neither flood nor drive the terminal. `is_int(value)` is the test such values take where a count is due.
"""
import numbers


class XpnetError(Exception):
    """Base of xpnet's own errors: the command line reports them in one line."""


class ModelFileError(XpnetError, ValueError):
    """A model file, or a checkpoint's files, that cannot be used; the message names the file and the key."""


class DataError(XpnetError, ValueError):
    """A data file that exists but is not what it should be (corrupt, truncated, wrong kind or size)."""


class DataNotFoundError(XpnetError, FileNotFoundError):
    """A data set's files are not on this machine and could not be downloaded; says where to put them."""


class ImageError(XpnetError, ValueError):
    """A picture that cannot be read, or whose size or values are out of what xpnet accepts."""


class ConfigError(XpnetError, ValueError):
    """Options or settings that are out of range or conflict with each other or with a run folder."""


class BackendError(XpnetError, RuntimeError):
    """The backend asked for cannot run here (no CuPy, no GPU or driver, a broken CUDA library); says why."""


SHOWN_CHARS = 80  # a value from outside is shown with at most this many characters


def is_int(value):
    """True for an integer, Python's or NumPy's, that is not a bool (True would otherwise pass as 1)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def shown(value, limit=SHOWN_CHARS):
    """`value` for an error message: repr for strings (quoted), str otherwise, shortened to about `limit`
    characters with the length said, and every non-printable character escaped."""
    text = repr(value) if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} characters)"
    return printable(text)


def printable(text, newlines=False):
    """`text` with control characters (ESC, CR, BEL, ...) and other non-printable ones shown as escapes;
    line breaks kept when `newlines`."""
    keep = "\n" if newlines else ""
    if all(c.isprintable() or c in keep for c in text):
        return text
    return "".join(c if c.isprintable() or c in keep else repr(c)[1:-1] for c in text)
