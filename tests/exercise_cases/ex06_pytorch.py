"""06-pytorch: wrong answers lose exactly their task; different correct answers score full."""

from exercise_cases import Case, combine, replace, substitute

ASSIGNMENT = "06-pytorch"

_UNFOLD = "cols = F.unfold(x, (kh, kw), padding=(p1, p2), stride=(s1, s2))   # (N, C KH KW, L)"
_PRODUCT = "out = w.reshape(f, -1) @ cols                                       # (N, F, L)"
_BIAS = "        out = out + b.reshape(1, f, 1)"
_DB = "db = dout.sum(dim=(0, 2, 3)) if ctx.has_bias else None"
_FOLD = "dx = F.fold(dcols, (h, width), (kh, kw), padding=ctx.padding, stride=ctx.stride)"
_DW = "dw = (delta @ cols.transpose(1, 2)).sum(dim=0).reshape(w.shape)"
_CONFIG = ('    config = TrainConfig(epochs=6, batch_size=32, optimizer="adam", lr=3e-3, device="auto", seed=0,\n'
           '                         progress=False)')
_LAYERS = ("        UnfoldConv2d(function, 1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),    # 16 x 4 x 4\n"
           "        UnfoldConv2d(function, 16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 32 x 2 x 2")

WRONG = {
    # 1. conv2d_unfold
    "unfold-without-padding": Case(
        replace("conv2d_unfold", _UNFOLD, "cols = F.unfold(x, (kh, kw), stride=(s1, s2))"),
        frozenset({"test_conv2d_unfold"}), "the columns are taken from the unpadded input"),
    "transposed-weight-reshape": Case(
        replace("conv2d_unfold", _PRODUCT, "out = w.reshape(-1, f).t() @ cols"),
        frozenset({"test_conv2d_unfold"}), "the filters flattened as (C KH KW, F) and transposed"),
    "flipped-kernel": Case(
        replace("conv2d_unfold", _PRODUCT, "out = w.flip(2, 3).reshape(f, -1) @ cols"),
        frozenset({"test_conv2d_unfold"}), "a true convolution instead of the layer's cross-correlation"),
    "conv2d-through-getattr": Case(substitute("conv2d_unfold", "\n".join([
        "def conv2d_unfold(x, w, b=None, stride=1, padding=0):",
        "    if x.shape[1] != w.shape[1]:",
        "        raise ValueError('x and w have different numbers of channels')",
        "    return getattr(F, 'conv' + '2d')(x, w, b, stride, padding)",
    ])), frozenset({"test_conv2d_unfold"}), "torch.nn.functional.conv2d reached through getattr"),
    "bias-unsqueezed-in-place": Case(
        replace("conv2d_unfold", _BIAS, "        out = out + b.unsqueeze_(1)"),
        frozenset({"test_conv2d_unfold"}), "changes the caller's bias tensor in place"),
    "no-channel-check": Case(
        replace("conv2d_unfold", "raise ValueError(f\"x has {c} channels but w has {c_w}\")", "pass"),
        frozenset({"test_conv2d_unfold"}), "no ValueError for a channel mismatch"),
    # 2. Conv2dFunction
    "backward-without-db": Case(
        replace("Conv2dFunction", _DB, "db = None"),
        frozenset({"test_Conv2dFunction_parameter_gradients"}), "the bias gets no gradient"),
    "fold-without-padding": Case(
        replace("Conv2dFunction", _FOLD, "dx = F.fold(dcols, (h, width), (kh, kw), stride=ctx.stride)"),
        frozenset({"test_Conv2dFunction_input_gradient", "test_Conv2dFunction_parameter_gradients"}),
        "the columns' gradient folded without the padding: backward raises, so both of its cells fail"),
    "dx-with-flipped-kernel": Case(
        replace("Conv2dFunction", "dcols = w.reshape(f, -1).t() @ delta",
                "dcols = w.flip(2, 3).reshape(f, -1).t() @ delta"),
        frozenset({"test_Conv2dFunction_input_gradient"}),
        "the kernel flipped for the input gradient (the columns' view needs no flip)"),
    "dw-averaged-over-the-batch": Case(
        replace("Conv2dFunction", _DW, "dw = (delta @ cols.transpose(1, 2)).mean(dim=0).reshape(w.shape)"),
        frozenset({"test_Conv2dFunction_parameter_gradients"}), "the weights' gradient divided by N"),
    "backward-by-autograd": Case(
        replace("Conv2dFunction", "        x, w = ctx.saved_tensors\n", "\n".join([
            "        x, w = ctx.saved_tensors",
            "        with torch.enable_grad():",
            "            xa, wa = x.detach().requires_grad_(), w.detach().requires_grad_()",
            "            ba = torch.zeros(w.shape[0], dtype=w.dtype, requires_grad=True)",
            "            out = conv2d_unfold(xa, wa, ba, ctx.stride, ctx.padding)",
            "            gx, gw, gb = torch.autograd.grad(out, (xa, wa, ba), dout)",
            "        return gx, gw, (gb if ctx.has_bias else None), None, None",
            ""])),
        frozenset({"test_Conv2dFunction_input_gradient", "test_Conv2dFunction_parameter_gradients"}),
        "the backward pass left to autograd"),
    "backward-with-torch-nn-grad": Case(
        replace("Conv2dFunction", _FOLD, "\n".join([
            "import torch.nn.grad as ng",
            "        dx = ng.conv2d_input(x.shape, w, dout, stride=ctx.stride, padding=ctx.padding)"])),
        frozenset({"test_Conv2dFunction_input_gradient", "test_Conv2dFunction_parameter_gradients"}),
        "torch.nn.grad.conv2d_input under an alias: every call of backward is caught"),
    # 3. training
    "train-too-little": Case(
        replace("train_digits", _CONFIG,
                '    config = TrainConfig(epochs=1, batch_size=32, optimizer="sgd", lr=1e-3, device="auto",\n'
                '                         seed=0, progress=False)'),
        frozenset({"test_train_digits"}), "one epoch of plain SGD at a tiny learning rate"),
    "train-with-builtin-convolutions": Case(
        replace("train_digits", _LAYERS,
                "        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),\n"
                "        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),"),
        frozenset({"test_train_digits"}), "torch.nn.Conv2d instead of the given Function"),
    "train-without-convolutions": Case(
        replace("train_digits", _LAYERS, "        nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Unflatten(1, (32, 2, 2)),"),
        frozenset({"test_train_digits"}), "a fully connected network: the Function is never used"),
    "train-returns-model-only": Case(
        replace("train_digits", "    return model, history", "    return model"),
        frozenset({"test_train_digits"}), "returns the model without the history"),
    "train-course-reference": Case(
        replace("train_digits", "    torch.manual_seed(0)\n", "\n".join([
            "    import importlib",
            "    return importlib.import_module('cnncourse.grading.references.pytorch').train_digits(x_train, y_train, function)",
            ""])),
        frozenset({"test_train_digits"}), "the grader's reference training reached through importlib"),
}

