"""Special functions NumPy lacks: `erf`, accurate to float64 precision on the CPU.

NumPy has no `erf`, and SciPy is not a dependency, so the CPU version is written
here from two classical expansions, each used where it converges fast:

- |x| < 1.5: the Maclaurin series erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1)),
  28 terms (error below 4e-16 relative);
- |x| >= 1.5: Laplace's continued fraction
  erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), 80 levels
  evaluated bottom-up, and erf = 1 - erfc (error below 2e-16 relative).

|x| is clipped to 6, beyond which erf(x) rounds to +-1 in float64. float32 inputs take
15 terms and 30 levels, enough for float32. On the GPU the CuPy array goes to
`cupyx.scipy.special.erf`. The result keeps the input's dtype.
"""
import math

import numpy

from .arrays import backend_of

_SPLIT = 1.5
_CLIP = 6.0
_SERIES = tuple((-1) ** n * 2 / (math.sqrt(math.pi) * math.factorial(n) * (2 * n + 1)) for n in range(28))
# (series terms, continued-fraction levels) by dtype: float32 needs fewer for an error (below 1e-8 relative)
# far under its own rounding, and each term or level is one more pass over the array.
_DEPTH = {numpy.dtype(numpy.float64): (28, 80), numpy.dtype(numpy.float32): (15, 30)}


def _erf_series(x, terms):
    t = x * x
    acc = numpy.zeros_like(x)
    for c in reversed(_SERIES[:terms]):
        acc *= t
        acc += c
    return x * acc


def _erfc_continued_fraction(x, levels):
    """erfc(x) for x >= _SPLIT."""
    t = x.copy()
    for k in range(levels, 0, -1):
        t = x + (k / 2) / t
    return numpy.exp(-x * x) / (math.sqrt(math.pi) * t)


def erf(x):
    """The error function, elementwise, on a NumPy or CuPy float array (dtype kept)."""
    if backend_of(x) == "gpu":
        from cupyx.scipy.special import erf as cupy_erf  # imported only when a GPU array arrives
        return cupy_erf(x)
    x = numpy.asarray(x)
    terms, levels = _DEPTH.get(x.dtype, _DEPTH[numpy.dtype(numpy.float64)])
    ax = numpy.minimum(numpy.abs(x), _CLIP)
    out = numpy.empty_like(ax)
    small = ax < _SPLIT
    out[small] = _erf_series(ax[small], terms)
    large = ~small
    out[large] = 1 - _erfc_continued_fraction(ax[large], levels)
    return numpy.copysign(out, x)
