"""cnncourse.nn against cnncourse.scratch and PyTorch.

- One parametrised test over the layer registry: for every registered layer and every sample of
  its sampler, the ``cnncourse.nn`` function (the registry's ``nn_functional``; a layer without
  one fails) equals the scratch forward pass and the torch oracle in float64, keeps float32, and
  every gradient that autograd takes through it equals the scratch backward pass and torch's
  autograd gradient of the oracle; on the CPU, and on CUDA when a GPU is present.
- The modules against the ``torch.nn`` built-ins with copied state (both ways), batch
  normalisation's running statistics over several steps, the default initialisation, and a
  LeNet-like network whose layers are swapped for the built-ins.
- torch.autograd.gradcheck of the hand-written backward passes, the optimizers step by step
  against torch.optim, dropout's statistics, and the error messages.
"""

import numpy as np
import pytest
import torch
from torch import nn

import cnncourse.nn as cnn
from cnncourse.nn import autograd as course_autograd
from cnncourse.nn import functional as CF
from cnncourse.registry import get_layer, list_layers, resolve

LAYERS = list_layers()
CUDA = pytest.param("cuda", marks=[pytest.mark.gpu, pytest.mark.skipif(
    not torch.cuda.is_available(), reason="needs a CUDA device")])
DEVICES = ["cpu", CUDA]
RTOL, ATOL = 1e-10, 1e-12  # float64


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The tensors here are tiny: a second thread only adds hand-offs (a tiny float64 product
    waits milliseconds for it on a busy machine). The numbers do not depend on the threads."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def as_tuple(grads):
    return tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)


def tensors(arrays, device, requires_grad=()):
    return [torch.tensor(np.array(a), device=device).requires_grad_(i in requires_grad)
            for i, a in enumerate(arrays)]


def close(actual, expected, label, rtol=RTOL, atol=ATOL):
    if isinstance(actual, torch.Tensor):
        actual = actual.detach().cpu().numpy()
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().cpu().numpy()
    assert np.shape(actual) == np.shape(expected), f"{label}: shape {np.shape(actual)} != {np.shape(expected)}"
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=label)


# --------------------------------------------------------------------------- the registry
def test_every_registered_layer_has_its_nn_names():
    assert LAYERS, "no layer is registered"
    for name in LAYERS:
        spec = get_layer(name)
        assert spec.nn_functional, f"{name}: no cnncourse.nn function (nn_functional)"
        assert callable(resolve(spec.nn_functional))
        if spec.torch_module is not None:
            assert spec.nn_module, f"{name}: torch.nn has {spec.torch_module} but cnncourse.nn no module"
            assert issubclass(resolve(spec.torch_module), nn.Module)
        if spec.nn_module is not None:
            assert issubclass(resolve(spec.nn_module), nn.Module)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", LAYERS)
def test_nn_functional_equals_scratch_and_torch(name, device):
    spec = get_layer(name)
    assert spec.nn_functional, f"{name} has no cnncourse.nn version: set nn_functional in cnncourse.nn"
    function = resolve(spec.nn_functional)
    oracle = spec.oracle_function()
    wrt = spec.grad_indices()
    cases = spec.sampler(np.random.default_rng(0), np.float64)
    assert len(cases) >= 3, f"{name}: the sampler should sweep several settings"
    rng = np.random.default_rng(1)
    for sample in cases:
        label = f"{name} [{sample.label}] on {device}"
        inputs = [np.array(a, copy=True) for a in sample.inputs]
        expected, cache = spec.forward(*inputs, **sample.kwargs)
        dout = np.asarray(rng.normal(size=np.shape(expected)))
        scratch_grads = as_tuple(spec.backward(dout, cache))

        ours_in = tensors(inputs, device, requires_grad=wrt)
        before = [t.detach().clone() for t in ours_in]
        ours = function(*ours_in, **sample.kwargs)
        theirs_in = tensors(inputs, device, requires_grad=wrt)
        theirs = oracle(*theirs_in, **sample.kwargs)
        assert ours.device.type == device and ours.dtype == torch.float64, label
        close(ours, expected, f"{label} vs scratch")
        close(ours, theirs, f"{label} vs torch")
        for original, now in zip(before, ours_in):
            assert torch.equal(original, now.detach()), f"{label} changed its input"

        ours.backward(torch.tensor(dout, device=device))
        theirs.backward(torch.tensor(dout, device=device))
        for index in wrt:
            grad_label = f"{label} d{spec.input_names[index]}"
            close(ours_in[index].grad, scratch_grads[index], f"{grad_label} vs scratch backward")
            close(ours_in[index].grad, theirs_in[index].grad, f"{grad_label} vs torch autograd")

    rtol, atol = spec.float32_tolerance
    for sample in spec.sampler(np.random.default_rng(0), np.float32):
        expected, _ = spec.forward(*sample.inputs, **sample.kwargs)
        ours = function(*tensors(sample.inputs, device), **sample.kwargs)
        assert ours.dtype == torch.float32, f"{name} [{sample.label}] float32 in, {ours.dtype} out"
        close(ours, expected, f"{name} [{sample.label}] float32 vs scratch", rtol, atol)


