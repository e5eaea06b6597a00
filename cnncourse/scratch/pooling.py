"""Pooling layers in NumPy: max pooling, average pooling and global average pooling.

A pooling layer slides a window of ``kH x kW`` pixels over every channel of its input with a
stride ``s`` and replaces the pixels under the window by one number: their maximum or their mean.
It has no weights. With ``s = k`` the windows tile the image; with ``s < k`` (AlexNet's
``[3 x 3 / 2]``) they overlap.

Every function below reads the window as a set of **taps**: tap ``(u, v)`` of output ``(i, j)``
is the input pixel ``(i s_1 - p_1 + u, j s_2 - p_2 + v)``. For one tap and all outputs at once
those pixels form a strided slice of the input, so a pooling is a handful of whole-array NumPy
operations, one per tap, and no Python loop ever runs over pixels.

:func:`max_pool2d` and :func:`avg_pool2d` are the definitions written that way.
:func:`max_pool2d_forward` and :func:`avg_pool2d_forward` compute the same numbers faster: a
``kH x kW`` window is separable (the maximum, or sum, over a window is the maximum over its rows of
the maximum within each row, ``kH + kW`` operations per output instead of ``kH kW``); the input is
split once into its stride phases so that every tap becomes one contiguous slice (see
:class:`_Canvas`); and the channels go through in blocks that fit in the processor's cache.

The gradient of max pooling goes to the pixel that won: the first maximum of the window in
row-major order, exactly as PyTorch does on the CPU (ties go to the earlier pixel; a window that
holds NaN passes its gradient to its last NaN). Overlapping windows that pick the same pixel add
their gradients there.
"""

from __future__ import annotations

import numpy as np

from cnncourse import _checks
from cnncourse.registry import LayerSpec, Sample, register_layer
from cnncourse.scratch.convolution import conv_output_size, pad2d
from cnncourse.scratch.layer import Layer

_BLOCK_BYTES = 1 << 20
"""How many bytes of input the fast passes handle at a time (a block of whole channels)."""


# --------------------------------------------------------------------------- shared helpers
def _pool_arguments(x, kernel_size, stride, padding):
    """Check the arguments of a 2D pooling; return the array, (kH, kW), strides, paddings, (H_out, W_out)."""
    x = _checks.as_float_array(x, "x", ndim=(3, 4))
    kernel = _checks.pair(kernel_size, "kernel_size", 1)
    strides = kernel if stride is None else _checks.pair(stride, "stride", 1)
    pads = _checks.pair(padding, "padding", 0)
    for k, p in zip(kernel, pads):
        if 2 * p > k:
            raise ValueError(f"padding must be at most half of kernel_size, got padding={padding!r} "
                             f"with kernel_size={kernel_size!r}")
    if x.shape[-2] + 2 * pads[0] < kernel[0] or x.shape[-1] + 2 * pads[1] < kernel[1]:
        raise ValueError(f"kernel_size {kernel_size!r} does not fit in the padded input: x has shape "
                         f"{x.shape} and padding {padding!r}")
    out_size = tuple(conv_output_size(n, k, s, p) for n, k, s, p in
                     zip(x.shape[-2:], kernel, strides, pads))
    return x, kernel, strides, pads, out_size


