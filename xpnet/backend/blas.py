"""`out (+)= a · b` as one BLAS gemm on strided 2-D views (the CPU's `ops.matmul_add`).

NumPy's matmul has no beta: `out += a @ b` writes the product to new memory and adds it
in a second pass, which the shifted-GEMM convolution (layers/shifted.py) would pay once
per kernel tap. BLAS's gemm adds into `out` itself (beta = 1), and takes views whose rows
lie further apart than their length (its "leading dimension"), so shifted windows of an
array enter it without a copy. SciPy exports the Fortran BLAS it links for Cython
(scipy.linalg.cython_blas); its gemm is called here through ctypes. Without SciPy, for
other dtypes, or for views BLAS cannot take, NumPy computes the same sum.
"""
import ctypes

import numpy

_GEMM_NAMES = {numpy.dtype(numpy.float32): "sgemm", numpy.dtype(numpy.float64): "dgemm"}
_INT_MAX = 2 ** 31 - 1  # SciPy's BLAS takes 32-bit integers


def _load():
    """{dtype: (gemm function, its ctypes scalar type)} from SciPy's Cython BLAS; {} without SciPy."""
    try:
        from scipy.linalg import cython_blas
    except ImportError:
        return {}
    name_of = ctypes.pythonapi.PyCapsule_GetName
    name_of.restype, name_of.argtypes = ctypes.c_char_p, [ctypes.py_object]
    pointer_of = ctypes.pythonapi.PyCapsule_GetPointer
    pointer_of.restype, pointer_of.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    found = {}
    for dtype, name in _GEMM_NAMES.items():
        capsule = cython_blas.__pyx_capi__[name]
        scalar = ctypes.c_float if dtype == numpy.float32 else ctypes.c_double
        # gemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc): every argument by pointer
        signature = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, *[ctypes.POINTER(ctypes.c_int)] * 3,
                                     ctypes.POINTER(scalar), ctypes.c_void_p, ctypes.POINTER(ctypes.c_int),
                                     ctypes.c_void_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(scalar),
                                     ctypes.c_void_p, ctypes.POINTER(ctypes.c_int))
        found[dtype] = signature(pointer_of(capsule, name_of(capsule))), scalar
    return found


GEMM = _load()


def _fortran(a):
    """(trans, leading dimension) that present row-major product operand `a` (M, K) to column-major
    Fortran BLAS as aᵀ, or None when no (trans, ld) describes its strides."""
    size = a.itemsize
    rows, cols = a.shape
    s0, s1 = a.strides
    if (s1 == size or cols == 1) and s0 % size == 0 and max(cols, 1) <= s0 // size <= _INT_MAX:
        return b"N", s0 // size  # row-major: its memory is aᵀ, column-major, rows s0 apart
    if (s0 == size or rows == 1) and s1 % size == 0 and max(rows, 1) <= s1 // size <= _INT_MAX:
        return b"T", s1 // size  # column-major: its memory is a itself, so BLAS transposes it
    return None


def matmul_add(a, b, out, add=True):
    """out += a · b (or out = a · b when not `add`) for 2-D `a` (M, K), `b` (K, P), `out` (M, P), any of
    them strided views; one gemm with beta = 1 (0) where BLAS takes them, else NumPy; returns `out`."""
    found = GEMM.get(out.dtype) if a.dtype == b.dtype == out.dtype else None
    fa, fb, fo = _fortran(a), _fortran(b), _fortran(out)
    if found is None or None in (fa, fb, fo) or fo[0] != b"N" or max(out.shape + a.shape) > _INT_MAX:
        if add:
            out += a @ b
        else:
            numpy.matmul(a, b, out=out)
        return out
    gemm, scalar = found
    m, k = a.shape
    p = b.shape[1]
    if 0 in (m, k, p):
        if not add:
            out[...] = 0
        return out
    i = ctypes.c_int
    # Row-major out = a · b is column-major outᵀ = bᵀ · aᵀ.
    gemm(fb[0], fa[0], i(p), i(m), i(k), scalar(1), b.ctypes.data, i(fb[1]), a.ctypes.data, i(fa[1]),
         scalar(1 if add else 0), out.ctypes.data, i(fo[1]))
    return out