# --------------------------------------------------------------------------- hand-written backward passes
CONV_SETTINGS = [
    # (x shape, w shape, stride, padding, dilation, bias)
    ((2, 3, 6, 5), (2, 3, 3, 3), 1, 0, 1, True),
    ((1, 2, 7, 7), (3, 2, 3, 2), 2, 1, 1, True),
    ((1, 2, 8, 7), (2, 2, 3, 3), (2, 1), (1, 2), (2, 1), False),
    ((1, 1, 9, 9), (2, 1, 2, 2), 3, 2, 2, True),
    ((1, 2, 6, 6), (2, 2, 2, 3), 1, "same", (1, 2), True),
    ((2, 2, 5, 5), (1, 2, 1, 1), 1, "valid", 1, True),
    ((2, 5, 4), (2, 2, 3, 3), 2, 2, 1, True),  # one (C, H, W) image
]


@pytest.mark.parametrize("setting", CONV_SETTINGS, ids=lambda s: f"x{s[0]} w{s[1]} s{s[2]} p{s[3]} d{s[4]}")
def test_conv2d_backward_passes_gradcheck(setting):
    x_shape, w_shape, stride, padding, dilation, bias = setting
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(x_shape, dtype=torch.float64, generator=generator, requires_grad=True)
    w = torch.randn(w_shape, dtype=torch.float64, generator=generator, requires_grad=True)
    b = torch.randn(w_shape[0], dtype=torch.float64, generator=generator, requires_grad=True) if bias else None
    inputs = (x, w) if b is None else (x, w, b)
    assert torch.autograd.gradcheck(
        lambda *a: CF.conv2d(*a, stride=stride, padding=padding, dilation=dilation), inputs)


def test_conv2d_is_the_hand_written_function():
    x = torch.randn(1, 2, 5, 5, requires_grad=True)
    w = torch.randn(3, 2, 3, 3, requires_grad=True)
    assert type(CF.conv2d(x, w).grad_fn).__name__ == "Conv2dFunctionBackward"
    assert type(CF.max_pool2d(x, 2).grad_fn).__name__ == "MaxPool2dFunctionBackward"


@pytest.mark.parametrize("padding", [0, 1, "same"])
def test_conv2d_in_many_blocks_equals_torch(monkeypatch, padding):
    """Blocks of one or two images (a tiny cache budget) give the numbers of one block."""
    monkeypatch.setattr(course_autograd, "_BLOCK_BYTES", 2 * 4 * 8 * 6 * 6 * 8)
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(5, 4, 6, 6, dtype=torch.float64, generator=generator, requires_grad=True)
    w = torch.randn(3, 4, 3, 3, dtype=torch.float64, generator=generator, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, generator=generator, requires_grad=True)
    ours = CF.conv2d(x, w, b, padding=padding)
    dout = torch.randn(ours.shape, dtype=torch.float64, generator=generator)
    grads = torch.autograd.grad(ours, (x, w, b), dout)
    theirs = torch.nn.functional.conv2d(x, w, b, padding=padding)
    expected = torch.autograd.grad(theirs, (x, w, b), dout)
    close(ours, theirs, "forward")
    for name, g, e in zip("xwb", grads, expected):
        close(g, e, f"d{name}")