def _window_taps(size: int, n_out: int, kernel: int, stride: int, padding: int) -> list:
    """Where each tap of a 1D window reads, for all the outputs that it reaches.

    Output ``j`` reads input ``j * stride - padding + t`` at tap ``t``. Returns, for every tap
    that lands inside the input at least once, ``(t, outputs, inputs)``: the tap, a slice of the
    outputs and the strided slice of the input that they read there.
    """
    taps = []
    for t in range(kernel):
        first = max(0, -((t - padding) // stride))          # ceil((padding - t) / stride)
        end = min(n_out, (size - 1 + padding - t) // stride + 1)
        if end > first:
            start = first * stride - padding + t
            taps.append((t, slice(first, end), slice(start, start + (end - first - 1) * stride + 1, stride)))
    return taps


class _Canvas:
    """Where every tap of a pooling window reads, laid out so that each tap is one flat slice.

    Tap ``(u, v)`` of output ``(i, j)`` reads the padded input at row ``i s_1 + u`` and column
    ``j s_2 + v``. Strided reads are slow, so the padded input is first split into *phases*:
    phase ``(a, b)``, for ``a < s_1`` and ``b < s_2``, holds the rows ``a, a + s_1, ...`` and the
    columns ``b, b + s_2, ...`` of the padded input, copied into a contiguous array of
    ``(H_q, W_q)`` per channel, with ``H_q = H_out + (k_H - 1) // s_1`` and likewise ``W_q``.
    Row ``i s_1 + u`` is row ``i + u // s_1`` of row phase ``u % s_1``, so with every array of the
    same width ``W_q`` a tap is a shift of the whole flattened array by ``(u // s_1) W_q`` (or
    ``v // s_2`` for a column tap). The columns and rows past ``W_out`` and ``H_out`` are a margin
    that absorbs what a shift carries over from one row (or channel) into the next; nothing valid
    is ever read from it.

    The window is also separable: ``row_max`` (or ``row_sum``), one array per row phase, holds the
    maximum over each row of the window, and the output is the maximum of those over the window's
    rows.
    """

    def __init__(self, in_size, out_size, kernel, strides, pads):
        (h, w), (self.ho, self.wo) = in_size, out_size
        (k1, k2), (s1, s2), (p1, p2) = kernel, strides, pads
        self.hq = self.ho + (k1 - 1) // s1
        self.wq = self.wo + (k2 - 1) // s2
        self.row_taps = [divmod(u, s1)[::-1] for u in range(k1)]   # (row phase, shift in rows)
        self.col_taps = [divmod(v, s2)[::-1] for v in range(k2)]   # (column phase, shift)
        self.row_phases = sorted({a for a, _ in self.row_taps})
        self.col_phases = sorted({b for b, _ in self.col_taps})
        self.rows_inside = {a: self._inside(h, s1, p1, a, self.hq) for a in self.row_phases}
        self.cols_inside = {b: self._inside(w, s2, p2, b, self.wq) for b in self.col_phases}
        # The first tap that reads a phase has shift 0 and covers all of it: a backward pass can
        # write its gradient there instead of adding it to zeros.
        self.row_first = [self.row_taps.index((a, q)) == u and q == 0 for u, (a, q) in enumerate(self.row_taps)]
        self.col_first = [self.col_taps.index((b, q)) == v and q == 0 for v, (b, q) in enumerate(self.col_taps)]
        # Whether every input pixel lies in some window (else merge must zero the others).
        self.covers_input = (sum(r1 - r0 for r0, r1, _ in self.rows_inside.values()) == h
                             and sum(c1 - c0 for c0, c1, _ in self.cols_inside.values()) == w)

    @staticmethod
    def _inside(size, stride, pad, phase, length):
        """``(first, end, source)``: canvas positions ``[first, end)`` that hold input pixels, and
        the strided slice of the input that they hold (input ``m * stride + phase - pad``)."""
        first = max(0, -((phase - pad) // stride))             # ceil((pad - phase) / stride)
        end = max(first, min(length, (size - 1 + pad - phase) // stride + 1))
        start = first * stride + phase - pad
        return first, end, slice(start, start + (end - first - 1) * stride + 1, stride)

    def empty(self, n, dtype, phases=False):
        """Canvases for a block of ``n`` channels: one per phase, or one per row phase."""
        keys = [(a, b) for a in self.row_phases for b in self.col_phases] if phases else self.row_phases
        return {key: np.empty((n, self.hq, self.wq), dtype=dtype) for key in keys}

    def split(self, planes, canvases, fill):
        """Copy a block of planes ``(n, H, W)`` into its phase canvases, padding with ``fill``."""
        n = planes.shape[0]
        result = {}
        for (a, b), canvas in canvases.items():
            canvas = canvas[:n]
            r0, r1, rows = self.rows_inside[a]
            c0, c1, cols = self.cols_inside[b]
            if r1 > r0 and c1 > c0:
                np.copyto(canvas[:, r0:r1, c0:c1], planes[:, rows, cols])
                canvas[:, :r0] = fill
                canvas[:, r1:] = fill
                canvas[:, r0:r1, :c0] = fill
                canvas[:, r0:r1, c1:] = fill
            else:
                canvas.fill(fill)
            result[(a, b)] = canvas
        return result

    def merge(self, canvases, planes) -> None:
        """Write phase canvases back into the pixels they came from; every other pixel gets 0."""
        if not self.covers_input:
            planes.fill(0)
        for (a, b), canvas in canvases.items():
            r0, r1, rows = self.rows_inside[a]
            c0, c1, cols = self.cols_inside[b]
            if r1 > r0 and c1 > c0:
                np.copyto(planes[:, rows, cols], canvas[:, r0:r1, c0:c1])

    def inside_masks(self, n):
        """Boolean canvases, True where a phase canvas holds an input pixel (not padding)."""
        masks = {}
        for a in self.row_phases:
            r0, r1, _ = self.rows_inside[a]
            row_mask = np.zeros((n, self.hq, self.wq), dtype=bool)
            row_mask[:, r0:r1] = True
            masks[a] = row_mask
            for b in self.col_phases:
                c0, c1, _ = self.cols_inside[b]
                mask = np.zeros((n, self.hq, self.wq), dtype=bool)
                mask[:, r0:r1, c0:c1] = True
                masks[(a, b)] = mask
        return masks

    def column_pieces(self, phases, a):
        """``(flat index into row phase a, tap values)`` for every column tap, in tap order."""
        size = phases[(a, self.col_phases[0])][..., 0].size * self.wq
        return [(slice(0, size - q), phases[(a, b)].reshape(-1)[q:]) for b, q in self.col_taps]

    def row_pieces(self, row_phases):
        """``(flat index into the output canvas, tap values)`` for every row tap, in tap order."""
        size = next(iter(row_phases.values())).size
        return [(slice(0, size - q * self.wq), row_phases[a].reshape(-1)[q * self.wq:])
                for a, q in self.row_taps]

    def reduce(self, phases, row_canvases, out_canvas, combine):
        """Forward pass of a block: window rows reduced into ``row_canvases``, then into ``out_canvas``."""
        for a, row in row_canvases.items():
            _reduce(row.reshape(-1), self.column_pieces(phases, a), combine)
        _reduce(out_canvas.reshape(-1), self.row_pieces(row_canvases), combine)


def _reduce(out, pieces, combine):
    """``out[index]`` = ``combine`` (``np.maximum`` or ``np.add``) of the ``values`` of all taps.

    The first piece covers all of ``out`` (its shift is 0) and initialises it.
    """
    np.copyto(out, pieces[0][1])
    for index, values in pieces[1:]:
        view = out[index]
        combine(view, values, out=view)
    return out


def _blocks(n_planes: int, plane_bytes: int):
    """Slices of whole channels holding about ``_BLOCK_BYTES`` of input each."""
    step = max(1, _BLOCK_BYTES // max(1, plane_bytes))
    for start in range(0, n_planes, step):
        yield slice(start, min(n_planes, start + step))


# --------------------------------------------------------------------------- max pooling
def max_pool2d(x, kernel_size, stride=None, padding=0) -> np.ndarray:
    r"""2D max pooling over the last two axes, written tap by tap.

    .. math::
        y_{n,c,i,j} = \max_{0 \le u < k_H,\; 0 \le v < k_W}
                      \tilde x_{n,c,\,i s_1 - p_1 + u,\; j s_2 - p_2 + v}

    where :math:`\tilde x` is the input padded with :math:`-\infty`, so that padding never wins.
    For every tap :math:`(u, v)` the pixels it reads over all outputs form a strided slice of the
    padded input; the output is the running maximum of those :math:`k_H k_W` slices.

    Args:
        x: input, shape ``(N, C, H, W)`` or ``(C, H, W)``.
        kernel_size: window size, an int or a pair ``(kH, kW)``.
        stride: step of the window (int or pair); default ``kernel_size`` (windows that tile).
        padding: implicit :math:`-\infty` padding on each side (int or pair), at most half the
            window.

    Shape:
        - Input: :math:`(N, C, H, W)` or :math:`(C, H, W)`
        - Output: :math:`(N, C, H_{out}, W_{out})` or :math:`(C, H_{out}, W_{out})` with
          :math:`H_{out} = \lfloor (H + 2 p_1 - k_H) / s_1 \rfloor + 1` (and so for W).

    Returns:
        The pooled array, in the input's floating dtype (integers become float64).
    """
    x, (kh, kw), (sh, sw), (ph, pw), (ho, wo) = _pool_arguments(x, kernel_size, stride, padding)
    padded = pad2d(x, (ph, pw), fillvalue=-np.inf)
    out = np.full(x.shape[:-2] + (ho, wo), -np.inf, dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            tap = padded[..., u:u + sh * (ho - 1) + 1:sh, v:v + sw * (wo - 1) + 1:sw]
            np.maximum(out, tap, out=out)
    return out


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Max pooling that keeps what its backward pass needs; the same numbers as :func:`max_pool2d`.

    The window is separable: first the maximum over each row of the window (``row_max``), then the
    maximum of those over the window's rows. The channels go through in blocks that fit in the
    processor's cache, and every operation is on a contiguous array (see :class:`_Canvas`).

    Returns:
        ``(out, cache)``; the cache holds ``x``, the row maxima and the output.
    """
    x, kernel, strides, pads, (ho, wo) = _pool_arguments(x, kernel_size, stride, padding)
    h, w = x.shape[-2:]
    planes = x.reshape(-1, h, w)
    canvas = _Canvas((h, w), (ho, wo), kernel, strides, pads)
    n = planes.shape[0]
    row_max = canvas.empty(n, x.dtype)
    out_canvas = np.empty((n, canvas.hq, canvas.wq), dtype=x.dtype)
    buffers = None
    for block in _blocks(n, h * w * x.itemsize):
        if buffers is None:
            buffers = canvas.empty(block.stop - block.start, x.dtype, phases=True)
        phases = canvas.split(planes[block], buffers, -np.inf)
        canvas.reduce(phases, {a: r[block] for a, r in row_max.items()}, out_canvas[block], np.maximum)
    out = np.ascontiguousarray(out_canvas[:, :ho, :wo]).reshape(x.shape[:-2] + (ho, wo))
    return out, (planes, row_max, out_canvas, canvas, x.shape)


def _route_to_first_max(pieces, dpieces, best, dout, first_touch, pending, hit, scratch):
    """Send ``dout`` to the gradient of the first tap whose value equals ``best``.

    ``pieces`` are ``(output index, tap values)`` in tap order and ``dpieces`` the matching
    ``(output index, gradient of the tap values)``; ``best`` is the maximum over the taps. An
    output whose window holds several maxima sends its gradient to the first one only.
    ``first_touch[i]`` says that piece ``i`` is the first to reach its gradient array and covers
    all of it: its gradient is written there rather than added. The first piece covers all of
    ``best``. ``best`` must be finite where ``dout`` is not 0; ``pending``, ``hit`` and ``scratch``
    are work arrays of ``best``'s shape.
    """
    last = len(pieces) - 1
    for i, ((index, values), (_, dvalues)) in enumerate(zip(pieces, dpieces)):
        h, p, s = hit[index], pending[index], scratch[index]
        if i == last:
            h = None if i == 0 else p       # no earlier tap matched: the last one holds the max
        else:
            np.equal(values, best[index], out=h)
            if i == 0:
                np.logical_not(h, out=p)    # the outputs still to route
            else:
                np.logical_and(h, p, out=h)
                np.logical_xor(p, h, out=p)
        if first_touch[i]:
            if h is None:
                np.copyto(dvalues, dout[index])
            else:
                np.multiply(dout[index], h, out=dvalues)
        elif h is None:
            np.add(dvalues, dout[index], out=dvalues)
        else:
            np.multiply(dout[index], h, out=s)
            np.add(dvalues, s, out=dvalues)


def _route_to_winner(pieces, dpieces, best, dout, inside):
    """Like :func:`_route_to_first_max`, for the rare blocks with a non-finite output or output
    gradient: a window holding NaN passes its gradient to its last NaN (as PyTorch does), a
    window of -inf to its first pixel inside the input, and an infinite or NaN gradient reaches
    the winner only (a product with a 0/1 mask would spread NaN to every tap). ``inside`` holds,
    for every piece, the mask of its values that are input pixels rather than padding."""
    winner = np.full(best.shape, -1, dtype=np.int16)
    nan_best = np.isnan(best)
    for t, ((index, values), mask) in enumerate(zip(pieces, inside)):
        first = (values == best[index]) & (winner[index] < 0) & mask
        latest_nan = nan_best[index] & np.isnan(values) & mask
        winner[index][first | latest_nan] = t
    for t, (index, dvalues) in enumerate(dpieces):
        dvalues += np.where(winner[index] == t, dout[index], 0)


def max_pool2d_backward(dout, cache) -> np.ndarray:
    r"""Gradient of max pooling with respect to its input.

    .. math::
        \frac{\partial L}{\partial x_{n,c,a,b}} = \sum_{(i, j):\ \mathrm{win}(i, j) = (a, b)}
        \frac{\partial L}{\partial y_{n,c,i,j}}

    where :math:`\mathrm{win}(i, j)` is the first pixel of window :math:`(i, j)`, in row-major
    order, that holds its maximum (PyTorch's rule on the CPU). Every other pixel gets zero; a
    pixel that wins several overlapping windows receives the sum of their gradients. Taken
    separably: the gradient goes to the first window row whose row maximum is the maximum, and
    within that row to the first column that holds it.

    Args:
        dout: gradient of the loss with respect to the output, the output's shape.
        cache: the cache of :func:`max_pool2d_forward`.

    Returns:
        ``dx``, the input's shape.
    """
    planes, row_max, out_canvas, canvas, x_shape = cache
    dout = _checks.as_float_array(dout, "dout", allow_empty=True)
    ho, wo = canvas.ho, canvas.wo
    expected = x_shape[:-2] + (ho, wo)
    if dout.shape != expected:
        raise ValueError(f"dout must have the output's shape {expected}, got {dout.shape}")
    dtype = np.result_type(planes.dtype, dout.dtype)
    dout = dout.reshape((-1, ho, wo))
    dx = np.empty(planes.shape, dtype=dtype)
    work = None
    for block in _blocks(planes.shape[0], planes[0].nbytes):
        n = block.stop - block.start
        if work is None:  # work arrays sized for the first (largest) block
            size = n * canvas.hq * canvas.wq
            work = dict(phases=canvas.empty(n, planes.dtype, phases=True),
                        d_phases=canvas.empty(n, dtype, phases=True), d_row_max=canvas.empty(n, dtype),
                        d_out=np.empty((n, canvas.hq, canvas.wq), dtype),
                        flat=[np.empty(size, t) for t in (bool, bool, dtype)])
        d_out = work["d_out"][:n]
        d_out[:, ho:] = 0
        d_out[:, :ho, wo:] = 0
        d_out[:, :ho, :wo] = dout[block]
        d_row_max = {a: d[:n] for a, d in work["d_row_max"].items()}
        d_phases = {key: d[:n] for key, d in work["d_phases"].items()}
        # Padding is NaN here, which equals nothing, so that it is never routed a gradient.
        phases = canvas.split(planes[block], work["phases"], np.nan)
        rows = canvas.row_pieces({a: r[block] for a, r in row_max.items()})
        d_rows = canvas.row_pieces(d_row_max)
        best, upstream = out_canvas[block].reshape(-1), d_out.reshape(-1)
        if np.isfinite(out_canvas[block][:, :ho, :wo]).all() and np.isfinite(dout[block]).all():
            flat = [a[:best.size] for a in work["flat"]]
            _route_to_first_max(rows, d_rows, best, upstream, canvas.row_first, *flat)
            for a in canvas.row_phases:
                _route_to_first_max(canvas.column_pieces(phases, a), canvas.column_pieces(d_phases, a),
                                    row_max[a][block].reshape(-1), d_row_max[a].reshape(-1),
                                    canvas.col_first, *flat)
        else:
            for d in (*d_row_max.values(), *d_phases.values()):
                d.fill(0)
            masks = {key: m.reshape(-1) for key, m in canvas.inside_masks(n).items()}
            _route_to_winner(rows, d_rows, best, upstream,
                             [masks[a][q * canvas.wq:] for a, q in canvas.row_taps])
            for a in canvas.row_phases:
                _route_to_winner(canvas.column_pieces(phases, a), canvas.column_pieces(d_phases, a),
                                 row_max[a][block].reshape(-1), d_row_max[a].reshape(-1),
                                 [masks[(a, b)][q:] for b, q in canvas.col_taps])
        canvas.merge(d_phases, dx[block])
    return dx.reshape(x_shape)


# --------------------------------------------------------------------------- average pooling
def _divisor(x_size, out_size, kernel, strides, pads, count_include_pad):
    """What each output is divided by: k_H k_W, or the number of its pixels inside the input."""
    if count_include_pad:
        return float(kernel[0] * kernel[1])
    counts = []
    for n, n_out, k, s, p in zip(x_size, out_size, kernel, strides, pads):
        count = np.zeros(n_out)
        for _, o, _ in _window_taps(n, n_out, k, s, p):
            count[o] += 1
        counts.append(count)
    return np.outer(counts[0], counts[1])


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad=True) -> np.ndarray:
    r"""2D average pooling over the last two axes, written tap by tap.

    .. math::
        y_{n,c,i,j} = \frac{1}{D_{ij}} \sum_{u=0}^{k_H-1} \sum_{v=0}^{k_W-1}
        \tilde x_{n,c,\,i s_1 - p_1 + u,\; j s_2 - p_2 + v}

    where :math:`\tilde x` is the input padded with zeros, and the divisor :math:`D_{ij}` is
    :math:`k_H k_W` (``count_include_pad=True``, PyTorch's default) or the number of window
    pixels that lie inside the input (``count_include_pad=False``).

    Args:
        x: input, shape ``(N, C, H, W)`` or ``(C, H, W)``.
        kernel_size: window size, an int or a pair ``(kH, kW)``.
        stride: step of the window (int or pair); default ``kernel_size``.
        padding: implicit zero padding on each side (int or pair), at most half the window.
        count_include_pad: whether the padded zeros count in the divisor.

    Shape:
        As :func:`max_pool2d`.

    Returns:
        The pooled array, in the input's floating dtype.
    """
    x, (kh, kw), (sh, sw), (ph, pw), (ho, wo) = _pool_arguments(x, kernel_size, stride, padding)
    count_include_pad = _checks.boolean(count_include_pad, "count_include_pad")
    padded = pad2d(x, (ph, pw))
    total = np.zeros(x.shape[:-2] + (ho, wo), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            total += padded[..., u:u + sh * (ho - 1) + 1:sh, v:v + sw * (wo - 1) + 1:sw]
    divisor = _divisor(x.shape[-2:], (ho, wo), (kh, kw), (sh, sw), (ph, pw), count_include_pad)
    return (total / divisor).astype(x.dtype, copy=False)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0, count_include_pad=True):
    """Average pooling that keeps what its backward pass needs; the same numbers as :func:`avg_pool2d`.

    The window sums are taken separably, first along each row of the window, then over the
    window's rows, block by block as in :func:`max_pool2d_forward`.

    Returns:
        ``(out, cache)``.
    """
    x, kernel, strides, pads, (ho, wo) = _pool_arguments(x, kernel_size, stride, padding)
    count_include_pad = _checks.boolean(count_include_pad, "count_include_pad")
    h, w = x.shape[-2:]
    planes = x.reshape(-1, h, w)
    canvas = _Canvas((h, w), (ho, wo), kernel, strides, pads)
    out_canvas = np.empty((planes.shape[0], canvas.hq, canvas.wq), dtype=x.dtype)
    buffers = row_sum = None
    for block in _blocks(planes.shape[0], h * w * x.itemsize):
        n = block.stop - block.start
        if buffers is None:
            buffers = canvas.empty(n, x.dtype, phases=True)
            row_sum = canvas.empty(n, x.dtype)
        phases = canvas.split(planes[block], buffers, 0)
        canvas.reduce(phases, {a: r[:n] for a, r in row_sum.items()}, out_canvas[block], np.add)
    divisor = _divisor((h, w), (ho, wo), kernel, strides, pads, count_include_pad)
    out = out_canvas[:, :ho, :wo] / np.asarray(divisor, dtype=x.dtype)
    out = out.reshape(x.shape[:-2] + (ho, wo))
    return out, (x.shape, out.shape, x.dtype, canvas, divisor)


def avg_pool2d_backward(dout, cache) -> np.ndarray:
    r"""Gradient of average pooling: every pixel of a window gets :math:`1 / D_{ij}` of its gradient.

    .. math::
        \frac{\partial L}{\partial x_{n,c,a,b}} = \sum_{(i, j):\ (a, b) \in \mathrm{window}(i, j)}
        \frac{1}{D_{ij}} \frac{\partial L}{\partial y_{n,c,i,j}}

    Args:
        dout: gradient of the loss with respect to the output, the output's shape.
        cache: the cache of :func:`avg_pool2d_forward`.

    Returns:
        ``dx``, the input's shape.
    """
    x_shape, out_shape, x_dtype, canvas, divisor = cache
    dout = _checks.as_float_array(dout, "dout", allow_empty=True)
    if dout.shape != out_shape:
        raise ValueError(f"dout must have the output's shape {out_shape}, got {dout.shape}")
    dtype = np.result_type(x_dtype, dout.dtype)
    h, w = x_shape[-2:]
    share = (dout / np.asarray(divisor, dtype=dtype)).reshape((-1,) + out_shape[-2:])
    dx = np.empty((share.shape[0], h, w), dtype=dtype)
    work = None
    for block in _blocks(share.shape[0], h * w * np.dtype(x_dtype).itemsize):
        n = block.stop - block.start
        if work is None:
            work = dict(share=np.empty((n, canvas.hq, canvas.wq), dtype),
                        d_row_sum=canvas.empty(n, dtype), d_phases=canvas.empty(n, dtype, phases=True))
        d_out = work["share"][:n]
        d_out[:, canvas.ho:] = 0
        d_out[:, :canvas.ho, canvas.wo:] = 0
        d_out[:, :canvas.ho, :canvas.wo] = share[block]
        d_row_sum = {a: d[:n] for a, d in work["d_row_sum"].items()}
        d_phases = {key: d[:n] for key, d in work["d_phases"].items()}
        upstream = d_out.reshape(-1)
        for (index, d_values), first in zip(canvas.row_pieces(d_row_sum), canvas.row_first):
            if first:
                np.copyto(d_values, upstream[index])
            else:
                d_values += upstream[index]
        for a in canvas.row_phases:
            row = d_row_sum[a].reshape(-1)
            for (index, d_values), first in zip(canvas.column_pieces(d_phases, a), canvas.col_first):
                if first:
                    np.copyto(d_values, row[index])
                else:
                    d_values += row[index]
        canvas.merge(d_phases, dx[block])
    return dx.reshape(x_shape)


# --------------------------------------------------------------------------- global average pooling
def global_avg_pool2d(x) -> np.ndarray:
    r"""Global average pooling: the mean of every channel over all its pixels.

    .. math:: y_{n,c} = \frac{1}{HW} \sum_{a=0}^{H-1} \sum_{b=0}^{W-1} x_{n,c,a,b}

    It turns a stack of feature maps of any size into one vector per image, which is how
    GoogLeNet and ResNet feed their classifier.

    Shape:
        - Input: :math:`(N, C, H, W)`
        - Output: :math:`(N, C)`
    """
    x = _checks.as_float_array(x, "x", ndim=4)
    return x.mean(axis=(2, 3))


def global_avg_pool2d_forward(x):
    """Global average pooling and its cache (the input's shape). Returns ``(out, cache)``."""
    out = global_avg_pool2d(x)
    return out, (np.shape(x), out.dtype)


def global_avg_pool2d_backward(dout, cache) -> np.ndarray:
    r"""Gradient of global average pooling: every pixel gets :math:`1/(HW)` of its channel's gradient.

    .. math:: \frac{\partial L}{\partial x_{n,c,a,b}} = \frac{1}{HW} \frac{\partial L}{\partial y_{n,c}}
    """
    x_shape, x_dtype = cache
    dout = _checks.as_float_array(dout, "dout", ndim=2)
    if dout.shape != tuple(x_shape[:2]):
        raise ValueError(f"dout must have shape {tuple(x_shape[:2])}, got {dout.shape}")
    h, w = x_shape[2:]
    share = (dout / (h * w)).astype(np.result_type(x_dtype, dout.dtype), copy=False)
    return np.broadcast_to(share[:, :, None, None], x_shape).copy()


# --------------------------------------------------------------------------- layers
class MaxPool2d(Layer):
    """Max pooling layer over :func:`max_pool2d_forward` / :func:`max_pool2d_backward`."""

    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size = _checks.pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else _checks.pair(stride, "stride", 1)
        self.padding = _checks.pair(padding, "padding", 0)
        self._cache = None

    def forward(self, x):
        out, self._cache = max_pool2d_forward(x, self.kernel_size, self.stride, self.padding)
        return out

    def backward(self, dout):
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        return max_pool2d_backward(dout, self._cache)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Layer):
    """Average pooling layer over :func:`avg_pool2d_forward` / :func:`avg_pool2d_backward`."""

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad=True):
        self.kernel_size = _checks.pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else _checks.pair(stride, "stride", 1)
        self.padding = _checks.pair(padding, "padding", 0)
        self.count_include_pad = _checks.boolean(count_include_pad, "count_include_pad")
        self._cache = None

    def forward(self, x):
        out, self._cache = avg_pool2d_forward(x, self.kernel_size, self.stride, self.padding,
                                              self.count_include_pad)
        return out

    def backward(self, dout):
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        return avg_pool2d_backward(dout, self._cache)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"count_include_pad={self.count_include_pad}")


class GlobalAvgPool2d(Layer):
    """Global average pooling layer: ``(N, C, H, W) -> (N, C)``."""

    def __init__(self):
        self._cache = None

    def forward(self, x):
        out, self._cache = global_avg_pool2d_forward(x)
        return out

    def backward(self, dout):
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        return global_avg_pool2d_backward(dout, self._cache)


# --------------------------------------------------------------------------- registry
_POOL_SETTINGS = [
    # (input shape, kwargs)
    ((2, 3, 6, 6), dict(kernel_size=2)),
    ((2, 3, 7, 7), dict(kernel_size=3, stride=2)),
    ((1, 2, 8, 9), dict(kernel_size=3, stride=2, padding=1)),
    ((2, 2, 7, 6), dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0))),
    ((3, 5, 5), dict(kernel_size=3, stride=1)),
    ((1, 1, 9, 9), dict(kernel_size=4, stride=3, padding=2)),
]


def _distinct_values(rng, shape, dtype):
    """Values at least 0.01 apart, so that no window holds a tie and a small step changes no winner."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) * 0.01 - 0.005 * size).astype(dtype)


def _max_pool_samples(rng, dtype):
    return [Sample((_distinct_values(rng, shape, dtype),), dict(kwargs), f"{shape} {kwargs}")
            for shape, kwargs in _POOL_SETTINGS]


def _avg_pool_samples(rng, dtype):
    samples = [Sample((rng.normal(size=shape).astype(dtype),), dict(kwargs), f"{shape} {kwargs}")
               for shape, kwargs in _POOL_SETTINGS]
    x = rng.normal(size=(2, 2, 7, 8)).astype(dtype)
    samples.append(Sample((x,), dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
                          "count_include_pad=False"))
    return samples


def _global_pool_samples(rng, dtype):
    return [Sample((rng.normal(size=shape).astype(dtype),), {}, str(shape))
            for shape in ((2, 3, 4, 5), (1, 1, 1, 1), (3, 4, 7, 7))]


_FORBIDDEN_POOLING = ("torch.nn.functional.max_pool2d", "torch.max_pool2d",
                      "torch.nn.functional.avg_pool2d", "torch.nn.functional.adaptive_avg_pool2d",
                      "torch.nn.functional.adaptive_max_pool2d", "skimage.measure.block_reduce",
                      "scipy.ndimage.maximum_filter", "scipy.ndimage.uniform_filter",
                      "cnncourse.scratch.pooling")

register_layer(LayerSpec(
    name="max_pool2d", family="pooling", forward=max_pool2d_forward, backward=max_pool2d_backward,
    oracle="torch.nn.functional.max_pool2d", sampler=_max_pool_samples, chapter="book/03-pooling",
    forbidden=_FORBIDDEN_POOLING, torch_module="torch.nn.MaxPool2d"))
register_layer(LayerSpec(
    name="avg_pool2d", family="pooling", forward=avg_pool2d_forward, backward=avg_pool2d_backward,
    oracle="torch.nn.functional.avg_pool2d", sampler=_avg_pool_samples, chapter="book/03-pooling",
    forbidden=_FORBIDDEN_POOLING, torch_module="torch.nn.AvgPool2d"))
register_layer(LayerSpec(
    name="global_avg_pool2d", family="pooling", forward=global_avg_pool2d_forward,
    backward=global_avg_pool2d_backward, oracle="cnncourse.oracles.global_avg_pool2d",
    sampler=_global_pool_samples, chapter="book/03-pooling", forbidden=_FORBIDDEN_POOLING))
