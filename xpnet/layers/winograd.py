"""Winograd's minimal filtering (Lavin & Gray, 2016): 3x3 convolutions with fewer multiplications.

F(m x m, 3 x 3) computes an m x m tile of output from an (m + 2) x (m + 2) tile of input,
with matrices B, G and A that depend only on m:

    Y = Aᵀ [ (G w Gᵀ) ⊙ (Bᵀ d B) ] A

Summed over input channels, the elementwise product becomes (m + 2)² matrix products
U (O, C) · V (C, tiles), one per position of the transformed tile: (m + 2)² / m²
multiplications per output instead of 9 (4 for F(2, 3), 2.25 for F(4, 3)). The
transforms are small matrix products over all tiles at once, through `xp`, so the GPU
runs the same code. The gradients follow from the same algebra: the weight gradient
sums dM · Vᵀ over the tiles, with dM the output gradient's tiles transformed by A, and
the input gradient of a stride-1 convolution is another stride-1 convolution, of the
padded output gradient with the kernel flipped and its channels swapped (adjoint.py).

It applies to "same" 3x3 convolutions (stride 1, padding 1, undilated, ungrouped)
whose output is whole m x m tiles; Conv2D runs it where it measures fastest (conv.py).
"""
import math

from ..backend import asarray, current, layout, ops, xp
from . import adjoint

