"""`python -m xpnet.compare ...`: the same as `xpnet compare ...`."""
import sys

from . import main

sys.exit(main())