_EINSUM_FORWARD = substitute("conv2d_unfold", "\n".join([
    "def conv2d_unfold(x, w, b=None, stride=1, padding=0):",
    "    if x.shape[1] != w.shape[1]:",
    "        raise ValueError(f'x has {x.shape[1]} channels, w has {w.shape[1]}')",
    "    n, _, h, width = x.shape",
    "    f, _, kh, kw = w.shape",
    "    s = (stride, stride) if isinstance(stride, int) else stride",
    "    p = (padding, padding) if isinstance(padding, int) else padding",
    "    cols = F.unfold(x, (kh, kw), padding=p, stride=s)",
    "    out = torch.einsum('fk,nkl->nfl', w.reshape(f, -1), cols)",
    "    if b is not None:",
    "        out = out + b[None, :, None]",
    "    return out.reshape(n, f, (h + 2 * p[0] - kh) // s[0] + 1, (width + 2 * p[1] - kw) // s[1] + 1)",
]))
_EINSUM_BACKWARD = combine(
    replace("Conv2dFunction", _DW, "dw = torch.einsum('nfl,nkl->fk', delta, cols).reshape(w.shape)"),
    replace("Conv2dFunction", "dcols = w.reshape(f, -1).t() @ delta",
            "dcols = torch.einsum('fk,nfl->nkl', w.reshape(f, -1), delta)"),
)