# Bᵀ, G, Aᵀ for F(2x2, 3x3) and F(4x4, 3x3) (interpolation points 0, ±1 and 0, ±1, ±2, plus infinity).
MATRICES = {
    2: ([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
        [[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]],
        [[1, 1, 1, 0], [0, 1, -1, -1]]),
    4: ([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
         [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
        [[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6],
         [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]],
        [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]),
}


def applies(conv, size, m):
    """Whether F(m, 3) computes Conv2D `conv` with output size `size` = (OH, OW): a "same" 3x3 convolution
    (stride 1, padding 1, undilated, ungrouped) whose output (equal to its input) is whole m x m tiles."""
    same3x3 = (conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups) == ((3, 3), (1, 1),
                                                                                           (1, 1), (1, 1), 1)
    return same3x3 and size[0] % m == 0 and size[1] % m == 0


_on_backend = {}  # (backend, m, dtype) -> the matrices, copied to the device once rather than at every call


def _matrices(m, dtype):
    """(Bᵀ ⊗ Bᵀ, Aᵀ ⊗ Aᵀ, G) for F(m, 3): the Kronecker products transform a tile flattened row by row."""
    key = (current(), m, xp.dtype(dtype))
    if key not in _on_backend:
        bt, g, at = (asarray(a, dtype) for a in MATRICES[m])
        _on_backend[key] = xp.kron(bt, bt), xp.kron(at, at), g
    return _on_backend[key]


def _tiles(a, rows, m, t):
    """A view (t, t, C, len(rows), tile columns, N) of the t x t tiles, m apart, of batch-last `a` (C, H, W, N)
    in tile rows `rows`: element (i, j, c, r, k, n) is a[c, (rows.start + r)*m + i, k*m + j, n]."""
    c, _, w, n = a.shape
    sc, sh, sw, sn = a.strides
    count = (w - t) // m + 1
    return xp.lib.stride_tricks.as_strided(a[:, rows.start * m:], (t, t, c, len(rows), count, n),
                                           (sh, sw, sc, m * sh, m * sw, sn))


def _transformed_input(xb, rows, m, bb, name):
    """V (t², C, P): the tiles of batch-last `xb` (C, H, W, N) in tile rows `rows`, transformed by Bᵀ d B."""
    t = m + 2
    d = _tiles(xb, rows, m, t)
    shape = d.shape
    flat = ops.scratch(name + ".tiles", math.prod(shape), xb.dtype).reshape(shape)
    flat[...] = d
    v = ops.scratch(name, math.prod(shape), xb.dtype).reshape(t * t, -1)
    ops.matmul(bb[None], flat.reshape(1, t * t, -1), out=v[None])
    return v.reshape(t * t, shape[2], -1)


def _blocks(tile_rows, row_bytes):
    return [range(a, b) for a, b in ops.row_blocks(tile_rows, row_bytes)]


def conv2d(xpad, weight, m):
    """y (N, O, OH, OW), stored batch-last: the stride-1 convolution of the padded `xpad` (N, C, H, W) with
    weight (O, C, 3, 3), by F(m x m, 3 x 3) over blocks of tile rows."""
    t = m + 2
    o, c = weight.shape[:2]
    xb = layout.batch_last(xpad)  # (C, H, W, N)
    _, h, w, n = xb.shape
    oh, ow = h - 2, w - 2
    dtype = xp.result_type(xpad, weight)
    bb, aa, g = _matrices(m, dtype)
    u = xp.einsum("xi,ocij,yj->xyoc", g, weight.astype(dtype, copy=False), g)
    u = u.reshape(t * t, o, c)
    y = layout.empty((n, o, oh, ow), dtype)
    yb = layout.batch_last(y)  # (O, OH, OW, N), written tile row by tile row
    xb = xb.astype(dtype, copy=False)
    for rows in _blocks(oh // m, t * t * max(c, o) * (ow // m) * n * xb.itemsize):
        v = _transformed_input(xb, rows, m, bb, "winograd.v")
        prod = ops.matmul(u, v, out=ops.scratch("winograd.m", t * t * o * v.shape[2], dtype).reshape(t * t, o, -1))
        out = ops.scratch("winograd.y", m * m * o * v.shape[2], dtype).reshape(1, m * m, -1)
        ops.matmul(aa[None], prod.reshape(1, t * t, -1), out=out)
        dest = _tiles(yb, rows, m, m)  # (m, m, O, rows, TW, N) view of y
        dest[...] = out.reshape(dest.shape)
    return y


def weight_grad(xpad, dy, m):
    """dL/dweight (O, C, 3, 3) of `conv2d(xpad, weight, m)` from its output gradient dy (N, O, OH, OW)."""
    t = m + 2
    xb, db = layout.batch_last(xpad), layout.batch_last(dy)  # (C, H, W, N), (O, OH, OW, N)
    c, o = xb.shape[0], db.shape[0]
    oh, ow, n = db.shape[1:]
    dtype = xp.result_type(xpad, dy)
    bb, aa, g = _matrices(m, dtype)
    du = xp.zeros((t * t, o, c), dtype)
    xb = xb.astype(dtype, copy=False)
    for rows in _blocks(oh // m, t * t * max(c, o) * (ow // m) * n * xb.itemsize):
        v = _transformed_input(xb, rows, m, bb, "winograd.v")
        tiles = _tiles(db, rows, m, m)  # (m, m, O, rows, TW, N)
        flat = ops.scratch("winograd.dy", math.prod(tiles.shape), dtype).reshape(tiles.shape)
        flat[...] = tiles
        dm = ops.scratch("winograd.m", t * t * o * v.shape[2], dtype).reshape(1, t * t, -1)
        ops.matmul(aa.T[None], flat.reshape(1, m * m, -1), out=dm)  # dM = A dY Aᵀ, tile by tile
        du += ops.matmul_nt(v, dm.reshape(t * t, o, -1)).transpose(0, 2, 1)
    du = du.reshape(t, t, o, c)
    return xp.einsum("xi,xyoc,yj->ocij", g, du, g)


def input_grad(dy, weight, m):
    """dL/dx (N, C, H, W) of a "same" 3x3 convolution from its output gradient: the same convolution of dy
    with the kernel flipped and its input and output channels swapped (adjoint.py)."""
    return conv2d(adjoint.framed(dy, (3, 3), (1, 1), (1, 1)), adjoint.flipped(weight), m)
