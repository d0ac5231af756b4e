"""`python -m xpnet.parity`: the same as `xpnet parity`."""
import sys

from . import main

sys.exit(main())