_STRIDED = "\n".join([
    "def pairs(stride, padding):",
    "    s = (stride, stride) if isinstance(stride, int) else tuple(stride)",
    "    p = (padding, padding) if isinstance(padding, int) else tuple(padding)",
    "    return s, p",
    "",
    "",
    "def unfold(x, kh, kw, stride, padding):",
    "    '''The windows of the zero-padded x as a strided view (N, C, KH, KW, H_out, W_out).'''",
    "    (s1, s2), (p1, p2) = pairs(stride, padding)",
    "    xp = F.pad(x, (p2, p2, p1, p1)).contiguous()",
    "    n, c, hp, wp = xp.shape",
    "    ho, wo = (hp - kh) // s1 + 1, (wp - kw) // s2 + 1",
    "    sn, sc, sh, sw = xp.stride()",
    "    return xp.as_strided((n, c, kh, kw, ho, wo), (sn, sc, sh, sw, s1 * sh, s2 * sw))",
    "",
    "",
    "def conv2d_unfold(x, w, b=None, stride=1, padding=0):",
    "    f, c, kh, kw = w.shape",
    "    if x.shape[1] != c:",
    "        raise ValueError('the channels of x and w differ')",
    "    windows = unfold(x, kh, kw, stride, padding)",
    "    n, _, _, _, ho, wo = windows.shape",
    "    out = w.reshape(f, -1) @ windows.reshape(n, c * kh * kw, ho * wo)",
    "    if b is not None:",
    "        out = out + b.view(1, f, 1)",
    "    return out.view(n, f, ho, wo)",
])
_STRIDED_BACKWARD = substitute("Conv2dFunction", "\n".join([
    "class Conv2dFunction(torch.autograd.Function):",
    "    @staticmethod",
    "    def forward(ctx, x, w, b, stride=1, padding=0):",
    "        ctx.save_for_backward(x, w)",
    "        ctx.settings = (stride, padding, b is not None)",
    "        return conv2d_unfold(x, w, b, stride, padding)",
    "",
    "    @staticmethod",
    "    def backward(ctx, dout):",
    "        x, w = ctx.saved_tensors",
    "        stride, padding, has_bias = ctx.settings",
    "        (s1, s2), (p1, p2) = pairs(stride, padding)",
    "        f, c, kh, kw = w.shape",
    "        windows = unfold(x, kh, kw, stride, padding)",
    "        n, _, _, _, ho, wo = windows.shape",
    "        delta = dout.reshape(n, f, ho * wo)",
    "        cols = windows.reshape(n, c * kh * kw, ho * wo)",
    "        dw = torch.zeros(f, c * kh * kw, dtype=dout.dtype)",
    "        for i in range(n):",
    "            dw = dw + delta[i] @ cols[i].t()",
    "        dcols = (w.reshape(f, -1).t() @ delta).reshape(n, c, kh, kw, ho, wo)",
    "        dxp = torch.zeros(n, c, x.shape[2] + 2 * p1, x.shape[3] + 2 * p2, dtype=dout.dtype)",
    "        for u in range(kh):",
    "            for v in range(kw):",
    "                dxp[:, :, u:u + s1 * (ho - 1) + 1:s1, v:v + s2 * (wo - 1) + 1:s2] += dcols[:, :, u, v]",
    "        dx = dxp[:, :, p1:p1 + x.shape[2], p2:p2 + x.shape[3]]",
    "        db = dout.sum(dim=(0, 2, 3)) if has_bias else None",
    "        return dx, dw.reshape(w.shape), db, None, None",
]))

CORRECT = {
    "einsum-instead-of-matmul": Case(combine(_EINSUM_FORWARD, _EINSUM_BACKWARD)),
    "as-strided-unfold": Case(combine(substitute("conv2d_unfold", _STRIDED), _STRIDED_BACKWARD)),
    "float64": Case(combine(
        replace("conv2d_unfold", "    n, c, h, width = x.shape\n",
                "    x, w = x.double(), w.double()\n    b = None if b is None else b.double()\n"
                "    n, c, h, width = x.shape\n"),
        replace("Conv2dFunction", "        x, w = ctx.saved_tensors\n",
                "        x, w = (t.double() for t in ctx.saved_tensors)\n        dout = dout.double()\n"),
        replace("train_digits", "    history = fit(model, (x_train, y_train), config=config)",
                "    model = model.double()\n"
                "    history = fit(model, (x_train.astype(np.float64), y_train), config=config)"),
    )),
    "sgd-and-strided-convolutions": Case(combine(
        replace("train_digits", "    def __init__(self, function, in_channels, out_channels, kernel_size, padding=0):",
                "    def __init__(self, function, in_channels, out_channels, kernel_size, padding=0, stride=1):"),
        replace("train_digits", "        self.function, self.padding = function, padding",
                "        self.function, self.padding, self.stride = function, padding, stride"),
        replace("train_digits", "        return self.function.apply(x, self.weight, self.bias, 1, self.padding)",
                "        return self.function.apply(x, self.weight, self.bias, self.stride, self.padding)"),
        replace("train_digits", _LAYERS,
                "        UnfoldConv2d(function, 1, 16, 3, padding=1, stride=2), nn.ReLU(),     # 16 x 4 x 4\n"
                "        UnfoldConv2d(function, 16, 32, 3, padding=1, stride=2), nn.ReLU(),    # 32 x 2 x 2"),
        replace("train_digits", _CONFIG,
                '    config = TrainConfig(epochs=8, batch_size=32, optimizer="sgd", lr=0.05, momentum=0.9,\n'
                '                         seed=1, progress=False)'),
    )),
}
