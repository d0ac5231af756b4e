"""Window arguments of convolution and pooling layers: int-or-pair sizes, and the output size they give."""


def pair(value, name, minimum):
    """`value` (int or pair of ints) as a tuple (a, b); ValueError if not integers >= `minimum`."""
    items = (value, value) if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else None
    if items is None or len(items) != 2 or not all(isinstance(v, int) and v >= minimum for v in items):
        raise ValueError(f"{name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return items


def check_window(layer, shape, kernel, stride, padding, dilation=(1, 1)):
    """The output (OH, OW) of sliding `kernel` over `shape`'s padded H, W.

    Raises ValueError naming `layer` when the kernel does not fit in the padded input."""
    out = []
    for size, k, s, p, d in zip(shape[2:], kernel, stride, padding, dilation):
        span = d * (k - 1) + 1
        if size + 2 * p < span:
            raise ValueError(f"{type(layer).__name__}: input of spatial size {tuple(shape[2:])} (padding "
                             f"{tuple(padding)}) is smaller than the kernel {tuple(kernel)} (dilation "
                             f"{tuple(dilation)}); got input shape {tuple(shape)}")
        out.append((size + 2 * p - span) // s + 1)
    return tuple(out)
