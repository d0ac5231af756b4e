"""`python -m bench ...`: the same as `xpnet bench ...`."""
import sys

from xpnet.cli import main

sys.exit(main(["bench", *sys.argv[1:]]))
