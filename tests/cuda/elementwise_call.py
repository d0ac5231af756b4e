"""What a call of a CuPy ElementwiseKernel launches, worked out on NumPy arrays.

`plan(kernel, args)` follows CuPy 14's ElementwiseKernel.__call__ (cupy/_core/_kernel.pyx)
as far as xpnet uses it: argument checks, broadcasting of the non-raw arrays, types decided
by CuPy itself, outputs given or allocated C-contiguous, scalars cast to their parameter
types, an empty loop that launches nothing, `size=`, and the merging of loop axes
(`reduce_dims`). The result says, per kernel parameter, the layout CuPy generates code for
(an `Arg`) and the memory the thread loop works on (an `Operand`); `i` in a kernel body is
the flat C-order index over `Launch.shape`.

reduce_dims is emulated rather than skipped: merging axes keeps every element's `i`, but it
changes the rank and contiguity the code is generated for, so skipping it would compile and
run other code than a GPU does.
"""
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy

import cupy_private

_INDEX_32_LIMIT = 1 << 31
_PY_SCALARS = (bool, int, float, complex)


class Arg(NamedTuple):
    """The layout of one kernel argument that CuPy's generated code depends on."""
    kind: str            # "array", "scalar" or "indexer"
    dtype: object        # numpy dtype (None for the indexer)
    ndim: int
    c_contiguous: bool
    index_32_bits: bool

    def __str__(self):
        if self.kind == "array":
            flags = (", C" if self.c_contiguous else "") + ("" if self.index_32_bits else ", 64-bit")
            return f"{self.dtype}[{self.ndim}d{flags}]"
        return f"{self.dtype} scalar" if self.kind == "scalar" else f"indexer[{self.ndim}d]"


@dataclass
class Operand:
    """One argument as the thread loop sees it: an array's memory (`base` holds it), shape and byte strides,
    or a scalar as a 0-d array of its parameter type, or the indexer's loop shape."""
    kind: str
    value: object                  # numpy array (array, scalar) or None (indexer)
    shape: tuple = ()
    strides: tuple = ()
    c_contiguous: bool = True
    index_32_bits: bool = True
    raw: bool = False

    def arg(self):
        dtype = None if self.kind == "indexer" else self.value.dtype
        ndim = 0 if self.kind == "scalar" else len(self.shape)
        return Arg(self.kind, dtype, ndim, self.c_contiguous, self.index_32_bits)


@dataclass
class Launch:
    """A planned kernel launch: `operands` and `args` follow `kernel.params` (the indexer last); `result`
    is what the call returns; `size` is the number of threads (0: nothing is launched)."""
    kernel: object
    operands: list
    type_map: object
    shape: tuple
    result: object

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def args(self):
        return tuple(op.arg() for op in self.operands)

    @property
    def signature(self):
        """What the generated code depends on: (args, type_map); hashable."""
        return self.args, self.type_map


def index_32_bits(a):
    """CuPy's flag for 32-bit index arithmetic: views inherit it from the allocation, which must span <= 2**31 bytes."""
    root = a
    while isinstance(root.base, numpy.ndarray):
        root = root.base
    return max(root.nbytes, a.nbytes) <= _INDEX_32_LIMIT


def _array_operand(a, raw):
    return Operand("array", a, a.shape, a.strides, bool(a.flags.c_contiguous), index_32_bits(a), raw)


def _check_args(kernel, args):
    if len(args) not in (kernel.nin, kernel.nargs):
        raise TypeError(f"Wrong number of arguments for {kernel.name!r}. It must be either {kernel.nin} or "
                        f"{kernel.nargs} (with outputs), but given {len(args)}.")
    for a in args:
        if not isinstance(a, (numpy.ndarray, numpy.generic) + _PY_SCALARS):
            raise TypeError(f"Unsupported type {type(a)}")


def _broadcast_shape(kernel, args, size):
    """The loop shape: the broadcast of the non-raw arrays (inputs and given outputs), or (size,)."""
    shapes = [a.shape for p, a in zip(kernel.params, args) if not p.raw and isinstance(a, numpy.ndarray)]
    if size != -1:
        if shapes:
            raise ValueError("Specified 'size' can be used only if all of the ndarray are 'raw'.")
        return (size,)
    if not shapes:
        raise ValueError("Loop size is undecided.")
    try:
        return numpy.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError("operands could not be broadcast together with shapes "
                         + " ".join(str(s).replace(" ", "") for s in shapes)) from None


