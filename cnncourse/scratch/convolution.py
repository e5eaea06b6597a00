"""Image convolution and the convolutional layer, in NumPy.

Two operations share the name "convolution" and the course keeps them apart:

* :func:`convolve2d` is the **true 2D convolution** of signal processing,

  .. math:: y(i, j) = \\sum_{k_1=0}^{M_1-1} \\sum_{k_2=0}^{M_2-1} w(k_1, k_2)\\, x(i - k_1, j - k_2),

  in which the kernel is flipped as it slides over the image. It returns the same numbers as
  :func:`scipy.signal.convolve2d` and adds an ``"edge"`` boundary (replicate the outermost rows
  and columns). It is written as a sum over kernel taps: for every tap ``(k1, k2)`` a shifted
  view of the padded image is scaled and added to the output.

* The **convolutional layer** of a network computes a multichannel **cross-correlation** (no
  flip) plus a bias, with stride, zero padding and dilation, the same numbers as
  :func:`torch.nn.functional.conv2d`:

  - :func:`conv2d_loops` is the formula written as loops, one output pixel at a time (slow; for
    reading and as a reference on small inputs);
  - :func:`conv2d` is the fast forward pass;
  - :func:`conv2d_forward` / :func:`conv2d_backward` are the pair a network trains with;
  - :class:`Conv2d` is the layer with its weight and bias as parameters.

The fast passes turn the convolution into one matrix product (*im2col*): the ``C KH KW`` input
values that one output pixel reads are copied, through a strided view of the padded input, into a
column of a matrix, and the ``F`` filters, flattened to the rows of a ``F x C KH KW`` matrix,
multiply all the columns at once. The backward pass uses the same columns: the weight gradient is
the product of the output gradient with them, and the input gradient is the product of the
transposed weights with the output gradient, added back to the pixels the columns came from
(*col2im*). The images go through in blocks whose column matrix fits in the processor's cache.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided

from cnncourse import _checks
from cnncourse.registry import LayerSpec, Sample, register_layer
from cnncourse.scratch.init import he_normal
from cnncourse.scratch.layer import Layer, Parameter

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
    _checks.check_choice(boundary, "boundary", BOUNDARIES)
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
    before, after = _checks.pair(padding, "padding", 0)
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
    x = _checks.as_array(image, "image", (2,))
    w = _checks.as_array(kernel, "kernel", (2,))
    _checks.check_choice(mode, "mode", MODES)
    _checks.check_choice(boundary, "boundary", BOUNDARIES)
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
_BLOCK_BYTES = 4 << 20
"""Bytes of column matrix the fast passes build per block of images (sized for the L3 cache)."""


@dataclass(frozen=True)
class _Geometry:
    """The sizes of one convolution, read once from its arguments."""

    batch: int
    channels: int
    height: int
    width: int
    filters: int
    kernel: tuple
    stride: tuple
    dilation: tuple
    rows: tuple  # zero padding (top, bottom)
    cols: tuple  # zero padding (left, right)
    out: tuple  # (H_out, W_out)
    single: bool  # the input was one (C, H, W) image
    dtype: np.dtype

    @property
    def padded(self) -> bool:
        return any(self.rows) or any(self.cols)

    @property
    def padded_shape(self) -> tuple:
        return (self.height + sum(self.rows), self.width + sum(self.cols))

    @property
    def column_length(self) -> int:
        """Values one output pixel reads: C KH KW."""
        return self.channels * self.kernel[0] * self.kernel[1]

    @property
    def on_grid(self) -> bool:
        """Whether the fast passes compute every column of the padded input (see :func:`_columns`).

        Only with stride 1, and only while the columns computed in vain stay under a quarter.
        """
        extra = self.padded_shape[1] - self.out[1]
        return self.stride == (1, 1) and 4 * extra <= self.out[1]

    @property
    def row_length(self) -> int:
        """Outputs computed per output row: W_out, or W_p on the grid."""
        return self.padded_shape[1] if self.on_grid else self.out[1]

    @property
    def buffer_shape(self) -> tuple:
        """(rows, columns) of one padded image in the buffers: one row more on the grid."""
        rows, cols = self.padded_shape
        return (rows + 1, cols) if self.on_grid else (rows, cols)


def _layer_arguments(x, w, b, stride, padding, dilation):
    """Check the arguments of a convolutional layer; return x as 4D, w, b and the geometry."""
    x = _checks.as_array(x, "x", (3, 4))
    w = _checks.as_array(w, "w", (4,))
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
        b = _checks.as_array(b, "b", (1,))
        if b.shape != (f,):
            raise ValueError(f"b must have shape ({f},), one bias per filter; got {b.shape}")
    s1, s2 = _checks.pair(stride, "stride", 1)
    d1, d2 = _checks.pair(dilation, "dilation", 1)
    if isinstance(padding, str):
        _checks.check_choice(padding, "padding", ("valid", "same"))
        if padding == "valid":
            rows, cols = (0, 0), (0, 0)
        else:
            if (s1, s2) != (1, 1):
                raise ValueError(f"padding='same' needs stride 1, got stride {stride!r}")
            total_r, total_c = d1 * (kh - 1), d2 * (kw - 1)
            rows = (total_r // 2, total_r - total_r // 2)
            cols = (total_c // 2, total_c - total_c // 2)
    else:
        p1, p2 = _checks.pair(padding, "padding", 0)
        rows, cols = (p1, p1), (p2, p2)
    h_out = conv_output_size(h, kh, s1, rows, d1)
    w_out = conv_output_size(wid, kw, s2, cols, d2)
    dtype = np.result_type(x.dtype, w.dtype, *(() if b is None else (b.dtype,)))
    geometry = _Geometry(n, c, h, wid, f, (kh, kw), (s1, s2), (d1, d2), rows, cols,
                         (h_out, w_out), single, dtype)
    return x, w, b, geometry


def conv2d_loops(x, w, b=None, stride=1, padding=0, dilation=1) -> np.ndarray:
    r"""Forward pass of a convolutional layer, one output pixel at a time (slow, for reading).

    .. math::
        y(n, o, i, j) = b(o) + \sum_{r=0}^{C-1} \sum_{u=0}^{K_H-1} \sum_{v=0}^{K_W-1}
        w(o, r, u, v)\, x_p(n, r,\, i s_1 + u d_1,\, j s_2 + v d_2)

    The loops follow the formula: for every image ``n``, output channel ``o`` and output pixel
    ``(i, j)``, the block :math:`X_{ij}(r)` of every input channel ``r`` under the kernel is
    multiplied by the kernel ``w[o, r]`` and summed. Use it on small inputs only; it returns the
    same numbers as :func:`conv2d`, whose arguments, shapes and dtype it shares.
    """
    x, w, b, g = _layer_arguments(x, w, b, stride, padding, dilation)
    xp = pad2d(x, (g.rows, g.cols))
    (s1, s2), (d1, d2), (kh, kw) = g.stride, g.dilation, g.kernel
    span1, span2 = d1 * (kh - 1) + 1, d2 * (kw - 1) + 1  # rows and columns a kernel spans
    y = np.zeros((g.batch, g.filters) + g.out, dtype=g.dtype)
    for n in range(g.batch):
        for o in range(g.filters):
            for i in range(g.out[0]):
                for j in range(g.out[1]):
                    total = 0 if b is None else b[o]
                    for r in range(g.channels):
                        # X_ij(r): the KH x KW pixels of channel r under the kernel
                        block = xp[n, r, i * s1:i * s1 + span1:d1, j * s2:j * s2 + span2:d2]
                        total += np.sum(w[o, r] * block)
                    y[n, o, i, j] = total
    return y[0] if g.single else y


def _blocks(g: _Geometry):
    """Split the batch into blocks whose columns take about ``_BLOCK_BYTES``; allocate the buffers.

    Returns ``(ranges, pad_buffer, cols_buffer)``: the ``(start, stop)`` of every block, a zeroed
    buffer for a block of padded images (None when the images can be read in place) and a flat
    buffer for a block's columns.
    """
    per_image = g.column_length * g.out[0] * g.row_length  # columns of one image
    per_block = max(1, min(g.batch, _BLOCK_BYTES // (per_image * g.dtype.itemsize)))
    ranges = [(start, min(g.batch, start + per_block)) for start in range(0, g.batch, per_block)]
    pad_buffer = None
    if g.padded or g.on_grid:
        pad_buffer = np.zeros((per_block, g.channels) + g.buffer_shape, g.dtype)
    return ranges, pad_buffer, np.empty(per_image * per_block, g.dtype)


def _padded_block(x, start: int, stop: int, g: _Geometry, buffer) -> np.ndarray:
    """Images ``start:stop`` of ``x`` zero-padded, in ``buffer`` (a view of ``x`` if it is None)."""
    if buffer is None:
        return x[start:stop]
    block = buffer[:stop - start]
    (top, _), (left, _) = g.rows, g.cols
    block[:, :, top:top + g.height, left:left + g.width] = x[start:stop]
    return block


def _columns(xp: np.ndarray, g: _Geometry, buffer: np.ndarray) -> np.ndarray:
    """im2col: ``cols[c, u, v, n, i, j] = xp[n, c, i s1 + u d1, j s2 + v d2]``, in ``buffer``.

    ``xp`` is a block of m padded images; the columns have shape (C, KH, KW, m, H_out, L), so
    that ``cols.reshape(C KH KW, m H_out L)`` holds one column per output pixel. A strided view
    presents every tap of every window without copying; ``copyto`` makes the copy.

    ``L`` is W_out, or on the grid (stride 1) the width W_p of the padded input: each output row
    is then computed for all W_p columns and the last W_p - W_out of them are thrown away. The
    values of one kernel tap are then one contiguous run of the input per channel and image
    (``j`` and ``i`` advance through memory together), which copies and adds much faster than
    runs of W_out values; the image buffer has one row more so that the runs stay inside it.
    """
    m, c = xp.shape[:2]
    sn, sc, sh, sw = xp.strides
    (s1, s2), (d1, d2) = g.stride, g.dilation
    shape = (c,) + g.kernel + (m, g.out[0], g.row_length)
    windows = as_strided(xp, shape=shape, strides=(sc, d1 * sh, d2 * sw, sn, s1 * sh, s2 * sw),
                         writeable=False)
    cols = buffer[:windows.size].reshape(shape)
    np.copyto(cols, windows)
    return cols


def _add_columns(dcols: np.ndarray, g: _Geometry, dxp: np.ndarray) -> None:
    """col2im, the adjoint of :func:`_columns`.

    Adds ``dcols[c, u, v, n, i, j]`` to ``dxp[n, c, i s1 + u d1, j s2 + v d2]``.

    One strided addition per kernel tap; the windows of neighbouring outputs overlap, and their
    contributions add up. (On the grid, the thrown-away columns of ``dcols`` are zero.)
    """
    m, c = dxp.shape[:2]
    sn, sc, sh, sw = dxp.strides
    (s1, s2), (d1, d2) = g.stride, g.dilation
    shape = (c, m, g.out[0], g.row_length)
    for u in range(g.kernel[0]):
        for v in range(g.kernel[1]):
            target = as_strided(dxp[:, :, u * d1:, v * d2:], shape=shape,
                                strides=(sc, sn, s1 * sh, s2 * sw))
            target += dcols[:, u, v]


def _forward(x, w, b, g: _Geometry) -> np.ndarray:
    """The fast forward pass on a 4D input: im2col and one matrix product per block of images."""
    f, k, (h_out, w_out) = g.filters, g.column_length, g.out
    w2 = w.reshape(f, k).astype(g.dtype, copy=False)
    bias = None if b is None else b.astype(g.dtype, copy=False)[:, np.newaxis, np.newaxis]
    ranges, pad_buffer, cols_buffer = _blocks(g)
    product_buffer = np.empty(f * cols_buffer.size // k, g.dtype)
    out = np.empty((g.batch, f) + g.out, g.dtype)
    for start, stop in ranges:
        cols = _columns(_padded_block(x, start, stop, g, pad_buffer), g, cols_buffer)
        columns = cols.reshape(k, -1)
        product = product_buffer[:f * columns.shape[1]].reshape(f, columns.shape[1])
        np.matmul(w2, columns, out=product)  # (F, C KH KW) @ (C KH KW, m H_out L)
        # (F, m, H_out, L) -> (m, F, H_out, W_out), a view
        by_image = product.reshape(f, stop - start, h_out, -1)[..., :w_out].transpose(1, 0, 2, 3)
        if bias is None:
            np.copyto(out[start:stop], by_image)
        else:
            np.add(by_image, bias, out=out[start:stop])
    return out


def conv2d(x, w, b=None, stride=1, padding=0, dilation=1) -> np.ndarray:
    r"""Forward pass of a 2D convolutional layer, as deep learning libraries define it.

    .. math::
        y(n, o, i, j) = b(o) + \sum_{r=0}^{C-1} \sum_{u=0}^{K_H-1} \sum_{v=0}^{K_W-1}
        w(o, r, u, v)\, x_p(n, r,\, i s_1 + u d_1,\, j s_2 + v d_2)

    where :math:`x_p` is :math:`x` zero-padded, :math:`s` the stride and :math:`d` the dilation.
    It is a cross-correlation (the kernel is not flipped; a learned kernel absorbs the flip), and
    a 2D one: the kernel moves along the rows and columns only, and the channels are summed.
    Computed by im2col and one matrix product per block of images (see the module's
    documentation); the same numbers as :func:`conv2d_loops` and
    :func:`torch.nn.functional.conv2d`.

    Args:
        x: input, shape (N, C, H, W), or (C, H, W) for a single image.
        w: filters, shape (F, C, KH, KW): one KH x KW kernel per input channel and filter.
        b: one bias per filter, shape (F,), or None for no bias.
        stride: step of the kernel, an int or a pair (rows, columns), >= 1.
        padding: zero padding, an int or a pair >= 0 (the same on both sides), or ``"valid"``
            (none) or ``"same"`` (output as large as the input; stride 1 only, the extra pixel of
            an odd total going after, as in PyTorch).
        dilation: spacing of the kernel taps (the atrous rate), an int or a pair >= 1.

    Shape:
        - x: (N, C, H, W) or (C, H, W)
        - out: (N, F, H_out, W_out) or (F, H_out, W_out), with
          ``H_out = conv_output_size(H, KH, stride, padding, dilation)`` and the same for W.

    Returns:
        The output, with dtype ``numpy.result_type(x, w, b)`` (float32 in, float32 out).

    Raises:
        TypeError: an argument of the wrong type. ValueError: a wrong shape or value, or a
        kernel that does not fit in the padded input.
    """
    x, w, b, g = _layer_arguments(x, w, b, stride, padding, dilation)
    out = _forward(x, w, b, g)
    return out[0] if g.single else out


def conv2d_forward(x, w, b=None, stride=1, padding=0, dilation=1):
    """Forward pass of a convolutional layer that keeps what its backward pass needs.

    Arguments, shapes and dtype as :func:`conv2d`.

    Returns:
        ``(out, cache)``: the output of :func:`conv2d` and the cache for :func:`conv2d_backward`
        (it holds references to ``x`` and ``w``, which must not change in between).
    """
    x4, w, b, g = _layer_arguments(x, w, b, stride, padding, dilation)
    out = _forward(x4, w, b, g)
    return (out[0] if g.single else out), (x4, w, b is not None, g)


def conv2d_backward(dout, cache):
    r"""Backward pass of :func:`conv2d_forward`: the gradients of the loss for x, w and b.

    With :math:`\delta = \partial L / \partial y` (``dout``) and the notation of
    :func:`conv2d`:

    .. math::
        \frac{\partial L}{\partial b(o)} = \sum_{n,i,j} \delta(n, o, i, j), \qquad
        \frac{\partial L}{\partial w(o, r, u, v)} = \sum_{n,i,j} \delta(n, o, i, j)\,
        x_p(n, r, i s_1 + u d_1, j s_2 + v d_2),

    .. math::
        \frac{\partial L}{\partial x_p(n, r, a, c)} = \sum_{o=0}^{F-1}
        \sum_{(i, u):\, i s_1 + u d_1 = a} \; \sum_{(j, v):\, j s_2 + v d_2 = c}
        w(o, r, u, v)\, \delta(n, o, i, j),

    and :math:`\partial L / \partial x` is the centre of :math:`\partial L / \partial x_p`.
    The last sum is a convolution too: the output gradient, spread out by the stride and padded,
    correlated with the kernel turned by 180 degrees and with input and output channels swapped.
    Here it is computed by col2im: the columns' gradient ``w^T delta`` added back to the pixels
    the columns were copied from.

    Args:
        dout: gradient of the loss with respect to the output, shape of ``out``.
        cache: the second value returned by :func:`conv2d_forward`.

    Returns:
        ``(dx, dw, db)`` with the shapes of ``x``, ``w`` and ``b``; ``db`` is None when the
        forward pass had no bias. Dtype: that of the forward output.
    """
    x, w, has_bias, g = cache
    out_shape = (g.batch, g.filters) + g.out
    dout = _checks.as_array(dout, "dout", 3 if g.single else 4)
    if g.single:
        dout = dout[np.newaxis]
    if dout.shape != out_shape:
        expected = out_shape[1:] if g.single else out_shape
        raise ValueError(f"dout must have the shape of the forward output {expected}, "
                         f"got {dout.shape[1:] if g.single else dout.shape}")
    f, k, (h_out, w_out) = g.filters, g.column_length, g.out
    w2 = w.reshape(f, k).astype(g.dtype, copy=False)
    ranges, pad_buffer, cols_buffer = _blocks(g)
    per_block = ranges[0][1] - ranges[0][0]
    dpad_buffer = np.empty((per_block, g.channels) + g.buffer_shape, g.dtype)
    grad_buffer = np.empty(f * cols_buffer.size // k, g.dtype)
    dx = np.empty((g.batch, g.channels, g.height, g.width), g.dtype)
    dw2 = np.zeros((f, k), g.dtype)
    db = np.zeros(f, g.dtype) if has_bias else None
    (top, _), (left, _) = g.rows, g.cols
    for start, stop in ranges:
        m = stop - start
        cols = _columns(_padded_block(x, start, stop, g, pad_buffer), g, cols_buffer)
        columns = cols.reshape(k, -1)
        # the output gradient laid out like the product of the forward pass: (F, m, H_out, L)
        grad = grad_buffer[:f * columns.shape[1]].reshape(f, m, h_out, -1)
        np.copyto(grad[..., :w_out], dout[start:stop].transpose(1, 0, 2, 3))
        grad[..., w_out:] = 0  # the columns thrown away on the grid
        grad2 = grad.reshape(f, -1)
        if has_bias:
            db += grad2.sum(axis=1)
        dw2 += grad2 @ columns.T  # (F, m H_out L) @ (m H_out L, C KH KW)
        np.matmul(w2.T, grad2, out=columns)  # the columns' gradient, in place of the columns
        dxp = dpad_buffer[:m]
        dxp[...] = 0
        _add_columns(cols, g, dxp)
        dx[start:stop] = dxp[:, :, top:top + g.height, left:left + g.width]
    return (dx[0] if g.single else dx), dw2.reshape(w.shape), db



class Conv2d(Layer):
    """A 2D convolutional layer with a learnable weight and bias, over :func:`conv2d_forward`.

    The weight starts from He initialisation, :math:`w \\sim \\mathcal{N}(0, 2 / (C K_H K_W))`
    (:func:`cnncourse.scratch.init.he_normal`), and the bias at zero. ``backward`` adds the
    gradients to ``weight.grad`` and ``bias.grad`` (they accumulate until ``zero_grad``) and
    returns the gradient for the input.

    Args:
        in_channels: C, the channels of the input.
        out_channels: F, the number of filters.
        kernel_size: KH x KW, an int or a pair.
        stride, padding, dilation: as in :func:`conv2d`.
        bias: whether the layer has a bias.
        rng: None, an int seed or a :class:`numpy.random.Generator` for the initial weights.
        dtype: the parameters' float dtype.

    Shape:
        - input: (N, C, H, W) or (C, H, W)
        - output: (N, F, H_out, W_out) or (F, H_out, W_out)
    """

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 bias=True, rng=None, dtype=np.float64):
        c = _checks.integer(in_channels, "in_channels", minimum=1)
        f = _checks.integer(out_channels, "out_channels", minimum=1)
        kernel = _checks.pair(kernel_size, "kernel_size", 1)
        self.stride = _checks.pair(stride, "stride", 1)
        self.dilation = _checks.pair(dilation, "dilation", 1)
        if isinstance(padding, str):
            self.padding = _checks.check_choice(padding, "padding", ("valid", "same"))
        else:
            self.padding = _checks.pair(padding, "padding", 0)
        has_bias = _checks.boolean(bias, "bias")
        dtype = _checks.float_dtype(dtype)
        self.weight = Parameter(he_normal((f, c) + kernel, rng=rng, dtype=dtype), "weight")
        self.bias = Parameter(np.zeros(f, dtype), "bias") if has_bias else None
        self._cache = None

    def forward(self, x):
        b = None if self.bias is None else self.bias.data
        out, self._cache = conv2d_forward(x, self.weight.data, b, self.stride, self.padding,
                                          self.dilation)
        return out

    def backward(self, dout):
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        dx, dw, db = conv2d_backward(dout, self._cache)
        self.weight.grad += dw
        if self.bias is not None:
            self.bias.grad += db
        return dx

    def extra_repr(self) -> str:
        f, c, kh, kw = self.weight.shape
        return (f"{c}, {f}, kernel_size={(kh, kw)}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, bias={self.bias is not None}")


# --------------------------------------------------------------------------- registry
_CONV_SETTINGS = [
    # (x shape, (F, KH, KW), hyper-parameters)
    ((2, 3, 7, 7), (4, 3, 3), {}),
    ((2, 2, 6, 7), (3, 1, 1), {}),
    ((1, 4, 7, 6), (2, 1, 1), dict(stride=2, padding=1)),
    ((2, 2, 9, 8), (3, 2, 3), dict(stride=(1, 2), padding=(2, 1))),
    ((1, 3, 10, 9), (2, 3, 3), dict(stride=3, padding=1, dilation=2)),
    ((2, 2, 11, 10), (2, 3, 2), dict(stride=2, padding=(0, 2), dilation=(3, 1))),
    ((1, 1, 12, 12), (2, 3, 3), dict(dilation=3, padding=2)),
    ((3, 1, 8, 8), (2, 5, 4), dict(stride=(3, 1))),
    ((2, 3, 6, 7), (2, 4, 3), dict(padding="same", dilation=(1, 2))),
    ((3, 6, 5), (2, 3, 2), dict(stride=2, padding=2)),  # one image, (C, H, W)
]


def _conv_samples(rng, dtype):
    samples = []
    for x_shape, (f, kh, kw), kwargs in _CONV_SETTINGS:
        c = x_shape[-3]
        x = rng.normal(size=x_shape).astype(dtype)
        w = (rng.normal(size=(f, c, kh, kw)) / np.sqrt(c * kh * kw)).astype(dtype)
        b = rng.normal(size=f).astype(dtype)
        samples.append(Sample((x, w, b), dict(kwargs), f"x{x_shape} w{w.shape} {kwargs}"))
    return samples


register_layer(LayerSpec(
    name="conv2d", family="convolution", forward=conv2d_forward, backward=conv2d_backward,
    oracle="torch.nn.functional.conv2d", sampler=_conv_samples, input_names=("x", "w", "b"),
    chapter="book/02-conv-layer",
    forbidden=("scipy.signal.convolve2d", "scipy.signal.correlate2d", "scipy.signal.convolve",
               "scipy.signal.correlate", "scipy.signal.fftconvolve", "scipy.ndimage.convolve",
               "scipy.ndimage.correlate", "numpy.convolve", "numpy.correlate",
               "torch.nn.functional.conv2d", "torch.conv2d", "cnncourse.scratch.convolution"),
    torch_module="torch.nn.Conv2d"))
