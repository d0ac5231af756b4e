"""One process failing ends them all: a process that raises while the others wait in a collective would
leave them waiting forever, so it reports its error and aborts the whole job through the communicator.

Errors that every process raises at the same point (a diverged run, which every rank sees in the same
summed loss) pass through as exceptions: each process then exits normally.
"""
import contextlib
import sys
import time
import traceback

EXPECTED = (OSError, RuntimeError, ValueError)  # reported in one line, as the command line reports them
# Seconds between reporting an error and aborting: the launcher passes each process's output on through a
# pipe, and an abort can end that before the report went through (the suite once saw an empty stderr).
REPORT_DELAY = 0.5


@contextlib.contextmanager
def fail_together(comm, prog="xpnet", collective=()):
    """Run a block in which an exception on any process ends every process of `comm`'s job within
    seconds: the failing process prints "<prog>: error on process <rank> of <size>: <message>" (and the
    traceback for an unexpected kind of error) to stderr, then aborts the job with exit status 1 (130
    for an interrupt). Exceptions of the types `collective` are re-raised as usual. No-op in one process."""
    if comm.size == 1:
        yield
        return
    try:
        yield
    except collective:
        raise
    except SystemExit as exc:
        if exc.code in (0, None):
            raise
        _stop(comm, prog, f"exit status {exc.code}", exc.code if isinstance(exc.code, int) else 1)
    except KeyboardInterrupt:
        _stop(comm, prog, "interrupted", 130)
    except BaseException as exc:  # noqa: B902 - any error must end the other processes too
        if not isinstance(exc, EXPECTED):
            traceback.print_exc(file=sys.stderr)
        _stop(comm, prog, str(exc) or type(exc).__name__, 1)


def _stop(comm, prog, message, code):
    print(f"{prog}: error on process {comm.rank} of {comm.size}: {message}; stopping all {comm.size} processes",
          file=sys.stderr, flush=True)
    sys.stdout.flush()
    time.sleep(REPORT_DELAY)
    comm.abort(code)