def _outputs(kernel, given, out_types, shape, size_given, allocate):
    if not given:
        if any(p.raw for p in kernel.out_params) and not size_given:
            raise ValueError("Output array size is Undecided")
        return [allocate(shape, t) for t in out_types]
    for p, a in zip(kernel.out_params, given):
        if not isinstance(a, numpy.ndarray):
            raise TypeError("Output arguments type must be cupy.ndarray")
        if not p.raw and a.shape != shape:
            raise ValueError("Out shape is mismatched")
    return list(given)


def plan(kernel, args, size=-1, allocate=numpy.empty):
    """The `Launch` of real ElementwiseKernel `kernel` called with `args` (NumPy arrays standing for device
    arrays, and scalars); `allocate(shape, dtype)` makes the outputs not given. Raises as CuPy would."""
    _check_args(kernel, args)
    shape = _broadcast_shape(kernel, args, size)
    ins = [numpy.broadcast_to(a, shape) if isinstance(a, numpy.ndarray) and not p.raw and a.shape != shape else a
           for p, a in zip(kernel.in_params, args[:kernel.nin])]
    in_dtypes = [a.dtype if isinstance(a, numpy.ndarray) else None for a in ins]
    in_types, out_types, type_map = cupy_private.decide_types(
        kernel, in_dtypes, [a.dtype for a in args[kernel.nin:]])
    outs = _outputs(kernel, args[kernel.nin:], out_types, shape, size != -1, allocate)
    result = None if kernel.no_return else outs[0] if kernel.nout == 1 and not kernel.return_tuple else tuple(outs)
    if math.prod(shape) == 0:
        return Launch(kernel, [], type_map, shape, result)
    operands = []
    for p, a, t in zip(kernel.params, ins + outs, list(in_types) + list(out_types)):
        if isinstance(a, numpy.ndarray):
            operands.append(_array_operand(a, p.raw))
        else:  # CuPy stores the scalar in its parameter's type
            operands.append(Operand("scalar", numpy.array(a, dtype=t)))
    if kernel.reduce_dims:
        shape = reduce_dims(shape, operands)
    operands.append(Operand("indexer", None, tuple(shape), (), True, math.prod(shape) <= _INDEX_32_LIMIT))
    return Launch(kernel, operands, type_map, tuple(shape), result)


def reduce_dims(shape, operands):
    """Merge loop axes as CuPy does before a launch (reduce_dims=True); returns the new loop shape and
    gives the non-raw array operands the matching shapes and strides. Their contiguity and 32-bit flags
    stay those of the original arrays, as CuPy's views keep them."""
    if len(shape) <= 1 or not operands:
        return shape
    if len(operands) == 1:
        return _reduce_one(shape, operands[0])
    arrays = [op for op in operands if op.kind == "array" and not op.raw]
    strided = [op for op in arrays if not op.c_contiguous]
    if not arrays or (strided and len(shape) == 2):
        return shape
    if not strided:  # all C-contiguous: one flat axis
        new_shape = (math.prod(shape),)
        for op in arrays:
            op.shape, op.strides = new_shape, (op.value.itemsize,)
        return new_shape
    sizes, kept, last = list(shape), [], None
    for ax, n in enumerate(shape):
        if n == 1:
            continue
        if last is not None:
            if all(op.strides[ax] * n == op.strides[last] for op in strided):
                sizes[ax] *= sizes[last]  # axis `last` folds into `ax`, which keeps its strides
            else:
                kept.append(last)
        last = ax
    if last is not None:
        kept.append(last)
    if len(kept) == len(shape):
        return shape
    new_shape = tuple(sizes[ax] for ax in kept)
    for op in arrays:
        op.shape, op.strides = new_shape, tuple(op.strides[ax] for ax in kept)
    return new_shape


def _reduce_one(shape, op):
    """CuPy's path for a kernel with a single argument: that array's own reduced view."""
    if op.kind != "array" or op.raw:
        return shape
    if op.c_contiguous:
        op.shape, op.strides = (math.prod(shape),), (op.value.itemsize,)
        return op.shape
    merged_shape, merged_strides = [], []
    for n, s in zip(shape, op.strides):
        if n == 1:
            continue
        if merged_shape and merged_strides[-1] == n * s:
            merged_shape[-1] *= n
            merged_strides[-1] = s
        else:
            merged_shape.append(n)
            merged_strides.append(s)
    if len(merged_shape) == len(shape):
        return shape
    op.shape, op.strides = tuple(merged_shape), tuple(merged_strides)
    return op.shape
