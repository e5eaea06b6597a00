"""One test over the layer registry: every layer of cnncourse.scratch against PyTorch.

For every registered layer and every sample of its sampler:
- the forward pass equals the oracle in float64 and in float32 (tolerance by dtype), keeping the
  input's dtype;
- every gradient of the backward pass equals the numerical gradient (relative error < 1e-7 in
  float64) and torch.autograd's gradient of the oracle;
- the forward pass leaves its inputs unchanged.
"""

import dataclasses

import numpy as np
import pytest
import torch

from cnncourse.registry import get_layer, list_layers
from cnncourse.scratch.gradcheck import numerical_gradient, rel_error

LAYERS = list_layers()


def samples(name, dtype, seed=0):
    spec = get_layer(name)
    rng = np.random.default_rng(seed)
    return spec, spec.sampler(rng, dtype)


def as_tuple(grads):
    return tuple(grads) if isinstance(grads, (tuple, list)) else (grads,)


def oracle_forward(spec, sample, requires_grad=()):
    tensors = []
    for index, array in enumerate(sample.inputs):
        t = torch.tensor(np.array(array), requires_grad=index in requires_grad)
        tensors.append(t)
    return spec.oracle_function()(*tensors, **sample.kwargs), tensors


def test_the_registry_is_populated():
    assert LAYERS, "no layer is registered"
    for name in LAYERS:
        spec = get_layer(name)
        assert spec.chapter.startswith("book/"), f"{name} names no chapter"
        assert len(spec.input_names) >= 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", LAYERS)
def test_forward_equals_the_oracle(name, dtype):
    spec, cases = samples(name, dtype)
    assert len(cases) >= 3, f"{name}: the sampler should sweep several shapes and settings"
    rtol, atol = (1e-10, 1e-12) if dtype == np.float64 else spec.float32_tolerance
    for sample in cases:
        before = [np.array(a, copy=True) for a in sample.inputs]
        out, _ = spec.forward(*sample.inputs, **sample.kwargs)
        for original, now in zip(before, sample.inputs):
            np.testing.assert_array_equal(now, original, err_msg=f"{name} [{sample.label}] changed its input")
        expected, _ = oracle_forward(spec, sample)
        expected = expected.detach().numpy()
        assert out.shape == expected.shape, f"{name} [{sample.label}]: shape {out.shape} != {expected.shape}"
        assert out.dtype == dtype, f"{name} [{sample.label}]: dtype {out.dtype}, expected {np.dtype(dtype)}"
        np.testing.assert_allclose(out, expected, rtol=rtol, atol=atol, err_msg=f"{name} [{sample.label}]")


@pytest.mark.parametrize("name", LAYERS)
def test_backward_equals_numerical_and_autograd_gradients(name):
    spec, cases = samples(name, np.float64, seed=1)
    rng = np.random.default_rng(2)
    wrt = spec.grad_indices()
    for sample in cases:
        inputs = [np.array(a, dtype=np.float64 if np.asarray(a).dtype.kind == "f" else None, copy=True)
                  for a in sample.inputs]
        out, cache = spec.forward(*inputs, **sample.kwargs)
        dout = rng.normal(size=out.shape)
        grads = as_tuple(spec.backward(dout, cache))
        assert len(grads) >= len(wrt), f"{name}: backward returned {len(grads)} gradients"

        result, tensors = oracle_forward(spec, dataclasses.replace(sample, inputs=tuple(inputs)),
                                         requires_grad=set(wrt))
        result.backward(torch.from_numpy(dout))
        for index in wrt:
            label = f"{name} [{sample.label}] d{spec.input_names[index]}"
            assert grads[index].shape == inputs[index].shape, label
            numeric = numerical_gradient(lambda _: spec.forward(*inputs, **sample.kwargs)[0],
                                         inputs[index], dout)
            assert rel_error(grads[index], numeric) < 1e-7, f"{label}: vs numerical {rel_error(grads[index], numeric):.2e}"
            autograd = tensors[index].grad.numpy()
            np.testing.assert_allclose(grads[index], autograd, rtol=1e-9, atol=1e-11, err_msg=f"{label} vs autograd")
