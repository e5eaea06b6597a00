"""Image convolution and the convolutional layer, in NumPy.

Two operations share the name "convolution" and the course keeps them apart:

* :func:`convolve2d` is the **true 2D convolution** of signal processing,

  .. math:: y(i, j) = \\sum_{k_1=0}^{M_1-1} \\sum_{k_2=0}^{M_2-1} w(k_1, k_2)\\, x(i - k_1, j - k_2),

  in which the kernel is flipped as it slides over the image. It returns the same numbers as
  :func:`scipy.signal.convolve2d` and adds an ``"edge"`` boundary (replicate the outermost rows
  and columns).

* :func:`conv2d` is what a deep learning convolutional layer computes: a multichannel
  **cross-correlation** (no flip) plus a bias, with stride, zero padding and dilation. It returns
  the same numbers as :func:`torch.nn.functional.conv2d`.

Both are written as a sum over kernel positions: for every tap ``(k1, k2)`` of the kernel, a
shifted view of the (padded) input is scaled and added to the output. That is the formula read
left to right, and it keeps memory use at the size of the output.
"""

from __future__ import annotations

import numbers

import numpy as np

MODES = ("full", "same", "valid")
"""Output sizes of :func:`convolve2d`, named as in :func:`scipy.signal.convolve2d`."""

BOUNDARIES = ("fill", "symm", "edge", "wrap")
"""How :func:`pad2d` and :func:`convolve2d` extend an image beyond its border.

``fill``  a constant (``fillvalue``; zero padding when it is 0),
``symm``  mirror the image, the border pixel included (``abc|cba``),
``edge``  repeat the outermost row or column (``abc|ccc``),
``wrap``  continue periodically (``abc|abc``).
"""

_NUMPY_PAD_MODE = {"fill": "constant", "symm": "symmetric", "edge": "edge", "wrap": "wrap"}


# --------------------------------------------------------------------------- argument checks
def _as_numeric_array(value, name: str, ndim: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "biufc":
        raise ValueError(f"{name} must hold numbers, got an array of dtype {array.dtype}")
    if array.ndim not in ndim:
        wanted = " or ".join(f"{n}D" for n in ndim)
        raise ValueError(f"{name} must be a {wanted} array, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} must not be empty, got shape {array.shape}")
    if array.dtype.kind == "b":
        array = array.astype(np.int64)
    return array


def _pair(value, name: str, minimum: int) -> tuple[int, int]:
    """Read an int or a pair of ints (vertical, horizontal), each at least ``minimum``."""
    items = (value, value) if isinstance(value, numbers.Integral) else value
    try:
        items = tuple(items)
    except TypeError:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}") from None
    if len(items) != 2 or not all(isinstance(v, numbers.Integral) for v in items):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return int(items[0]), int(items[1])


def _pad_widths(width) -> tuple[tuple[int, int], tuple[int, int]]:
    """Read ``v``, ``(v_rows, v_cols)`` or ``((top, bottom), (left, right))``."""
    message = (
        "width must be an int, a pair (rows, columns) or a pair of pairs "
        f"((top, bottom), (left, right)) of non-negative ints, got {width!r}"
    )
    if isinstance(width, numbers.Integral):
        width = (width, width)
    try:
        rows, cols = width
    except (TypeError, ValueError):
        raise ValueError(message) from None
    widths = []
    for side in (rows, cols):
        before, after = (side, side) if isinstance(side, numbers.Integral) else tuple(side)
        if not all(isinstance(v, numbers.Integral) and v >= 0 for v in (before, after)):
            raise ValueError(message)
        widths.append((int(before), int(after)))
    return widths[0], widths[1]