def test_conv2d_computes_only_the_gradients_asked_for():
    x = torch.randn(2, 3, 6, 6, dtype=torch.float64)
    w = torch.randn(4, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    (dw,) = torch.autograd.grad(CF.conv2d(x, w, padding=1).sum(), (w,))
    close(dw, torch.autograd.grad(torch.nn.functional.conv2d(x, w, padding=1).sum(), (w,))[0], "dw")


POOL_SETTINGS = [
    ((2, 2, 6, 6), dict(kernel_size=2)),
    ((1, 2, 7, 7), dict(kernel_size=3, stride=2)),
    ((1, 1, 8, 9), dict(kernel_size=3, stride=1, padding=1)),
    ((2, 1, 7, 6), dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0))),
    ((2, 5, 5), dict(kernel_size=3, stride=2, padding=1)),
]


@pytest.mark.parametrize("shape, kwargs", POOL_SETTINGS, ids=lambda v: str(v))
def test_max_pool2d_backward_pass_gradcheck(shape, kwargs):
    size = int(np.prod(shape))
    values = (torch.randperm(size, generator=torch.Generator().manual_seed(0)).double() * 0.01).reshape(shape)
    x = values.requires_grad_()  # distinct values 0.01 apart: no step of gradcheck changes a winner
    assert torch.autograd.gradcheck(lambda t: CF.max_pool2d(t, **kwargs), (x,))


@pytest.mark.parametrize("values", ["ties", "nan", "-inf"])
def test_max_pool2d_routes_ties_nan_and_infinity_as_torch(values):
    rng = np.random.default_rng(4)
    for shape, kwargs in POOL_SETTINGS * 4:
        x = rng.integers(0, 3, size=shape).astype(np.float64)  # most windows hold several maxima
        if values == "nan":
            x[rng.random(shape) < 0.15] = np.nan
        elif values == "-inf":
            x[rng.random(shape) < 0.5] = -np.inf
        ours_x, theirs_x = tensors([x, x], "cpu", requires_grad=(0, 1))
        ours = CF.max_pool2d(ours_x, **kwargs)
        theirs = torch.nn.functional.max_pool2d(theirs_x, **kwargs)
        dout = torch.tensor(rng.normal(size=tuple(ours.shape)))
        ours.backward(dout)
        theirs.backward(dout)
        np.testing.assert_array_equal(ours.detach().numpy(), theirs.detach().numpy(), err_msg=f"{shape} {kwargs}")
        close(ours_x.grad, theirs_x.grad, f"{shape} {kwargs} dx", rtol=1e-14, atol=1e-15)  # sums in another order


EDGES = [float("nan"), -float("inf"), float("inf"), 0.0, -3.0, 1e-9, -1e-9, 2.0, 6.0, 7.5, -700.0, 700.0]


@pytest.mark.parametrize("ours, theirs", [
    (CF.relu, torch.relu), (CF.relu6, torch.nn.functional.relu6), (CF.sigmoid, torch.sigmoid),
    (CF.tanh, torch.tanh), (CF.softplus, lambda u: torch.nn.functional.softplus(u, threshold=40.0)),
], ids=["relu", "relu6", "sigmoid", "tanh", "softplus"])
def test_activations_at_kinks_zero_and_infinities_match_torch(ours, theirs):
    a = torch.tensor(EDGES, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(EDGES, dtype=torch.float64, requires_grad=True)
    y, z = ours(a), theirs(b)
    np.testing.assert_allclose(y.detach().numpy(), z.detach().numpy(), rtol=1e-14, atol=0)
    y.backward(torch.ones_like(y))
    z.backward(torch.ones_like(z))
    finite = torch.isfinite(a.detach())  # PyTorch's ReLU passes the gradient of a NaN input, scratch's does not
    # PyTorch's 1 - y^2 and y (1 - y) lose digits where y is near 1 (1e-10 relative at u = 7.5;
    # 0 instead of e^-700 at u = 700)
    np.testing.assert_allclose(a.grad[finite].numpy(), b.grad[finite].numpy(), rtol=1e-8, atol=1e-300)


def test_max_pool2d_without_gradient_equals_torch_on_ties_and_nan():
    rng = np.random.default_rng(6)
    x = rng.integers(0, 3, size=(2, 3, 9, 8)).astype(np.float64)
    x[rng.random(x.shape) < 0.1] = np.nan
    for kwargs in (dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2)):
        t = torch.tensor(x)
        np.testing.assert_array_equal(CF.max_pool2d(t, **kwargs).numpy(),
                                      torch.nn.functional.max_pool2d(t, **kwargs).numpy())


