"""Exercise 07-architectures: the reference of every task, built on :mod:`cnncourse.models`, and
the helpers its tests use to run and compare PyTorch modules.

The tasks are ``nn.Module`` classes and functions that build or inspect modules. The checker
(:class:`~cnncourse.grading.Checker`) was written for NumPy functions, so the tests hand torch
objects to it through two small adapters:

* :class:`Caller` makes anything callable (a class, a module, a bound method) look like a
  function to :meth:`Checker.call`, with a name and the signature of what it calls;
* :class:`Argument` wraps a tensor or a module passed to the student's code: the checker's
  snapshot of it is a real copy, compared by value afterwards (so an input changed in place is
  reported), and messages describe it by its shape instead of printing its numbers.

:func:`copy_parameters` copies the weights of one module into another by name, or by position
when the names differ (``nn.Sequential`` instead of named attributes), so that a student's module
and the reference can be compared on the same weights.
"""

from __future__ import annotations

import copy
import functools
import inspect
import types

import numpy as np
import torch
from torch import nn

from cnncourse.grading import checks
from cnncourse.models.densenet import DenseBlock as _DenseBlock
from cnncourse.models.densenet import Transition
from cnncourse.models.profile import count_parameters as _count_parameters
from cnncourse.models.resnet import BasicBlock as _BasicBlock

__all__ = ["count_parameters", "BasicBlock", "DenseBlock", "transition"]


# --------------------------------------------------------------------------- the tasks
def count_parameters(module):
    return _count_parameters(module)


class BasicBlock(_BasicBlock):
    """The package's residual module with a projection shortcut where the shape changes."""

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__(in_channels, out_channels, stride, shortcut="projection")


class DenseBlock(_DenseBlock):
    """A dense block of BN-ReLU-conv 3 x 3 layers (no bottleneck)."""

    def __init__(self, in_channels, num_layers, growth_rate):
        super().__init__(in_channels, num_layers, growth_rate, bottleneck=False)


def transition(in_channels, out_channels):
    return Transition(in_channels, out_channels)


# --------------------------------------------------------------------------- test helpers
def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"tensor {tuple(value.shape)} {str(value.dtype).replace('torch.', '')}"
    if isinstance(value, nn.Module):
        return f"{type(value).__name__} module"
    return checks.describe(value)


class Argument:
    """A tensor or module passed to a student's code through :meth:`Checker.call`.

    The checker snapshots every argument with :func:`copy.deepcopy` and compares the snapshot
    with the argument after the call; this wrapper makes both steps work for torch objects
    (tensors compare element by element, modules by their ``state_dict``).
    """

    def __init__(self, value):
        self.value = value

    def __deepcopy__(self, memo):
        if isinstance(self.value, torch.Tensor):
            return Argument(self.value.detach().clone())
        return Argument(copy.deepcopy(self.value, memo))

    def __eq__(self, other):
        if not isinstance(other, Argument):
            return NotImplemented
        a, b = self.value, other.value
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
            return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a.detach(), b.detach())
        if isinstance(a, nn.Module) and isinstance(b, nn.Module):
            sa, sb = a.state_dict(), b.state_dict()
            return sa.keys() == sb.keys() and all(
                sa[k].shape == sb[k].shape and torch.equal(sa[k], sb[k]) for k in sa)
        return a is b

    __hash__ = None

    def __repr__(self):
        return _describe(self.value)


def _codes(target) -> list:
    """Code objects of what calling ``target`` runs first: the function itself, a partial's or a
    bound method's function, a class's ``__init__`` and ``forward``, a module's ``forward``."""
    found, pending = [], [target]
    while pending:
        item = pending.pop()
        if item is None or any(item is seen for seen in found):
            continue
        found.append(item)
        if isinstance(item, functools.partial):
            pending.append(item.func)
        if isinstance(item, nn.Module):
            pending.append(type(item))
            continue
        for attribute in ("__wrapped__", "__func__"):
            pending.append(getattr(item, attribute, None))
        if isinstance(item, type):
            pending += [getattr(item, "__init__", None), getattr(item, "forward", None)]
    codes = [getattr(item, "__code__", None) for item in found]
    return [code for code in codes if isinstance(code, types.CodeType)]


def refuse_forbidden(check, task: str, target, name: str) -> None:
    """Fail the task when ``target`` itself is a forbidden routine (or a class whose ``__init__``
    or ``forward`` is one): a direct alias such as ``f = importlib.import_module(...).f`` is
    called from the grader's own frames, which the call monitor does not watch."""
    for code in _codes(target):
        hit = check.forbidden.match_code(code)
        if hit is not None:
            routine, rule = hit
            checks._fail(task, f"{name} is {routine}, which this exercise forbids ({rule}). Write "
                               "the module yourself from torch.nn layers.")