def _check_choice(value, name: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


# --------------------------------------------------------------------------- padding and sizes
def pad2d(image, width, boundary: str = "fill", fillvalue=0) -> np.ndarray:
    """Extend the last two axes of ``image`` beyond its border.

    Parameters
    ----------
    image : array_like, at least 2D
        An image ``(H, W)`` or a stack of them, e.g. ``(N, C, H, W)``; only the last two axes
        are padded.
    width : int, pair, or pair of pairs
        ``v`` pads a ribbon ``v`` pixels wide on every side; ``(v1, v2)`` pads ``v1`` rows at the
        top and bottom and ``v2`` columns left and right; ``((top, bottom), (left, right))``
        gives every side its own width.
    boundary : {"fill", "symm", "edge", "wrap"}
        What the ribbon holds; see :data:`BOUNDARIES`.
    fillvalue : scalar
        The constant of the ``"fill"`` boundary (0 gives zero padding).
    """
    array = np.asarray(image)
    if array.ndim < 2:
        raise ValueError(f"image must have at least 2 dimensions, got shape {array.shape}")
    _check_choice(boundary, "boundary", BOUNDARIES)
    if np.ndim(fillvalue) != 0:
        raise ValueError(f"fillvalue must be a scalar, got {fillvalue!r}")
    rows, cols = _pad_widths(width)
    if boundary != "fill" and 0 in array.shape[-2:] and (rows != (0, 0) or cols != (0, 0)):
        raise ValueError(f"cannot pad an empty image with boundary={boundary!r}")
    pad = [(0, 0)] * (array.ndim - 2) + [rows, cols]
    if boundary == "fill":
        return np.pad(array, pad, mode="constant", constant_values=fillvalue)
    return np.pad(array, pad, mode=_NUMPY_PAD_MODE[boundary])


def conv_output_size(size: int, kernel_size: int, stride: int = 1, padding=0, dilation: int = 1) -> int:
    """Length of a convolution output along one axis.

    ``floor((size + pad_before + pad_after - dilation * (kernel_size - 1) - 1) / stride) + 1``.
    ``padding`` is an int (the same on both sides) or a pair ``(before, after)``. With stride 1,
    no padding and no dilation this is the *valid* size ``size - kernel_size + 1``, which for an
    odd kernel ``2v + 1`` is ``size - 2v``.

    Raises ValueError when the (dilated) kernel does not fit in the padded input.
    """
    for name, value, minimum in (("size", size, 1), ("kernel_size", kernel_size, 1),
                                 ("stride", stride, 1), ("dilation", dilation, 1)):
        if not isinstance(value, numbers.Integral) or value < minimum:
            raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    before, after = _pair(padding, "padding", 0)
    span = dilation * (kernel_size - 1) + 1
    padded = size + before + after
    if span > padded:
        raise ValueError(
            f"the kernel spans {span} pixels (size {kernel_size}, dilation {dilation}) but the "
            f"padded input has only {padded} ({size} + {before} + {after})"
        )
    return (padded - span) // stride + 1


# --------------------------------------------------------------------------- true convolution
def convolve2d(image, kernel, mode: str = "full", boundary: str = "fill", fillvalue=0) -> np.ndarray:
    """True 2D convolution of ``image`` (N1 x N2) with ``kernel`` (M1 x M2).

    ``y(i, j) = sum_{k1, k2} w(k1, k2) x(i - k1, j - k2)``: the kernel is flipped in both
    directions before it slides over the image.

    Parameters
    ----------
    mode : {"full", "same", "valid"}
        ``full`` keeps every position where kernel and image overlap, ``(N1+M1-1, N2+M2-1)``;
        ``same`` keeps the centre of the full output, the size of the image; ``valid`` keeps the
        positions where the kernel lies wholly inside the image, ``(N1-M1+1, N2-M2+1)``.
    boundary : {"fill", "symm", "edge", "wrap"}
        How the image is extended for ``full`` and ``same`` (see :func:`pad2d`).
    fillvalue : scalar
        The value outside the image for ``boundary="fill"``.

    Returns the same values as ``scipy.signal.convolve2d`` for the boundaries both know
    (``fill``, ``symm``, ``wrap``), with dtype ``numpy.result_type(image, kernel)``.
    """
    x = _as_numeric_array(image, "image", (2,))
    w = _as_numeric_array(kernel, "kernel", (2,))
    _check_choice(mode, "mode", MODES)
    _check_choice(boundary, "boundary", BOUNDARIES)
    if np.ndim(fillvalue) != 0:
        raise ValueError(f"fillvalue must be a scalar, got {fillvalue!r}")

    if mode == "valid":
        if w.shape[0] > x.shape[0] or w.shape[1] > x.shape[1]:
            if w.shape[0] >= x.shape[0] and w.shape[1] >= x.shape[1]:
                x, w = w, x  # convolution is commutative; scipy swaps the same way
            else:
                raise ValueError(
                    "mode='valid' needs the kernel to fit inside the image in both directions "
                    f"(or the image inside the kernel); got image {x.shape} and kernel {w.shape}"
                )
        padded = x
    else:
        m1, m2 = w.shape
        if mode == "full":
            width = ((m1 - 1, m1 - 1), (m2 - 1, m2 - 1))
        else:  # "same": the centre of the full output
            width = ((m1 // 2, (m1 - 1) // 2), (m2 // 2, (m2 - 1) // 2))
        padded = pad2d(x, width, boundary=boundary, fillvalue=fillvalue)

    m1, m2 = w.shape
    out_shape = (padded.shape[0] - m1 + 1, padded.shape[1] - m2 + 1)
    out = np.zeros(out_shape, dtype=np.result_type(x.dtype, w.dtype))
    # Output (i, j) reads the padded input at (i + m1-1 - k1, j + m2-1 - k2): the flipped kernel.
    for k1 in range(m1):
        for k2 in range(m2):
            r, c = m1 - 1 - k1, m2 - 1 - k2
            out += w[k1, k2] * padded[r:r + out_shape[0], c:c + out_shape[1]]
    return out


# --------------------------------------------------------------------------- convolutional layer
def conv2d(x, w, b=None, stride=1, padding=0, dilation=1) -> np.ndarray:
    """Forward pass of a 2D convolutional layer, as deep learning libraries define it.

    ``y[n, f, i, j] = b[f] + sum_{c, u, v} w[f, c, u, v] * xp[n, c, i*s1 + u*d1, j*s2 + v*d2]``
    where ``xp`` is ``x`` zero-padded. This is a cross-correlation: the kernel is **not**
    flipped (a learned kernel can absorb the flip), and it sums over all input channels.

    Parameters
    ----------
    x : array_like, shape (N, C, H, W) or (C, H, W)
        A batch of C-channel images (or a single one).
    w : array_like, shape (F, C, KH, KW)
        F filters, each with one KH x KW kernel per input channel.
    b : array_like, shape (F,), optional
        One bias per filter.
    stride, dilation : int or pair of ints >= 1
    padding : int or pair of ints >= 0, or "valid" (no padding) or "same" (output as large as the
        input; stride 1 only, the extra pixel of an even total going after, as in PyTorch).

    Returns an array of shape (N, F, H_out, W_out) (or (F, H_out, W_out) for a single image)
    with ``H_out = conv_output_size(H, KH, stride, padding, dilation)``.
    """
    x = _as_numeric_array(x, "x", (3, 4))
    w = _as_numeric_array(w, "w", (4,))
    single = x.ndim == 3
    if single:
        x = x[np.newaxis]
    n, c, h, wid = x.shape
    f, cw, kh, kw = w.shape
    if cw != c:
        raise ValueError(
            f"w has {cw} input channels (shape {w.shape}) but x has {c} (shape {x.shape})"
        )
    if b is not None:
        b = _as_numeric_array(b, "b", (1,))
        if b.shape != (f,):
            raise ValueError(f"b must have shape ({f},), one bias per filter; got {b.shape}")
    s1, s2 = _pair(stride, "stride", 1)
    d1, d2 = _pair(dilation, "dilation", 1)

    if isinstance(padding, str):
        _check_choice(padding, "padding", ("valid", "same"))
        if padding == "valid":
            rows, cols = (0, 0), (0, 0)
        else:
            if (s1, s2) != (1, 1):
                raise ValueError(f"padding='same' needs stride 1, got stride {stride!r}")
            total_r, total_c = d1 * (kh - 1), d2 * (kw - 1)
            rows = (total_r // 2, total_r - total_r // 2)
            cols = (total_c // 2, total_c - total_c // 2)
    else:
        p1, p2 = _pair(padding, "padding", 0)
        rows, cols = (p1, p1), (p2, p2)

    h_out = conv_output_size(h, kh, s1, rows, d1)
    w_out = conv_output_size(wid, kw, s2, cols, d2)
    xp = pad2d(x, (rows, cols), boundary="fill", fillvalue=0)

    dtype = np.result_type(x.dtype, w.dtype, *(() if b is None else (b.dtype,)))
    y = np.zeros((n, f, h_out, w_out), dtype=dtype)
    for u in range(kh):
        for v in range(kw):
            r, q = u * d1, v * d2
            patch = xp[:, :, r:r + s1 * (h_out - 1) + 1:s1, q:q + s2 * (w_out - 1) + 1:s2]
            # (N, C, H_out, W_out) x (F, C) -> (N, F, H_out, W_out): the sum over channels
            y += np.einsum("nchw,fc->nfhw", patch, w[:, :, u, v])
    if b is not None:
        y += b[np.newaxis, :, np.newaxis, np.newaxis]
    return y[0] if single else y
