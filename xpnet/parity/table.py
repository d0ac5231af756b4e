"""The parity results as a table (github or plain, through tabulate) or as JSON."""
import json

from tabulate import tabulate

HEADERS = ["case", "quantity", "max abs err", "max rel err", "rtol", "result", "note"]


def _number(x):
    return "-" if x != x else f"{x:.3g}"


def render(rows, fmt, header=None):
    """The rows as a github/plain table, or as JSON (a dict with `header` and `rows`)."""
    if fmt == "json":
        return json.dumps({**(header or {}), "rows": [_json_row(r) for r in rows]}, indent=2)
    table = [[r.case, r.quantity, _number(r.max_abs), _number(r.max_rel), f"{r.rtol:.2g}", r.status, r.note]
             for r in rows]
    return tabulate(table, HEADERS, tablefmt=fmt)


def _json_row(row):
    """A row with NaN errors (nothing measured) written as null, which JSON can hold."""
    d = row.as_dict()
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in d.items()}