# --------------------------------------------------------------------------- modules against torch.nn
MODULE_CASES = [
    # (class name, constructor arguments, input shape)
    ("Conv2d", dict(in_channels=3, out_channels=4, kernel_size=3, stride=2, padding=1), (2, 3, 9, 9)),
    ("Conv2d", dict(in_channels=2, out_channels=3, kernel_size=(2, 3), padding="same", dilation=(1, 2),
                    bias=False), (2, 2, 7, 8)),
    ("Conv2d", dict(in_channels=2, out_channels=2, kernel_size=3, padding=(1, 2), padding_mode="reflect"),
     (1, 2, 6, 7)),
    ("Conv2d", dict(in_channels=2, out_channels=2, kernel_size=3, padding=1, padding_mode="circular"),
     (1, 2, 5, 5)),
    ("MaxPool2d", dict(kernel_size=3, stride=2, padding=1), (2, 3, 8, 7)),
    ("AvgPool2d", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False), (2, 3, 8, 7)),
    ("AvgPool2d", dict(kernel_size=2, divisor_override=3), (1, 2, 6, 6)),
    ("Sigmoid", {}, (3, 5)), ("Tanh", {}, (3, 5)), ("ReLU", {}, (3, 5)), ("ReLU6", {}, (3, 5)),
    ("ReLU", dict(inplace=True), (3, 5)),
    ("Softplus", {}, (3, 5)), ("Softplus", dict(beta=2.0, threshold=5.0), (4, 6)),
    ("Linear", dict(in_features=5, out_features=3), (4, 5)),
    ("Linear", dict(in_features=6, out_features=2, bias=False), (2, 3, 6)),
    ("Flatten", {}, (2, 3, 4, 5)), ("Flatten", dict(start_dim=2), (2, 3, 4, 5)),
    ("BatchNorm1d", dict(num_features=4), (6, 4)),
    ("BatchNorm1d", dict(num_features=3, momentum=0.3, affine=False), (5, 3, 4)),
    ("BatchNorm2d", dict(num_features=3, eps=1e-3), (4, 3, 5, 5)),
    ("BatchNorm2d", dict(num_features=2, track_running_stats=False), (3, 2, 4, 4)),
    ("Softmax", dict(dim=1), (3, 4, 2)),
]


def randomize_state(module, generator):
    with torch.no_grad():
        for value in module.state_dict().values():
            if value.is_floating_point():
                value.copy_(torch.rand(value.shape, generator=generator, dtype=value.dtype) + 0.5)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", MODULE_CASES, ids=lambda c: f"{c[0]}{c[1]}")
def test_module_equals_the_builtin_with_copied_state(case, device):
    class_name, kwargs, shape = case
    builtin = getattr(nn, class_name)(**kwargs).double().to(device)
    ours = getattr(cnn, class_name)(**kwargs).double().to(device)
    generator = torch.Generator().manual_seed(0)
    randomize_state(builtin, generator)
    assert list(ours.state_dict()) == list(builtin.state_dict()), "state_dict keys differ"
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in builtin.named_parameters()]
    ours.load_state_dict(builtin.state_dict())
    for mode in (True, False):
        builtin.train(mode)
        ours.train(mode)
        x = (torch.randn(shape, dtype=torch.float64, generator=generator) * 3).to(device)
        ours_x, theirs_x = x.clone().requires_grad_(), x.clone().requires_grad_()
        ours_y, theirs_y = ours(ours_x), builtin(theirs_x * 1)  # (* 1: ReLU(inplace=True) needs a non-leaf)
        label = f"{class_name}{kwargs} training={mode}"
        close(ours_y, theirs_y, label)
        dout = torch.randn(ours_y.shape, dtype=torch.float64, generator=generator).to(device)
        ours_y.backward(dout)
        theirs_y.backward(dout)
        close(ours_x.grad, theirs_x.grad, f"{label} dx")
        for (name, p), q in zip(ours.named_parameters(), builtin.parameters()):
            close(p.grad, q.grad, f"{label} d{name}")
        for (name, value), other in zip(ours.state_dict().items(), builtin.state_dict().values()):
            close(value, other, f"{label} {name}")
    builtin.load_state_dict(ours.state_dict())  # and back


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("class_name, shape", [("BatchNorm2d", (4, 3, 5, 5)), ("BatchNorm1d", (8, 3))])
def test_batch_norm_running_statistics_follow_torch_over_steps(class_name, shape, momentum):
    ours = getattr(cnn, class_name)(3, momentum=momentum).double()
    builtin = getattr(nn, class_name)(3, momentum=momentum).double()
    generator = torch.Generator().manual_seed(2)
    for step in range(6):
        x = torch.randn(shape, dtype=torch.float64, generator=generator) * (step + 1) + step
        close(ours(x), builtin(x), f"step {step} output")
        for (name, value), other in zip(ours.state_dict().items(), builtin.state_dict().values()):
            close(value, other, f"step {step} {name}")
    assert int(ours.num_batches_tracked) == 6
    ours.eval()
    builtin.eval()
    x = torch.randn(shape, dtype=torch.float64, generator=generator)
    close(ours(x), builtin(x), "evaluation mode")
    close(ours(x[:1]), builtin(x)[:1], "evaluation mode normalises every sample on its own")


