"""`python -m xpnet.bench ...`: the benchmark (also `xpnet bench` and `python -m bench`)."""
import sys

from . import main

sys.exit(main())
