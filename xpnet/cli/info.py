"""`xpnet info`: the backend, versions, device, BLAS, and where the data sets are."""
from .options import add_backend, add_data, report, use_backend


def add_parser(sub):
    p = sub.add_parser("info", help="backend, versions, device, BLAS and where the data sets are")
    add_backend(p)
    add_data(p)
    return p


def run(args):
    """Print the report; a backend that cannot run here is reported on the CPU's setup, and the exit code is 1."""
    from tabulate import tabulate

    from .. import __version__, backend
    from ..data import where
    from ..errors import BackendError
    from ..data.datasets import DATASETS

    wanted = args.backend or backend.registry.state.requested
    try:
        use_backend(args)
        backend.current()
        problem = None
    except BackendError as exc:  # no CuPy, no driver, no device, missing CUDA libraries
        problem = str(exc)
    if problem:
        with backend.using("cpu"):
            setup = backend.info()
        setup["backend"] = f"{wanted} unavailable (the error below); showing the cpu's setup"
    else:
        setup = backend.info()
    print(tabulate([("xpnet", __version__), *setup.items()], headers=["setup", ""]))
    print()
    data = [(name, where(name, root=args.data) or "not found (downloaded on first use)") for name in DATASETS]
    print(tabulate(data, headers=["data set", "location"]))
    if problem:
        report("xpnet info", problem)
        return 1
    return 0
