"""The random numbers both sides share: inputs drawn on the host, and Dropout's draws from xpnet's host generator.

Each input maker takes the case's host generator and a shape, and returns a host array.
"""
import math

import numpy as host  # inputs are drawn on the host, then moved, so both backends see the same numbers

from .. import layers as L
from ..backend import asarray, get_default_dtype, rng


def normal(gen, shape):
    return gen.standard_normal(shape)


def distinct(gen, shape):
    """Shuffled, evenly spaced values in [-2, 2] that avoid 0: no near-ties for max-pool, no inputs at a kink."""
    n = math.prod(shape)
    return gen.permutation(host.linspace(-2.0, 2.0, 2 * (n // 2) + 2))[:n].reshape(shape)


def probabilities(gen, shape):
    return gen.uniform(0.0, 1.0, shape)


def labels(gen, shape):
    """Class indices (N,) for scores of shape (N, C)."""
    return gen.integers(0, shape[1], shape[0])


def dev(a):
    """Host array `a` on the current backend, in the default float dtype."""
    return asarray(a, get_default_dtype())


def host_masks(model):
    """Make every Dropout in `model` draw its mask from xpnet's seeded host generator.

    On the GPU, Dropout normally draws with CuPy's generator, which gives other
    numbers than NumPy's; parity needs the same elements dropped on both sides.
    """
    for m in model.modules():
        if isinstance(m, L.Dropout):
            m.uniform = host_uniform
    return model


def host_uniform(shape, dtype):
    """Uniform draws in [0, 1) from xpnet's seeded host generator, in float64 whatever `dtype`, on the current
    backend: the same numbers on every backend."""
    return asarray(rng().random(tuple(shape)), "float64")