@pytest.mark.parametrize("make_ours, make_builtin", [
    (lambda: cnn.Conv2d(3, 5, 3), lambda: nn.Conv2d(3, 5, 3)),
    (lambda: cnn.Conv2d(4, 2, (1, 3), bias=False), lambda: nn.Conv2d(4, 2, (1, 3), bias=False)),
    (lambda: cnn.Linear(7, 4), lambda: nn.Linear(7, 4)),
    (lambda: cnn.BatchNorm2d(3), lambda: nn.BatchNorm2d(3)),
])
def test_default_initialisation_draws_what_torch_draws(make_ours, make_builtin):
    torch.manual_seed(11)
    ours = make_ours()
    torch.manual_seed(11)
    builtin = make_builtin()
    for (name, value), other in zip(ours.state_dict().items(), builtin.state_dict().values()):
        assert torch.equal(value, other), name


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_modules_equal_the_builtins(reduction):
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(6, 4, dtype=torch.float64, generator=generator) * 3
    labels = torch.randint(0, 4, (6,), generator=generator)
    target = torch.randn(6, 4, dtype=torch.float64, generator=generator)
    for ours, builtin, second in ((cnn.CrossEntropyLoss(reduction=reduction),
                                   nn.CrossEntropyLoss(reduction=reduction), labels),
                                  (cnn.MSELoss(reduction=reduction), nn.MSELoss(reduction=reduction), target)):
        a, b = logits.clone().requires_grad_(), logits.clone().requires_grad_()
        y, z = ours(a, second), builtin(b, second)
        close(y, z, f"{type(ours).__name__} {reduction}")
        dout = torch.ones_like(y)
        y.backward(dout)
        z.backward(dout)
        close(a.grad, b.grad, f"{type(ours).__name__} {reduction} gradient")


def test_softmax_without_dim_picks_torchs_axis_and_warns():
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    with pytest.warns(UserWarning, match="dim"):
        ours = cnn.Softmax()(x)
    with pytest.warns(UserWarning):
        expected = nn.Softmax()(x)
    close(ours, expected, "implicit dim")


def lenet_like():
    """A LeNet-like network made only of cnncourse.nn layers (for 1 x 28 x 28 inputs)."""
    return nn.Sequential(
        cnn.Conv2d(1, 6, 5, padding=2), cnn.BatchNorm2d(6), cnn.ReLU(), cnn.MaxPool2d(2),
        cnn.Conv2d(6, 16, 3, padding="same"), cnn.Tanh(), cnn.AvgPool2d(2),
        cnn.Flatten(), cnn.Dropout(p_keep=0.5), cnn.Linear(16 * 7 * 7, 32), cnn.ReLU6(),
        cnn.Linear(32, 10),
    )


def leaves(model):
    return [m for m in model.modules() if not list(m.children())]