class Caller:
    """Call ``target`` with :class:`Argument` objects unwrapped; named ``name`` in messages.

    :meth:`Checker.call` accepts functions only; this makes a class, a module or a bound method
    look like one, with the signature of what it calls, after checking with
    :func:`refuse_forbidden` that ``target`` is not itself forbidden.
    """

    def __init__(self, check, task: str, name: str, target):
        self.__name__ = name
        self.check, self.task, self.target = check, task, target
        try:
            self.__signature__ = inspect.signature(target)
        except (TypeError, ValueError):
            pass

    def __call__(self, *args, **kwargs):
        refuse_forbidden(self.check, self.task, self.target, self.__name__)
        args = [a.value if isinstance(a, Argument) else a for a in args]
        kwargs = {k: (v.value if isinstance(v, Argument) else v) for k, v in kwargs.items()}
        return self.target(*args, **kwargs)


def module(task: str, value, what: str) -> nn.Module:
    """Fail the task unless ``value`` is a ``torch.nn.Module``."""
    if not isinstance(value, nn.Module):
        checks._fail(task, f"{what}: expected a torch.nn.Module, got {_describe(value)}.")
    return value


def values(task: str, value, what: str) -> np.ndarray:
    """The numbers of a tensor result as a NumPy array; fail the task for anything else."""
    if not isinstance(value, torch.Tensor):
        checks._fail(task, f"{what}: expected a torch.Tensor, got {_describe(value)}.")
    if not value.is_floating_point():
        checks._fail(task, f"{what}: expected a floating-point tensor, got dtype {value.dtype}.")
    return value.detach().cpu().numpy()


def parameter_count(module: nn.Module) -> int:
    """Number of scalar parameters (not buffers) of a module, for the tests."""
    return int(sum(p.numel() for p in module.parameters()))


def _layout(state: dict) -> str:
    return ", ".join(f"{name} {tuple(tensor.shape)}" for name, tensor in state.items())


def copy_parameters(task: str, source: nn.Module, target: nn.Module, what: str) -> None:
    """Copy every parameter and buffer of ``source`` into ``target`` (``target`` is changed).

    Entries are matched by name when both modules use the same names, otherwise by position in
    ``state_dict()`` order (the order in which the layers were created), where the shapes must
    agree one by one.
    """
    source_state, target_state = source.state_dict(), target.state_dict()
    same_names = source_state.keys() == target_state.keys() and all(
        source_state[k].shape == target_state[k].shape for k in source_state)
    if same_names:
        mapped = dict(source_state)
    else:
        names, tensors = list(target_state), list(source_state.values())
        shapes_agree = len(names) == len(tensors) and all(
            target_state[n].shape == t.shape for n, t in zip(names, tensors))
        if not shapes_agree:
            index = next((i for i, (n, t) in enumerate(zip(names, tensors))
                          if target_state[n].shape != t.shape), min(len(names), len(tensors)))
            expected = list(source_state.items())
            first = (f"entry {index + 1} is {names[index]} {tuple(target_state[names[index]].shape)}"
                     if index < len(names) else f"it has only {len(names)} entries")
            wanted = (f"{expected[index][0]} {tuple(expected[index][1].shape)}"
                      if index < len(expected) else "nothing more")
            checks._fail(task, f"{what}: its layers do not match those the task describes, so the "
                               f"grader cannot give it the reference's weights. In state_dict() order "
                               f"{first} where the task's layers have {wanted}. Expected the "
                               f"entries: {_layout(source_state)}.",
                         ["a layer is missing, has other sizes, or the layers were created in "
                          "another order than the task lists them"])
        mapped = dict(zip(names, tensors))
    target.load_state_dict({k: v.clone() for k, v in mapped.items()})


def randomize(module: nn.Module, seed: int) -> nn.Module:
    """Give every parameter and batch-normalisation statistic of ``module`` random values.

    Weights are drawn with the scale of He initialisation; normalisation scales and running
    variances lie in [0.5, 1.5], shifts and running means around 0, so that every term of a
    block's formula shows in its output. Returns the module.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if name.endswith("running_var") or (tensor.ndim == 1 and name.endswith("weight")):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=generator))
            elif tensor.ndim == 1:
                tensor.copy_(0.3 * torch.randn(tensor.shape, generator=generator))
            else:
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * (2.0 / fan_in) ** 0.5)
    return module


def random_tensor(shape, seed: int, requires_grad: bool = False) -> torch.Tensor:
    """A float32 tensor of standard normal numbers from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(tuple(shape), generator=generator).requires_grad_(requires_grad)


def forward_backward(module: nn.Module, x: torch.Tensor, upstream: torch.Tensor):
    """``(output, dL/dx, {name: dL/dparameter})`` of the reference for the loss ``sum(out * upstream)``."""
    x = x.detach().clone().requires_grad_(True)
    module.zero_grad(set_to_none=True)
    out = module(x)
    out.backward(upstream)
    grads = {name: p.grad.detach().clone() for name, p in module.named_parameters()}
    return out.detach(), x.grad.detach().clone(), grads


