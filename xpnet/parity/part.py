"""`part(make, *args, **kwargs)`: a component's recipe, built afresh on each backend and printed as written.

Cases hold recipes, not built layers, because each side must build its own
copy after the runner has seeded xpnet. Parts among the arguments are built
first, so a container reads as one nested call:
`part(L.Residual, part(L.Sequential, part(L.Dense, 6, 6), part(L.Tanh)))`.
"""
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Part:
    """`make(*args, **kwargs)`, not yet called; its repr is that call, e.g. "Dense(6, 6)"."""

    make: Callable
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def build(self, *first):
        """`make(*first, *args, **kwargs)` with every Part among args and kwargs built first."""
        args = [_built(a) for a in self.args]
        return self.make(*first, *args, **{name: _built(v) for name, v in self.kwargs.items()})

    def __repr__(self):
        words = [repr(a) for a in self.args] + [f"{name}={v!r}" for name, v in self.kwargs.items()]
        return f"{self.make.__name__}({', '.join(words)})"


def _built(value):
    return value.build() if isinstance(value, Part) else value


def part(make, *args, **kwargs):
    return Part(make, args, kwargs)