def test_a_network_gives_the_same_numbers_with_every_layer_swapped_for_the_builtin():
    torch.manual_seed(0)
    ours = lenet_like().double()
    builtin = cnn.to_builtin(ours)
    assert all(type(m).__module__.startswith("cnncourse.nn") for m in leaves(ours))
    assert all(type(m).__module__.startswith("torch.nn") for m in leaves(builtin))
    assert isinstance(builtin[8], nn.Dropout) and builtin[8].p == 0.5
    assert list(ours.state_dict()) == list(builtin.state_dict())

    generator = torch.Generator().manual_seed(5)
    x = torch.randn(8, 1, 28, 28, dtype=torch.float64, generator=generator)
    labels = torch.randint(0, 10, (8,), generator=generator)
    ours.eval()
    builtin.eval()
    close(ours(x), builtin(x), "evaluation mode")

    # training mode, dropout aside (the two draw their masks differently): three SGD steps
    ours.train()
    builtin.train()
    ours[8].eval()
    builtin[8].eval()
    optimizer = cnn.SGD(ours.parameters(), lr=0.05, momentum=0.9)
    builtin_optimizer = torch.optim.SGD(builtin.parameters(), lr=0.05, momentum=0.9)
    for step in range(3):
        for model, opt, loss_fn in ((ours, optimizer, cnn.CrossEntropyLoss()),
                                    (builtin, builtin_optimizer, nn.CrossEntropyLoss())):
            opt.zero_grad()
            loss_fn(model(x), labels).backward()
            opt.step()
        for (name, value), other in zip(ours.state_dict().items(), builtin.state_dict().values()):
            close(value, other, f"step {step} {name}", rtol=1e-9, atol=1e-11)

    back = cnn.from_builtin(builtin)
    assert [type(m) for m in leaves(back)] == [type(m) for m in leaves(ours)]
    back.eval()
    builtin.eval()
    close(back(x), builtin(x), "from_builtin")


# --------------------------------------------------------------------------- dropout
def test_dropout_keeps_p_keep_of_the_units_and_rescales_them():
    x = torch.ones(200, 500, dtype=torch.float64, requires_grad=True)
    y = CF.dropout(x, 0.8, rng=7)
    kept = y.detach() != 0
    assert abs(kept.double().mean().item() - 0.8) < 0.01
    assert torch.allclose(y.detach()[kept], torch.tensor(1 / 0.8, dtype=torch.float64))
    y.backward(torch.ones_like(y))
    assert torch.equal(x.grad, kept.double() / 0.8)
    assert torch.equal(CF.dropout(x, 0.8, rng=7), y), "the same seed draws the same mask"
    assert CF.dropout(x, 0.8, training=False) is x
    layer = cnn.Dropout(p_keep=0.3)
    assert (layer(x) != 0).double().mean().item() == pytest.approx(0.3, abs=0.01)
    assert torch.equal(layer.eval()(x), x)
    assert cnn.from_builtin(nn.Dropout(p=0.25)).p_keep == 0.75


# --------------------------------------------------------------------------- optimizers
SHAPES = [(3, 4), (5,), (2, 3, 2, 2)]


def run_side_by_side(make_ours, make_theirs, steps=20, seed=0, swap_state_at=None):
    """The same gradients (a function of the parameters plus noise) on both sides, 20 steps."""
    generator = torch.Generator().manual_seed(seed)
    start = [torch.randn(s, dtype=torch.float64, generator=generator) for s in SHAPES]
    ours = [p.clone().requires_grad_() for p in start]
    theirs = [p.clone().requires_grad_() for p in start]
    opt, topt = make_ours(ours), make_theirs(theirs)
    for step in range(steps):
        if step == swap_state_at:  # each continues from the other's state
            ours_state, theirs_state = opt.state_dict(), topt.state_dict()
            opt.load_state_dict(theirs_state)
            topt.load_state_dict(ours_state)
        for p, t in zip(ours, theirs):
            g = torch.sin(p.detach()) + torch.randn(p.shape, dtype=torch.float64, generator=generator)
            p.grad, t.grad = g.clone(), g.clone()
        opt.step()
        topt.step()
        for p, t in zip(ours, theirs):
            close(p, t, f"step {step}", rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kwargs", [
    dict(lr=0.1), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.02, momentum=0.5, dampening=0.3, weight_decay=0.01), dict(lr=0.1, weight_decay=0.1, maximize=True),
])
def test_sgd_equals_torch_step_by_step(kwargs):
    run_side_by_side(lambda ps: cnn.SGD(ps, **kwargs), lambda ts: torch.optim.SGD(ts, **kwargs))


@pytest.mark.parametrize("kwargs", [
    dict(), dict(lr=0.01, betas=(0.8, 0.99)), dict(lr=0.005, eps=1e-6, weight_decay=0.05),
    dict(lr=0.01, amsgrad=True), dict(lr=0.01, maximize=True),
])
def test_adam_equals_torch_step_by_step(kwargs):
    run_side_by_side(lambda ps: cnn.Adam(ps, **kwargs), lambda ts: torch.optim.Adam(ts, **kwargs))