def expect_parameters(task: str, got: nn.Module, reference: nn.Module, what: str,
                      causes: dict | None = None) -> None:
    """Fail the task unless ``got`` has as many parameters as ``reference``.

    ``causes`` maps the explanation of a likely mistake to the count that mistake gives.
    """
    count, expected = parameter_count(got), parameter_count(reference)
    if count != expected:
        hints = [text for text, wrong in (causes or {}).items() if wrong == count]
        checks._fail(task, f"{what} has {count} parameters, expected {expected}.", hints)


def expect_shape(task: str, result: np.ndarray, expected: tuple, what: str,
                 causes: dict | None = None) -> None:
    """Fail the task unless ``result`` has the shape ``expected`` (``causes``: explanation -> shape)."""
    got = tuple(np.shape(result))
    if got != tuple(expected):
        hints = [text for text, wrong in (causes or {}).items() if tuple(wrong) == got]
        checks._fail(task, f"{what}: expected shape {tuple(expected)}, got shape {got}.", hints)


def aligned_gradients(reference: nn.Module, student: nn.Module) -> list:
    """``(name, gradient)`` of every parameter of ``student``, in the order and with the names of
    the reference's parameters (matched as :func:`copy_parameters` matches them)."""
    reference_names = [name for name, _ in reference.named_parameters()]
    theirs = dict(student.named_parameters())
    if set(theirs) == set(reference_names):
        ordered = [theirs[name] for name in reference_names]
    else:
        ordered = list(theirs.values())
    return [(name, p.grad) for name, p in zip(reference_names, ordered)]


def residual_variants(reference: BasicBlock, x: torch.Tensor) -> dict:
    """Outputs of typical wrong residual blocks with the reference's weights, for hints."""
    block = copy.deepcopy(reference)
    with torch.no_grad():
        main = block.bn2(block.conv2(torch.relu(block.bn1(block.conv1(x)))))
        skip = block.shortcut(x)
    return {
        "the ReLU is applied before the addition; the module adds first and applies the ReLU to "
        "the sum, relu(x + F(x))": (torch.relu(main) + skip).numpy(),
        "the ReLU after the addition is missing": (main + skip).numpy(),
        "the shortcut is missing: the module must add its input to F(x)": torch.relu(main).numpy(),
    }


def compare_forward(check, task: str, block: nn.Module, reference: nn.Module, x: torch.Tensor,
                    what: str, causes=None) -> None:
    """Run ``block`` on ``x`` under the checker in training and in evaluation mode and compare
    with ``reference`` (which must hold the same weights). ``causes(reference, x)`` may give the
    outputs of likely mistakes (explanation -> array) for the messages."""
    for training in (True, False):
        block.train(training)
        reference.train(training)
        mode = "training" if training else "evaluation"
        hints = causes(reference, x) if causes is not None else None
        out = check.call(task, Caller(check, task, "block", block), Argument(x))
        out = values(task, out, f"the output of {what}")
        with torch.no_grad():
            expected = reference(x).numpy()
        expect_shape(task, out, expected.shape, f"the output of {what} for x of shape {tuple(x.shape)}")
        check.array(task, out, expected, f"the output of {what} in {mode} mode, x of shape "
                                         f"{tuple(x.shape)}", dtype="float", causes=hints)


def compare_backward(check, task: str, block: nn.Module, reference: nn.Module, x: torch.Tensor,
                     what: str, seed: int) -> None:
    """Backpropagate a random upstream gradient through ``block`` (training mode) under the
    checker and compare dL/dx and every parameter's gradient with the reference's."""
    reference.eval()
    with torch.no_grad():
        shape = reference(x.detach().clone()).shape
    block.train()
    reference.train()
    upstream = random_tensor(shape, seed)
    _, expected_dx, expected_grads = forward_backward(reference, x, upstream)
    xg = x.detach().clone().requires_grad_(True)
    block.zero_grad(set_to_none=True)
    out = check.call(task, Caller(check, task, "block", block), Argument(xg))
    values(task, out, f"the output of {what}")
    check.call(task, Caller(check, task, "output.backward", out.backward), Argument(upstream))
    if xg.grad is None:
        checks._fail(task, f"{what}: the backward pass gave no gradient for x; the output must be "
                           "computed from x with torch operations (no .detach(), no NumPy).")
    check.array(task, values(task, xg.grad, f"the gradient dL/dx of {what}"), expected_dx.numpy(),
                f"the gradient dL/dx of {what}", dtype="float")
    for name, grad in aligned_gradients(reference, block):
        if grad is None:
            checks._fail(task, f"{what}: the parameter that stands for the reference's {name} got "
                               "no gradient; does the forward pass use every layer?")
        check.array(task, values(task, grad, f"the gradient of {name}"),
                    expected_grads[name].numpy(), f"the gradient of the parameter {name} of {what}",
                    dtype="float")


def quiet():
    """A context in which what the student's code prints to stderr (warnings) goes to stdout:
    nbgrader counts any stderr output of a test cell as a failure."""
    import contextlib
    import sys

    return contextlib.redirect_stderr(sys.stdout)
