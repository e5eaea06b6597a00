"""The course's backward passes, written by hand, as :class:`torch.autograd.Function`.

PyTorch differentiates a chain of tensor operations by itself. For the two layers whose backward
pass the course derives in full, the convolution and max pooling, the derivation is written here
instead and autograd calls it:

* :class:`Conv2dFunction`: the forward pass is *im2col* (every window of the padded input copied
  into a column, through a strided view) and one matrix product of the ``F x C KH KW`` filter
  matrix with the ``C KH KW x N H_out W_out`` column matrix. The backward pass returns

  .. math::
      \\frac{\\partial L}{\\partial W} = \\delta\\, X_{col}^\\top, \\qquad
      \\frac{\\partial L}{\\partial b} = \\sum_{n,i,j} \\delta, \\qquad
      \\frac{\\partial L}{\\partial x} = \\mathrm{fold}\\big(W^\\top \\delta\\big),

  where :math:`\\delta` is the output gradient laid out like the product and *fold* (col2im, the
  adjoint of im2col) adds every entry of the columns' gradient back to the pixel it was copied
  from; windows that overlap add up.

* :class:`MaxPool2dFunction`: the forward pass is a running maximum over the window's taps that
  remembers which tap won, the first maximum of the window in row-major order (PyTorch's rule for
  ties; a window holding NaN is won by its last NaN, as in PyTorch); the backward pass sends
  every output's gradient to its winner, and overlapping windows that pick the same pixel add
  their gradients.

* :class:`ClampFunction`: ReLU and ReLU6, whose gradient is the step function, 0 at the kinks.

All work on any device. On the CPU the convolution goes through the batch in blocks of images
whose columns fit in the cache (one matrix product per block); on a GPU the whole batch is one
block. The backward passes are differentiable once (``once_differentiable``): a second derivative
raises an error rather than returning a wrong one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

_BLOCK_BYTES = 4 << 20
"""Bytes of columns the CPU passes build per block of images (sized for the L2/L3 caches)."""


# --------------------------------------------------------------------------- convolution
def _images_per_block(g, device: torch.device, itemsize: int) -> int:
    """Images per block: as many as keep a block's columns near ``_BLOCK_BYTES`` on the CPU;
    the whole batch on an accelerator (one product for all)."""
    if device.type != "cpu":
        return g.batch
    per_image = g.column_length * g.out[0] * g.out[1] * itemsize
    return max(1, min(g.batch, _BLOCK_BYTES // max(1, per_image)))


class _PaddedBlocks:
    """Blocks of zero-padded images, written one after the other into one reused buffer."""

    def __init__(self, x: torch.Tensor, g, per_block: int):
        self.x, self.g = x, g
        (top, _), (left, _) = g.rows, g.cols
        self.top, self.left = top, left
        self.buffer = None
        if g.padded:
            self.buffer = x.new_zeros((per_block, g.channels) + g.padded_shape)

    def block(self, start: int, stop: int) -> torch.Tensor:
        if self.buffer is None:
            return self.x[start:stop]
        padded = self.buffer[:stop - start]
        padded[:, :, self.top:self.top + self.g.height, self.left:self.left + self.g.width] = self.x[start:stop]
        return padded


def conv2d_columns(xp: torch.Tensor, g, buffer: torch.Tensor | None = None) -> torch.Tensor:
    """im2col: ``cols[(c, u, v), (n, i, j)] = xp[n, c, i s1 + u d1, j s2 + v d2]``.

    Args:
        xp: a block of m zero-padded images, (m, C, H_p, W_p).
        g: the geometry of the convolution (kernel, stride, dilation, output size).
        buffer: flat storage for the columns (reused between blocks), or None for a new tensor.

    Returns:
        The column matrix, (C KH KW, m H_out W_out): the column of output pixel ``(n, i, j)``
        holds the ``C KH KW`` values that it reads. A strided view of the images shows every tap
        of every window without copying; one ``copy_`` lays them out as the matrix.
    """
    m, c = xp.shape[:2]
    sn, sc, sh, sw = xp.stride()
    (s1, s2), (d1, d2), (kh, kw), (ho, wo) = g.stride, g.dilation, g.kernel, g.out
    shape = (c, kh, kw, m, ho, wo)
    windows = xp.as_strided(shape, (sc, d1 * sh, d2 * sw, sn, s1 * sh, s2 * sw))
    if buffer is None:
        cols = xp.new_empty(shape)
    else:
        cols = buffer[:windows.numel()].view(shape)
    cols.copy_(windows)
    return cols.view(c * kh * kw, m * ho * wo)


def conv2d_add_columns(dcols: torch.Tensor, g, dxp: torch.Tensor) -> torch.Tensor:
    """col2im, the adjoint of :func:`conv2d_columns`: adds ``dcols[(c, u, v), (n, i, j)]`` to
    ``dxp[n, c, i s1 + u d1, j s2 + v d2]`` and returns ``dxp``.

    One strided addition per kernel tap ``(u, v)``: within a tap no two outputs reach the same
    pixel; across taps the windows of neighbouring outputs overlap and their contributions add up.
    """
    m, c = dxp.shape[:2]
    sn, sc, sh, sw = dxp.stride()
    (s1, s2), (d1, d2), (kh, kw), (ho, wo) = g.stride, g.dilation, g.kernel, g.out
    taps = dcols.view(c, kh, kw, m, ho, wo)
    for u in range(kh):
        for v in range(kw):
            target = dxp.as_strided((c, m, ho, wo), (sc, sn, s1 * sh, s2 * sw),
                                    dxp.storage_offset() + u * d1 * sh + v * d2 * sw)
            target += taps[:, u, v]
    return dxp


def conv2d_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, g,
                   keep_columns: bool = False):
    """The convolution by im2col and one matrix product per block of images (no autograd).

    ``x`` (N, C, H, W), ``w`` (F, C, KH, KW) and ``b`` (F,) or None share dtype and device; ``g``
    is the geometry read by :func:`cnncourse.nn.functional.conv2d`.

    Returns:
        The output (N, F, H_out, W_out); with ``keep_columns``, ``(out, cols)`` where ``cols`` is
        the column matrix of the whole batch when it was built in one block of at most
        ``_BLOCK_BYTES`` on the CPU (the backward pass then reuses it), else None.
    """
    f, k, (ho, wo) = g.filters, g.column_length, g.out
    n = x.shape[0]
    x = x.contiguous()
    per_block = _images_per_block(g, x.device, x.element_size())
    images = _PaddedBlocks(x, g, per_block)
    cols_buffer = x.new_empty(per_block * k * ho * wo)
    w2 = w.reshape(f, k)
    out = x.new_empty((n, f, ho, wo))
    for start in range(0, n, per_block):
        stop = min(n, start + per_block)
        cols = conv2d_columns(images.block(start, stop), g, cols_buffer)
        product = w2 @ cols  # (F, C KH KW) @ (C KH KW, m H_out W_out): every output pixel at once
        by_image = product.view(f, stop - start, ho, wo).transpose(0, 1)  # (m, F, H_out, W_out), a view
        if b is None:
            out[start:stop] = by_image
        else:
            torch.add(by_image, b.view(1, f, 1, 1), out=out[start:stop])
    if not keep_columns:
        return out
    small = x.device.type == "cpu" and per_block >= n and cols.numel() * cols.element_size() <= _BLOCK_BYTES
    return out, (cols if small else None)


def conv2d_backward(dout: torch.Tensor, x: torch.Tensor, w: torch.Tensor, g,
                    needs=(True, True, True), has_bias: bool = True, cols: torch.Tensor | None = None):
    """Gradients of :func:`conv2d_forward` for ``x``, ``w`` and ``b``, written by hand.

    With ``X_col`` the column matrix of a block and ``delta`` its output gradient laid out like
    the product, an (F, m H_out W_out) matrix: ``dW = delta X_col^T`` summed over the blocks,
    ``db`` the sum of ``delta`` over the images and pixels, and ``dx = fold(W^T delta)``: the
    columns' gradient added back to the padded pixels the columns were copied from
    (:func:`conv2d_add_columns`), then cropped to the input. ``needs`` says which of the three to
    compute (None for the others). ``cols``: the column matrix of the whole batch kept by the
    forward pass, or None to build the columns again block by block.
    """
    need_x, need_w, need_b = needs
    f, k, (ho, wo) = g.filters, g.column_length, g.out
    n = x.shape[0]
    db = dout.sum(dim=(0, 2, 3)) if (need_b and has_bias) else None
    if not (need_x or need_w):
        return None, None, db
    x = x.contiguous()
    per_block = _images_per_block(g, x.device, x.element_size())
    w2 = w.reshape(f, k)
    dw2 = dx = images = cols_buffer = dxp = None
    if cols is not None:
        per_block = n
    if need_w:
        dw2 = torch.zeros_like(w2)
        if cols is None:
            images = _PaddedBlocks(x, g, per_block)
            cols_buffer = x.new_empty(per_block * k * ho * wo)
    if need_x:
        dx = torch.empty_like(x)
        dxp = x.new_empty((per_block, g.channels) + g.padded_shape)
    (top, _), (left, _) = g.rows, g.cols
    for start in range(0, n, per_block):
        stop = min(n, start + per_block)
        m = stop - start
        delta = dout[start:stop].transpose(0, 1).reshape(f, m * ho * wo)
        if need_w:
            if images is not None:
                cols = conv2d_columns(images.block(start, stop), g, cols_buffer)
            dw2.addmm_(delta, cols.t())  # (F, m H_out W_out) @ (m H_out W_out, C KH KW)
        if need_x:
            dcols = w2.t() @ delta  # W^T delta, the gradient of the columns
            block = dxp[:m].zero_()
            conv2d_add_columns(dcols, g, block)
            dx[start:stop] = block[:, :, top:top + g.height, left:left + g.width]
    return dx, (None if dw2 is None else dw2.view_as(w)), db


class Conv2dFunction(torch.autograd.Function):
    """2D convolution (cross-correlation) with the backward pass of :func:`conv2d_backward`.

    ``Conv2dFunction.apply(x, w, b, g)`` with ``x`` (N, C, H, W), ``w`` (F, C, KH, KW), ``b`` (F,)
    or None, all of one dtype and device, and ``g`` the geometry of the convolution (from
    :func:`cnncourse.nn.functional.conv2d`, which checks the arguments and calls this).
    ``x`` and ``w`` are saved for the backward pass, which builds the columns again, block by
    block; only a small column matrix (one block on the CPU) is kept from the forward pass.
    """

    @staticmethod
    def forward(ctx, x, w, b, g):
        ctx.save_for_backward(x, w)
        ctx.geometry = g
        ctx.has_bias = b is not None
        out, cols = conv2d_forward(x, w, b, g, keep_columns=True)
        ctx.columns = cols if ctx.needs_input_grad[1] else None  # only dW reads the columns
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        x, w = ctx.saved_tensors
        dx, dw, db = conv2d_backward(dout, x, w, ctx.geometry, ctx.needs_input_grad[:3], ctx.has_bias,
                                     ctx.columns)
        ctx.columns = None
        return dx, dw, db, None


# --------------------------------------------------------------------------- max pooling
def _tap(xp: torch.Tensor, u: int, v: int, strides, out_size) -> torch.Tensor:
    """Tap ``(u, v)`` of every window: the strided view ``xp[..., i s1 + u, j s2 + v]``."""
    (s1, s2), (ho, wo) = strides, out_size
    return xp[..., u:u + s1 * (ho - 1) + 1:s1, v:v + s2 * (wo - 1) + 1:s2]


def _pad(x: torch.Tensor, pads, value: float) -> torch.Tensor:
    ph, pw = pads
    return F.pad(x, (pw, pw, ph, ph), value=value) if (ph or pw) else x


def max_pool2d_forward(x: torch.Tensor, kernel, strides, pads, out_size) -> torch.Tensor:
    """Max pooling as a running maximum over the ``kH kW`` taps of the window (no autograd).

    The input is padded with :math:`-\\infty`, so that padding never wins; ``torch.maximum``
    propagates NaN, as max pooling does in PyTorch.
    """
    xp = _pad(x, pads, float("-inf"))
    kh, kw = kernel
    out = _tap(xp, 0, 0, strides, out_size).clone(memory_format=torch.contiguous_format)
    for u in range(kh):
        for v in range(kw):
            if u or v:
                torch.maximum(out, _tap(xp, u, v, strides, out_size), out=out)
    return out


def _first_inside_tap(size: int, n_out: int, stride: int, pad: int, device) -> torch.Tensor:
    """Along one axis, the first tap of every window that reads an input pixel, not padding."""
    first = -(torch.arange(n_out, device=device) * stride - pad)
    return first.clamp(min=0)


def step(u: torch.Tensor) -> torch.Tensor:
    """The step function :math:`H(u)`: 1 where :math:`u > 0`, else 0 (0 at :math:`u = 0`, at
    :math:`-\\infty` and for NaN), as a constant of the input's dtype (no gradient flows through it).

    Written with arithmetic (``sign`` then ``clamp``) rather than a comparison and a selection,
    which take several times longer on some CPUs.
    """
    return torch.sign(u.detach()).clamp_(min=0)


def max_pool2d_forward_with_winners(x: torch.Tensor, kernel, strides, pads, out_size):
    """Max pooling that also records which tap of every window won: ``(out, winner)``.

    ``winner[..., i, j] = u kW + v`` (stored in the input's dtype) for the winning tap ``(u, v)`` of
    window ``(i, j)``: the first maximum in row-major order (a later tap wins only if it is
    strictly larger, :math:`H(\\text{tap} - \\text{max}) = 1`), or, in a window holding NaN, the last
    NaN; PyTorch's rules. Only input pixels can win: the windows start with their first pixel
    inside the input and a maximum of :math:`-\\infty`, so that the :math:`-\\infty` padding never
    does, even in a window of :math:`-\\infty` pixels.
    """
    kh, kw = kernel
    xp = _pad(x, pads, float("-inf"))
    shape = x.shape[:-2] + tuple(out_size)
    if any(pads):
        u0 = _first_inside_tap(x.shape[-2], out_size[0], strides[0], pads[0], x.device)
        v0 = _first_inside_tap(x.shape[-1], out_size[1], strides[1], pads[1], x.device)
        winner = (u0[:, None] * kw + v0).to(x.dtype).expand(shape).clone()
        out = torch.full(shape, float("-inf"), dtype=x.dtype, device=x.device)
        taps = [(u, v) for u in range(kh) for v in range(kw)]
    else:  # every tap reads the input: the first one starts the running maximum
        winner = torch.zeros(shape, dtype=x.dtype, device=x.device)
        out = _tap(xp, 0, 0, strides, out_size).clone(memory_format=torch.contiguous_format)
        taps = [(u, v) for u in range(kh) for v in range(kw)][1:]
    for u, v in taps:
        tap = _tap(xp, u, v, strides, out_size)
        larger = step(tap - out)  # 1 where this tap beats the maximum so far
        winner.addcmul_(u * kw + v - winner, larger)  # winner <- tap where larger
        torch.maximum(out, tap, out=out)
    # NaN is larger than nothing: a window holding NaN is won by its last NaN (checked first on
    # the CPU, where the check costs no wait)
    if x.device.type != "cpu" or bool(torch.isnan(out).any()):
        for u in range(kh):
            for v in range(kw):
                winner.masked_fill_(torch.isnan(_tap(xp, u, v, strides, out_size)), u * kw + v)
    return out, winner


def max_pool2d_backward(dout: torch.Tensor, winner: torch.Tensor, x_shape, kernel, strides, pads,
                        out_size) -> torch.Tensor:
    """Gradient of max pooling: every output's gradient goes to the pixel that won its window.

    The winning tap ``(u, v)`` of window ``(i, j)`` is the padded pixel
    ``(i s1 + u, j s2 + v)``; the gradients are added there with one ``scatter_add_`` per plane,
    so that a pixel that wins several overlapping windows receives the sum. The padding is then
    cropped off.
    """
    kh, kw = kernel
    (s1, s2), (ph, pw), (ho, wo) = strides, pads, out_size
    h, w = x_shape[-2:]
    hp, wp = h + 2 * ph, w + 2 * pw
    device = dout.device
    offsets = torch.tensor([u * wp + v for u in range(kh) for v in range(kw)], device=device)
    corners = (torch.arange(ho, device=device) * s1 * wp)[:, None] + torch.arange(wo, device=device) * s2
    pixel = corners + offsets[winner.long()]  # flat index of the winner in its padded plane
    planes = dout.numel() // (ho * wo)
    dxp = dout.new_zeros((planes, hp * wp))
    dxp.scatter_add_(1, pixel.reshape(planes, ho * wo), dout.reshape(planes, ho * wo))
    dxp = dxp.view(tuple(x_shape[:-2]) + (hp, wp))
    return dxp[..., ph:ph + h, pw:pw + w] if (ph or pw) else dxp


class MaxPool2dFunction(torch.autograd.Function):
    """Max pooling with the backward pass of :func:`max_pool2d_backward`.

    ``MaxPool2dFunction.apply(x, kernel, strides, pads, out_size)`` with ``x`` (N, C, H, W) or
    (C, H, W) and the checked pairs of :func:`cnncourse.nn.functional.max_pool2d`. The forward
    pass records the winner of every window (a small integer per output), the backward pass
    sends the gradients there.
    """

    @staticmethod
    def forward(ctx, x, kernel, strides, pads, out_size):
        out, winner = max_pool2d_forward_with_winners(x, kernel, strides, pads, out_size)
        ctx.save_for_backward(winner)
        ctx.settings = (x.shape, kernel, strides, pads, out_size)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        (winner,) = ctx.saved_tensors
        dx = max_pool2d_backward(dout.contiguous(), winner, *ctx.settings) if ctx.needs_input_grad[0] else None
        return dx, None, None, None, None


# --------------------------------------------------------------------------- rectifiers
class ClampFunction(torch.autograd.Function):
    r""":math:`\min\{\max\{u, a\}, b\}` (ReLU for :math:`a = 0, b = \infty`, ReLU6 for
    :math:`b = 6`) with the gradient PyTorch gives the rectifiers.

    .. math:: \frac{\partial L}{\partial u} = \frac{\partial L}{\partial y}\, H(u - a)\, H(b - u)

    1 strictly between the bounds, 0 at the kinks and beyond (and for NaN). Autograd would split
    the gradient at a tie of ``torch.maximum`` (0.5 at :math:`u = 0`), hence the hand-written
    backward pass. ``ClampFunction.apply(u, low, high)`` with ``high`` None for no upper bound.
    """

    @staticmethod
    def forward(ctx, u, low: float, high):
        ctx.save_for_backward(u)
        ctx.bounds = (low, high)
        out = torch.maximum(u, u.new_tensor(low))
        return out if high is None else torch.minimum(out, u.new_tensor(high))

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        (u,) = ctx.saved_tensors
        low, high = ctx.bounds
        inside = step(u - low)
        if high is not None:
            inside *= step(high - u)
        return dout * inside, None, None
