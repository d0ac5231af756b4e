"""`xpnet parity`: compare every case on the GPU against the CPU and print a table; exit 1 on any failure."""
import json
import sys


def add_parser(sub):
    p = sub.add_parser("parity", help="check that the GPU backend gives the CPU backend's outputs and gradients",
                       description=(
        "Run every layer, loss, optimizer and built-in model on the CPU (NumPy) and the GPU (CuPy) with the "
        "same weights and inputs, and compare outputs, gradients, running statistics and optimizer state."))
    p.add_argument("--format", choices=("github", "plain", "json"), default="plain", help="table format")
    p.add_argument("--require-gpu", action="store_true", help="exit 1 when no GPU is available instead of 0")
    p.add_argument("--allow-tf32", action="store_true",
                   help="accept CUPY_TF32=1 and loosen float32 tolerances to TF32 precision")
    p.add_argument("--only", metavar="SUBSTRING", help="run only cases whose name contains SUBSTRING")
    p.add_argument("--self-test", action="store_true",
                   help="run both sides on the CPU: checks the catalogue runs and is deterministic, no GPU needed")
    return p


def run(args):
    from ..parity import catalogue, check_tf32, gpu_status, run_all, tf32_allowed
    from ..parity.table import render

    out = sys.stdout
    try:
        check_tf32(args.allow_tf32)
    except RuntimeError as exc:
        print(f"xpnet parity: refusing to run: {exc}", file=sys.stderr)
        return 2
    if args.self_test:
        sides, header = ("cpu", "cpu"), {"mode": "self-test", "sides": ["cpu", "cpu"]}
    else:
        ok, why = gpu_status()
        if not ok:
            message = f"no GPU available ({why}): nothing compared"
            if args.format == "json":
                print(json.dumps({"gpu": False, "message": message, "compared": 0, "rows": []}, indent=2), file=out)
            else:
                print(f"xpnet parity: {message}", file=out)
            return 1 if args.require_gpu else 0
        sides, header = ("cpu", "gpu"), {"mode": "parity", "sides": ["cpu", "gpu"], "gpu": True}
    rows = run_all(catalogue(), sides, only=args.only, allow_tf32=tf32_allowed(args.allow_tf32))
    failed = sum(not r.passed for r in rows)
    header.update(compared=len(rows), failed=failed)
    print(render(rows, args.format, header), file=out)
    if args.format != "json":
        print(f"\n{len(rows)} quantities compared ({' vs '.join(reversed(sides))}), {failed} failed", file=out)
    if not rows:
        print(f"xpnet parity: no case matches --only {args.only!r}", file=sys.stderr)
        return 1
    return 1 if failed else 0
