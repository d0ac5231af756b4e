"""The benchmark's front door: `python -m bench [options]` from the repository root runs `xpnet bench`.

See bench/README.md; results saved with `--save` go to bench/results/.
"""