def test_optimizers_take_parameter_groups_schedules_and_each_others_state():
    def groups(ps):
        return [{"params": ps[:1], "lr": 0.05}, {"params": ps[1:]}]

    run_side_by_side(lambda ps: cnn.SGD(groups(ps), lr=0.1, momentum=0.9),
                     lambda ts: torch.optim.SGD(groups(ts), lr=0.1, momentum=0.9), swap_state_at=10)
    run_side_by_side(lambda ps: cnn.Adam(groups(ps), lr=0.01), lambda ts: torch.optim.Adam(groups(ts), lr=0.01),
                     swap_state_at=10)
    p = torch.zeros(3, requires_grad=True)
    optimizer = cnn.Adam([p], lr=0.1)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    for _ in range(4):
        p.grad = torch.ones(3)
        optimizer.step()
        schedule.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.025)


# --------------------------------------------------------------------------- bad arguments
X = torch.randn(2, 3, 6, 6)
W = torch.randn(4, 3, 3, 3)
LOGITS = torch.randn(4, 3)
PARAMS = [torch.zeros(2, requires_grad=True)]

BAD_CALLS = [
    (lambda: CF.conv2d(X.numpy(), W), TypeError, "x must be a torch.Tensor"),
    (lambda: CF.conv2d(X.long(), W), TypeError, "x must be a floating-point tensor"),
    (lambda: CF.conv2d(X[0, 0], W), ValueError, "x must be a 3D or 4D"),
    (lambda: CF.conv2d(X, W[:, :2]), ValueError, "input channels"),
    (lambda: CF.conv2d(X, W, torch.zeros(3)), ValueError, "b must have shape"),
    (lambda: CF.conv2d(X, W, stride=0), ValueError, "stride"),
    (lambda: CF.conv2d(X, W, padding="full"), ValueError, "padding"),
    (lambda: CF.conv2d(X, W, padding="same", stride=2), ValueError, "padding='same'"),
    (lambda: CF.conv2d(X, W, dilation=1.5), TypeError, "dilation"),
    (lambda: CF.conv2d(X, W, dilation=4), ValueError, "kernel spans"),
    (lambda: CF.conv2d(X, W.to("meta")), ValueError, "w is on meta"),
    (lambda: CF.max_pool2d(X, 3, padding=2), ValueError, "padding"),
    (lambda: CF.max_pool2d(X, 0), ValueError, "kernel_size"),
    (lambda: CF.avg_pool2d(X, 2, count_include_pad=1), TypeError, "count_include_pad"),
    (lambda: CF.avg_pool2d(X, 2, divisor_override=0), ValueError, "divisor_override"),
    (lambda: CF.global_avg_pool2d(X[0]), ValueError, "x must be a 4D"),
    (lambda: CF.relu([1.0, -1.0]), TypeError, "u must be a torch.Tensor"),
    (lambda: CF.sigmoid(torch.arange(3)), TypeError, "u must be a floating-point"),
    (lambda: CF.linear(LOGITS, torch.randn(2, 4)), ValueError, "features"),
    (lambda: CF.linear(LOGITS, torch.randn(2, 3), torch.zeros(3)), ValueError, "b must have shape"),
    (lambda: CF.flatten(torch.randn(3)), ValueError, "at least 2 dimensions"),
    (lambda: CF.softmax(LOGITS, axis=2), ValueError, "axis"),
    (lambda: CF.softmax_cross_entropy(LOGITS, torch.tensor([0, 1, 3, 0])), ValueError, "labels must be class indices"),
    (lambda: CF.softmax_cross_entropy(LOGITS, torch.tensor([0, 1])), ValueError, "one class index per sample"),
    (lambda: CF.softmax_cross_entropy(LOGITS, torch.tensor([0.5, 1, 2, 0])), TypeError, "labels must be integer"),
    (lambda: CF.softmax_cross_entropy(LOGITS, torch.tensor([0, 1, 2, 0]), reduction="avg"), ValueError, "reduction"),
    (lambda: CF.cross_entropy(LOGITS.softmax(1), torch.tensor([[0, 1]])), ValueError, "labels must be a 1D"),
    (lambda: CF.mse_loss(LOGITS, LOGITS[:2]), ValueError, "same shape"),
    (lambda: CF.batch_norm(X, torch.ones(2), None), ValueError, "gamma must have shape"),
    (lambda: CF.batch_norm(X, training=False), ValueError, "running_mean and running_var"),
    (lambda: CF.batch_norm(LOGITS[:1]), ValueError, "more than one value"),
    (lambda: CF.batch_norm(X, momentum=2.0), ValueError, "momentum"),
    (lambda: CF.batch_norm(X, eps=0.0), ValueError, "eps"),
    (lambda: CF.batch_norm_per_pixel(X, torch.ones(3)), ValueError, "gamma must have shape"),
    (lambda: CF.dropout(X, p_keep=0.0), ValueError, "p_keep"),
    (lambda: CF.dropout(X, 0.5, rng="seed"), TypeError, "rng"),
    (lambda: CF.dropout(X, 0.5, training="yes"), TypeError, "training"),
    (lambda: CF.masked_dropout(LOGITS, torch.full((4, 3), 2), 0.5), ValueError, "mask must hold only 0 and 1"),
    (lambda: CF.masked_dropout(LOGITS, torch.ones(3, 4), 0.5), ValueError, "same shape"),
    (lambda: cnn.Conv2d(0, 4, 3), ValueError, "in_channels"),
    (lambda: cnn.Conv2d(3, 4, 3, groups=3), ValueError, "groups"),
    (lambda: cnn.Conv2d(3, 4, 3, padding_mode="mirror"), ValueError, "padding_mode"),
    (lambda: cnn.Conv2d(3, 4, 3, padding="same", stride=2), ValueError, "padding='same'"),
    (lambda: cnn.Linear(3.5, 2), TypeError, "in_features"),
    (lambda: cnn.MaxPool2d(2, ceil_mode=True), ValueError, "ceil_mode"),
    (lambda: cnn.MaxPool2d(2, dilation=2), ValueError, "dilation"),
    (lambda: cnn.MaxPool2d(2, return_indices=True), ValueError, "return_indices"),
    (lambda: cnn.AvgPool2d(2, ceil_mode=True), ValueError, "ceil_mode"),
    (lambda: cnn.BatchNorm2d(0), ValueError, "num_features"),
    (lambda: cnn.BatchNorm2d(3)(X[0]), ValueError, "BatchNorm2d expects a 4D"),
    (lambda: cnn.BatchNorm1d(3, momentum=-0.1), ValueError, "momentum"),
    (lambda: cnn.Dropout(p_keep=1.5), ValueError, "p_keep"),
    (lambda: cnn.Softplus(beta=0), ValueError, "beta"),
    (lambda: cnn.CrossEntropyLoss(weight=torch.ones(3)), ValueError, "weight"),
    (lambda: cnn.CrossEntropyLoss(label_smoothing=0.1), ValueError, "label_smoothing"),
    (lambda: cnn.CrossEntropyLoss(reduction="avg"), ValueError, "reduction"),
    (lambda: cnn.MSELoss(reduce=False), ValueError, "reduce"),
    (lambda: cnn.to_builtin("lenet"), TypeError, "model"),
    (lambda: cnn.SGD(PARAMS, lr=-1.0), ValueError, "lr"),
    (lambda: cnn.SGD(PARAMS, lr=0.1, momentum="high"), TypeError, "momentum"),
    (lambda: cnn.SGD(PARAMS, lr=0.1, nesterov=True), ValueError, "nesterov"),
    (lambda: cnn.Adam(PARAMS, betas=(1.0, 0.9)), ValueError, r"betas\[0\]"),
    (lambda: cnn.Adam(PARAMS, betas=0.9), TypeError, "betas"),
    (lambda: cnn.Adam(PARAMS, eps=-1.0), ValueError, "eps"),
]


@pytest.mark.parametrize("call, error, match", BAD_CALLS, ids=[c[2] for c in BAD_CALLS])
def test_bad_arguments_raise_errors_that_name_them(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_float32_layers_on_a_float64_input_promote_like_scratch():
    x = torch.randn(1, 2, 5, 5, dtype=torch.float64)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float32)
    assert CF.conv2d(x, w).dtype == torch.float64
    assert CF.linear(x.flatten(1), torch.randn(2, 50)).dtype == torch.float64
