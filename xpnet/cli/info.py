"""`xpnet info`: the backend, versions, device, BLAS, and where the data sets are."""
from .options import add_backend, add_data, use_backend


def add_parser(sub):
    p = sub.add_parser("info", help="backend, versions, device, BLAS and where the data sets are")
    add_backend(p)
    add_data(p)
    return p


def run(args):
    from tabulate import tabulate

    from .. import __version__, backend
    from ..data import where
    from ..data.datasets import DATASETS

    use_backend(args)
    rows = [("xpnet", __version__), *((k, v) for k, v in backend.info().items())]
    print(tabulate(rows, headers=["setup", ""]))
    print()
    data = [(name, where(name, root=args.data) or "not found (downloaded on first use)") for name in DATASETS]
    print(tabulate(data, headers=["data set", "location"]))
    return 0
