"""`python -m bench ...`: the same as `xpnet bench ...`."""
import sys

from xpnet.bench import main

sys.exit(main())
