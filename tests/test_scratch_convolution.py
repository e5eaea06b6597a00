"""cnncourse.scratch convolution against its oracles: scipy.signal and torch.nn.functional."""

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from cnncourse.registry import get_layer
from cnncourse.scratch import BOUNDARIES, conv2d, conv_output_size, convolve2d, pad2d
from cnncourse.scratch import convolution as convolution_module
from cnncourse.scratch.convolution import Conv2d, conv2d_backward, conv2d_forward, conv2d_loops
from cnncourse.scratch.gradcheck import check_gradients

rng = np.random.default_rng(20261125)


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """The oracle calls here are tiny: one thread avoids hand-offs between busy cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_pair(max_image=12, max_kernel=6):
    image = rng.normal(size=rng.integers(1, max_image + 1, size=2))
    kernel = rng.normal(size=rng.integers(1, max_kernel + 1, size=2))
    return image, kernel


def fits(kernel, image):
    return kernel.shape[0] <= image.shape[0] and kernel.shape[1] <= image.shape[1]


# ------------------------------------------------------------------------------ convolve2d
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("boundary", ["fill", "symm", "wrap"])
def test_convolve2d_equals_scipy_on_random_inputs(mode, boundary):
    checked = 0
    while checked < 60:
        image, kernel = random_pair()
        if not fits(kernel, image):
            continue  # scipy's symm and wrap differ for kernels larger than the image
        fillvalue = float(rng.normal())
        ours = convolve2d(image, kernel, mode=mode, boundary=boundary, fillvalue=fillvalue)
        theirs = scipy.signal.convolve2d(image, kernel, mode=mode, boundary=boundary,
                                         fillvalue=fillvalue)
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
        checked += 1


def test_convolve2d_fill_mode_also_handles_kernels_larger_than_the_image():
    for _ in range(40):
        image, kernel = random_pair(max_image=4, max_kernel=8)
        for mode in ("full", "same"):
            np.testing.assert_allclose(convolve2d(image, kernel, mode=mode),
                                       scipy.signal.convolve2d(image, kernel, mode=mode),
                                       atol=1e-12)


def test_convolve2d_valid_swaps_a_larger_kernel_like_scipy():
    image, kernel = rng.normal(size=(3, 4)), rng.normal(size=(6, 7))
    np.testing.assert_allclose(convolve2d(image, kernel, mode="valid"),
                               scipy.signal.convolve2d(image, kernel, mode="valid"))


@pytest.mark.parametrize("mode", ["full", "same"])
def test_convolve2d_edge_boundary_is_replicate_padding(mode):
    for _ in range(30):
        image, kernel = random_pair()
        m1, m2 = kernel.shape
        ours = convolve2d(image, kernel, mode=mode, boundary="edge")
        # Definition: convolve the replicate-padded image and keep the part `mode` keeps.
        big = np.pad(image, ((m1 - 1, m1 - 1), (m2 - 1, m2 - 1)), mode="edge")
        reference = scipy.signal.convolve2d(big, kernel, mode="valid")
        if mode == "same":
            r0, c0 = (m1 - 1) // 2, (m2 - 1) // 2
            reference = reference[r0:r0 + image.shape[0], c0:c0 + image.shape[1]]
        np.testing.assert_allclose(ours, reference, atol=1e-12)


def test_convolve2d_flips_the_kernel():
    """An impulse returns the kernel itself (the FIR filter's impulse response)."""
    impulse = np.zeros((7, 7))
    impulse[3, 3] = 1.0
    kernel = np.arange(1.0, 10.0).reshape(3, 3)
    np.testing.assert_array_equal(convolve2d(impulse, kernel, mode="same"), np.pad(kernel, 2))
    # One output pixel by hand: the patch times the kernel turned by 180 degrees.
    image = rng.normal(size=(3, 3))
    assert convolve2d(image, kernel, mode="valid")[0, 0] == pytest.approx(
        np.sum(image * kernel[::-1, ::-1]))
    assert convolve2d(image, kernel, mode="valid")[0, 0] != pytest.approx(np.sum(image * kernel))


def test_convolve2d_is_commutative_and_linear():
    a, b = rng.normal(size=(5, 6)), rng.normal(size=(3, 4))
    np.testing.assert_allclose(convolve2d(a, b), convolve2d(b, a), atol=1e-12)
    c = rng.normal(size=(5, 6))
    np.testing.assert_allclose(convolve2d(2 * a + c, b), 2 * convolve2d(a, b) + convolve2d(c, b),
                               atol=1e-12)


def test_convolve2d_output_sizes_of_the_slides():
    image = np.ones((20, 30))
    for nu in (1, 2, 3):
        kernel = np.ones((2 * nu + 1, 2 * nu + 1))
        assert convolve2d(image, kernel, mode="valid").shape == (20 - 2 * nu, 30 - 2 * nu)
        assert convolve2d(image, kernel, mode="same").shape == (20, 30)
        assert convolve2d(image, kernel, mode="full").shape == (20 + 2 * nu, 30 + 2 * nu)


def test_convolve2d_dtypes_follow_numpy_promotion_like_scipy():
    ints = rng.integers(-5, 5, size=(6, 6))
    kernel = rng.integers(-2, 3, size=(3, 3))
    ours = convolve2d(ints, kernel)
    assert ours.dtype == scipy.signal.convolve2d(ints, kernel).dtype
    np.testing.assert_array_equal(ours, scipy.signal.convolve2d(ints, kernel))
    assert convolve2d(ints.astype(np.float32), kernel.astype(np.float32)).dtype == np.float32


def test_box_blur_keeps_a_flat_image_and_the_edge_kernel_ignores_it():
    flat = np.full((9, 9), 0.7)
    box = np.full((3, 3), 1 / 9)
    edge = np.array([[1, 0, -1], [0, 0, 0], [1, 0, -1]], dtype=float)
    np.testing.assert_allclose(convolve2d(flat, box, mode="same", boundary="edge"), flat)
    np.testing.assert_allclose(convolve2d(flat, edge, mode="same", boundary="edge"), 0, atol=1e-12)
    # With zero padding the border is darkened: the ribbon brings zeros into the average.
    assert convolve2d(flat, box, mode="same")[0, 0] == pytest.approx(0.7 * 4 / 9)


@pytest.mark.parametrize("call, message", [
    (lambda: convolve2d(np.ones(5), np.ones((2, 2))), "image must be a 2D array"),
    (lambda: convolve2d(np.ones((5, 5)), np.ones((2, 2, 2))), "kernel must be a 2D array"),
    (lambda: convolve2d(np.ones((0, 5)), np.ones((2, 2))), "image must not be empty"),
    (lambda: convolve2d(np.ones((5, 5)), np.ones((2, 2)), mode="middle"), "mode must be one of"),
    (lambda: convolve2d(np.ones((5, 5)), np.ones((2, 2)), boundary="zero"), "boundary must be"),
    (lambda: convolve2d(np.ones((5, 5)), np.ones((2, 2)), fillvalue=[1, 2]), "fillvalue"),
    (lambda: convolve2d(np.ones((5, 5)), np.ones((6, 2)), mode="valid"), "mode='valid'"),
    (lambda: convolve2d(np.array([["a"]]), np.ones((1, 1))), "must hold numbers"),
])
def test_convolve2d_rejects_bad_arguments_with_a_clear_message(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


# ------------------------------------------------------------------------------ pad2d
@pytest.mark.parametrize("boundary, numpy_mode", [
    ("fill", "constant"), ("symm", "symmetric"), ("edge", "edge"), ("wrap", "wrap")])
def test_pad2d_equals_numpy_pad(boundary, numpy_mode):
    image = rng.normal(size=(2, 3, 5, 4))
    widths = ((1, 3), (2, 0))
    ours = pad2d(image, widths, boundary=boundary)
    np.testing.assert_array_equal(ours, np.pad(image, ((0, 0), (0, 0)) + widths, mode=numpy_mode))
    assert pad2d(image[0, 0], 2, boundary=boundary).shape == (9, 8)
    assert pad2d(image[0, 0], (1, 2), boundary=boundary).shape == (7, 8)


def test_pad2d_fills_with_the_fill_value():
    padded = pad2d(np.zeros((2, 2)), 1, fillvalue=5.0)
    assert padded.sum() == 5.0 * 12 and padded[1:3, 1:3].sum() == 0


@pytest.mark.parametrize("width", [-1, (1, 2, 3), "two", ((1, -2), (0, 0)), 1.5])
def test_pad2d_rejects_bad_widths(width):
    with pytest.raises(ValueError, match="width must be"):
        pad2d(np.ones((3, 3)), width)


def test_pad2d_rejects_bad_images_and_boundaries():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        pad2d(np.ones(3), 1)
    with pytest.raises(ValueError, match="boundary must be one of"):
        pad2d(np.ones((3, 3)), 1, boundary="reflect")
    assert set(BOUNDARIES) == {"fill", "symm", "edge", "wrap"}


# ------------------------------------------------------------------------------ conv2d
def torch_conv2d(x, w, b, **kwargs):
    to = torch.from_numpy
    return F.conv2d(to(x), to(w), None if b is None else to(b), **kwargs).numpy()


def test_conv2d_equals_torch_on_random_layers():
    checked = 0
    while checked < 80:
        n, c, f = (int(v) for v in rng.integers(1, 4, size=3))
        h, w_ = (int(v) for v in rng.integers(1, 14, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 5, size=2))
        stride = tuple(int(v) for v in rng.integers(1, 4, size=2))
        padding = tuple(int(v) for v in rng.integers(0, 3, size=2))
        dilation = tuple(int(v) for v in rng.integers(1, 3, size=2))
        if (h + 2 * padding[0] < dilation[0] * (kh - 1) + 1
                or w_ + 2 * padding[1] < dilation[1] * (kw - 1) + 1):
            continue
        x = rng.normal(size=(n, c, h, w_))
        weight = rng.normal(size=(f, c, kh, kw))
        bias = rng.normal(size=f) if checked % 2 else None
        ours = conv2d(x, weight, bias, stride=stride, padding=padding, dilation=dilation)
        theirs = torch_conv2d(x, weight, bias, stride=stride, padding=padding, dilation=dilation)
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-10)
        checked += 1


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel", [(3, 3), (2, 4), (1, 5)])
def test_conv2d_string_padding_equals_torch(padding, kernel):
    x = rng.normal(size=(2, 3, 9, 10))
    weight = rng.normal(size=(4, 3) + kernel)
    bias = rng.normal(size=4)
    for dilation in (1, 2):
        np.testing.assert_allclose(
            conv2d(x, weight, bias, padding=padding, dilation=dilation),
            torch_conv2d(x, weight, bias, padding=padding, dilation=dilation), atol=1e-10)
    if padding == "same":
        assert conv2d(x, weight, padding="same").shape[2:] == x.shape[2:]


def test_conv2d_keeps_float32_and_accepts_a_single_image():
    x = rng.normal(size=(3, 10, 10)).astype(np.float32)
    weight = rng.normal(size=(5, 3, 3, 3)).astype(np.float32)
    ours = conv2d(x, weight, stride=2, padding=1)
    assert ours.dtype == np.float32 and ours.shape == (5, 5, 5)
    np.testing.assert_allclose(ours, torch_conv2d(x, weight, None, stride=2, padding=1),
                               rtol=1e-4, atol=1e-5)


def test_conv2d_is_convolve2d_with_a_flipped_kernel_summed_over_channels():
    x = rng.normal(size=(1, 3, 8, 9))
    weight = rng.normal(size=(2, 3, 3, 2))
    ours = conv2d(x, weight)
    for f in range(2):
        expected = sum(convolve2d(x[0, r], weight[f, r, ::-1, ::-1], mode="valid") for r in range(3))
        np.testing.assert_allclose(ours[0, f], expected, atol=1e-12)


def test_one_by_one_convolution_mixes_channels_pixel_by_pixel():
    x = rng.normal(size=(2, 4, 5, 5))
    weight = rng.normal(size=(3, 4, 1, 1))
    expected = np.einsum("nchw,fc->nfhw", x, weight[:, :, 0, 0])
    np.testing.assert_allclose(conv2d(x, weight), expected, atol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: conv2d(np.ones((4, 4)), np.ones((1, 1, 2, 2))), "x must be a 3D or 4D array"),
    (lambda: conv2d(np.ones((1, 1, 4, 4)), np.ones((2, 2))), "w must be a 4D array"),
    (lambda: conv2d(np.ones((1, 3, 4, 4)), np.ones((2, 2, 2, 2))), "w has 2 input channels"),
    (lambda: conv2d(np.ones((1, 1, 4, 4)), np.ones((2, 1, 2, 2)), b=np.ones(3)), "b must have shape"),
    (lambda: conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), stride=0), "stride must be at least 1"),
    (lambda: conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), padding=-1), "padding must be at least 0"),
    (lambda: conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), dilation=(1, 2, 3)), "dilation must be"),
    (lambda: conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), padding="full"), "padding must be one of"),
    (lambda: conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), stride=2, padding="same"), "needs stride 1"),
    (lambda: conv2d(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), dilation=2), "kernel spans 5 pixels"),
])
def test_conv2d_rejects_bad_arguments_with_a_clear_message(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------------------------------ sizes
def test_conv_output_size_of_known_layers():
    assert conv_output_size(227, 11, stride=4) == 55          # AlexNet conv1
    assert conv_output_size(224, 7, stride=2, padding=1) == 110  # ZFNet conv1
    assert conv_output_size(512, 3) == 510                     # valid 3x3
    assert conv_output_size(32, 3, dilation=2) == 28
    assert conv_output_size(10, 3, padding=(0, 2)) == 10
    for size in range(1, 30):
        for k in range(1, size + 1):
            x = torch.zeros(1, 1, size, 1)
            w = torch.zeros(1, 1, k, 1)
            for s in (1, 2, 3):
                assert conv_output_size(size, k, stride=s) == F.conv2d(x, w, stride=s).shape[2]


@pytest.mark.parametrize("kwargs, message", [
    ({"size": 0, "kernel_size": 1}, "size must be an int >= 1"),
    ({"size": 5, "kernel_size": 6}, "kernel spans 6 pixels"),
    ({"size": 5, "kernel_size": 2, "stride": 0}, "stride must be an int >= 1"),
    ({"size": 5, "kernel_size": 2, "dilation": 1.5}, "dilation must be an int >= 1"),
])
def test_conv_output_size_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        conv_output_size(**kwargs)


# ------------------------------------------------------------------------------ the layer's passes
def random_layer(max_size=10, max_kernel=4, max_stride=3, max_padding=2, max_dilation=3):
    """Random (x, w, b, kwargs) of a convolution whose kernel fits in the padded input."""
    while True:
        n, c, f = (int(v) for v in rng.integers(1, 4, size=3))
        h, w_ = (int(v) for v in rng.integers(1, max_size + 1, size=2))
        kh, kw = (int(v) for v in rng.integers(1, max_kernel + 1, size=2))
        stride = tuple(int(v) for v in rng.integers(1, max_stride + 1, size=2))
        padding = tuple(int(v) for v in rng.integers(0, max_padding + 1, size=2))
        dilation = tuple(int(v) for v in rng.integers(1, max_dilation + 1, size=2))
        if (h + 2 * padding[0] >= dilation[0] * (kh - 1) + 1
                and w_ + 2 * padding[1] >= dilation[1] * (kw - 1) + 1):
            break
    x = rng.normal(size=(n, c, h, w_))
    weight = rng.normal(size=(f, c, kh, kw))
    bias = rng.normal(size=f)
    return x, weight, bias, dict(stride=stride, padding=padding, dilation=dilation)


def torch_gradients(x, weight, bias, dout, **kwargs):
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(weight, requires_grad=True)
    bt = None if bias is None else torch.tensor(bias, requires_grad=True)
    out = F.conv2d(xt, wt, bt, **kwargs)
    out.backward(torch.from_numpy(dout))
    return out.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), None if bt is None else bt.grad.numpy()


def test_fast_conv2d_equals_the_loops_on_a_sweep():
    for index in range(40):
        x, weight, bias, kwargs = random_layer(max_size=8)
        if index % 3 == 0:
            bias = None
        loops = conv2d_loops(x, weight, bias, **kwargs)
        np.testing.assert_allclose(conv2d(x, weight, bias, **kwargs), loops, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(conv2d_forward(x, weight, bias, **kwargs)[0], loops,
                                   rtol=1e-10, atol=1e-12)


def test_the_loops_equal_torch_with_same_padding_and_a_single_image():
    x = rng.normal(size=(3, 7, 8))
    weight = rng.normal(size=(2, 3, 4, 3))
    for padding, dilation in (("same", 1), ("same", (2, 1)), ("valid", 2)):
        expected = torch_conv2d(x, weight, None, padding=padding, dilation=dilation)
        np.testing.assert_allclose(conv2d_loops(x, weight, padding=padding, dilation=dilation),
                                   expected, atol=1e-12)


def test_backward_equals_torch_autograd_on_a_sweep():
    for index in range(40):
        x, weight, bias, kwargs = random_layer()
        if index % 4 == 0:
            bias = None
        out, cache = conv2d_forward(x, weight, bias, **kwargs)
        dout = rng.normal(size=out.shape)
        expected_out, dx_t, dw_t, db_t = torch_gradients(x, weight, bias, dout, **kwargs)
        np.testing.assert_allclose(out, expected_out, rtol=1e-10, atol=1e-12)
        dx, dw, db = conv2d_backward(dout, cache)
        label = f"x {x.shape} w {weight.shape} {kwargs}"
        np.testing.assert_allclose(dx, dx_t, rtol=1e-10, atol=1e-11, err_msg=f"dx {label}")
        np.testing.assert_allclose(dw, dw_t, rtol=1e-10, atol=1e-11, err_msg=f"dw {label}")
        if bias is None:
            assert db is None
        else:
            np.testing.assert_allclose(db, db_t, rtol=1e-10, atol=1e-11, err_msg=f"db {label}")


@pytest.mark.parametrize("kwargs", [
    dict(),
    dict(stride=2, padding=1),
    dict(stride=(3, 2), padding=(0, 2), dilation=(2, 3)),
    dict(padding="same", dilation=2),
])
def test_backward_equals_numerical_gradients(kwargs):
    x = rng.normal(size=(2, 2, 7, 8))
    weight = rng.normal(size=(3, 2, 3, 2))
    bias = rng.normal(size=3)
    errors = check_gradients(conv2d_forward, conv2d_backward, [x, weight, bias], kwargs)
    assert max(errors) < 1e-8, errors


@pytest.mark.parametrize("block_bytes", [1, 3000, 20000])
def test_blocks_of_images_give_the_same_result(monkeypatch, block_bytes):
    """The fast passes work through the batch in blocks; a partial last block included."""
    monkeypatch.setattr(convolution_module, "_BLOCK_BYTES", block_bytes)
    for kwargs in (dict(padding=1), dict(stride=2, dilation=(1, 2)), dict(padding=(2, 0), stride=(1, 3))):
        x = rng.normal(size=(7, 3, 9, 10))
        weight = rng.normal(size=(4, 3, 3, 3))
        bias = rng.normal(size=4)
        out, cache = conv2d_forward(x, weight, bias, **kwargs)
        dout = rng.normal(size=out.shape)
        expected_out, dx_t, dw_t, db_t = torch_gradients(x, weight, bias, dout, **kwargs)
        np.testing.assert_allclose(out, expected_out, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(conv2d(x, weight, bias, **kwargs), expected_out, rtol=1e-10, atol=1e-12)
        for ours, theirs in zip(conv2d_backward(dout, cache), (dx_t, dw_t, db_t)):
            np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-11)


def test_the_input_gradient_is_a_convolution_with_the_flipped_kernel():
    """dx = the output gradient, spread by the stride and padded, correlated with w turned by 180 degrees."""
    for _ in range(25):
        x, weight, _, kwargs = random_layer()
        (s1, s2), (p1, p2), (d1, d2) = kwargs["stride"], kwargs["padding"], kwargs["dilation"]
        out, cache = conv2d_forward(x, weight, **kwargs)
        dout = rng.normal(size=out.shape)
        dx, _, _ = conv2d_backward(dout, cache)
        n, f, h_out, w_out = out.shape
        spread = np.zeros((n, f, (h_out - 1) * s1 + 1, (w_out - 1) * s2 + 1))
        spread[:, :, ::s1, ::s2] = dout
        kh, kw = weight.shape[2:]
        span1, span2 = d1 * (kh - 1), d2 * (kw - 1)
        flipped = weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, F, KH, KW)
        dxp = conv2d(spread, flipped, padding=(span1, span2), dilation=(d1, d2))
        # rows/columns of the padded input that no window reached get no gradient
        full = np.zeros((n, x.shape[1], x.shape[2] + 2 * p1, x.shape[3] + 2 * p2))
        full[:, :, :dxp.shape[2], :dxp.shape[3]] = dxp
        np.testing.assert_allclose(dx, full[:, :, p1:p1 + x.shape[2], p2:p2 + x.shape[3]], atol=1e-11)


def test_float32_stays_float32_forward_and_backward():
    x, weight, bias, kwargs = random_layer()
    x, weight, bias = (a.astype(np.float32) for a in (x, weight, bias))
    out, cache = conv2d_forward(x, weight, bias, **kwargs)
    assert out.dtype == np.float32 and conv2d(x, weight, bias, **kwargs).dtype == np.float32
    dx, dw, db = conv2d_backward(rng.normal(size=out.shape), cache)
    assert dx.dtype == dw.dtype == db.dtype == np.float32
    expected = torch_conv2d(x, weight, bias, **kwargs)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_the_passes_leave_their_inputs_unchanged_and_accept_views_and_integers():
    x = rng.normal(size=(2, 3, 12, 10))[:, :, ::2]  # a non-contiguous view
    weight = rng.normal(size=(2, 3, 3, 3))
    copies = x.copy(), weight.copy()
    out, cache = conv2d_forward(x, weight, padding=1)
    dout = rng.normal(size=out.shape)
    dout_copy = dout.copy()
    conv2d_backward(dout, cache)
    for now, before in zip((x, weight, dout), copies + (dout_copy,)):
        np.testing.assert_array_equal(now, before)
    np.testing.assert_allclose(out, torch_conv2d(np.ascontiguousarray(x), weight, None, padding=1), atol=1e-12)
    ints = rng.integers(-3, 4, size=(1, 2, 5, 5))
    kernel = rng.integers(-2, 3, size=(2, 2, 2, 2))
    result = conv2d(ints, kernel, stride=2)
    assert result.dtype == np.result_type(ints, kernel)
    np.testing.assert_array_equal(result, conv2d_loops(ints, kernel, stride=2))


def test_single_image_backward_keeps_the_single_image_shape():
    x = rng.normal(size=(3, 6, 6))
    weight = rng.normal(size=(2, 3, 3, 3))
    out, cache = conv2d_forward(x, weight, np.zeros(2), stride=2)
    assert out.shape == (2, 2, 2)
    dx, dw, db = conv2d_backward(np.ones_like(out), cache)
    assert dx.shape == x.shape and dw.shape == weight.shape and db.shape == (2,)
    np.testing.assert_allclose(db, [4.0, 4.0])


@pytest.mark.parametrize("function", [conv2d, conv2d_loops, conv2d_forward])
@pytest.mark.parametrize("kwargs, error, message", [
    (dict(x="image"), TypeError, "x must be an array of numbers"),
    (dict(stride=1.5), TypeError, "stride must be an int or a pair of ints"),
    (dict(padding=None), TypeError, "padding must be an int or a pair of ints"),
    (dict(dilation=(1, True)), TypeError, "dilation must be an int or a pair of ints"),
    (dict(padding=("same", 1)), TypeError, "padding must be an int or a pair of ints"),
    (dict(stride=(2, 0)), ValueError, "stride must be at least 1"),
    (dict(b=np.ones((2, 1))), ValueError, "b must be a 1D array"),
    (dict(w=np.ones((2, 3, 9, 2))), ValueError, "kernel spans 9 pixels"),
])
def test_every_forward_names_the_bad_argument(function, kwargs, error, message):
    arguments = dict(x=np.ones((1, 3, 5, 5)), w=np.ones((2, 3, 3, 3)), b=None)
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        function(**arguments)


def test_backward_checks_the_output_gradient():
    out, cache = conv2d_forward(np.ones((2, 1, 5, 5)), np.ones((3, 1, 3, 3)))
    with pytest.raises(ValueError, match=r"dout must have the shape of the forward output \(2, 3, 3, 3\)"):
        conv2d_backward(np.ones((2, 3, 3, 4)), cache)
    with pytest.raises(ValueError, match="dout must be a 4D array"):
        conv2d_backward(np.ones((3, 3, 3)), cache)
    with pytest.raises(TypeError, match="dout must be an array of numbers"):
        conv2d_backward(None, cache)


# ------------------------------------------------------------------------------ Conv2d
def test_conv2d_layer_forward_backward_and_accumulating_gradients():
    layer = Conv2d(3, 4, (3, 2), stride=2, padding=1, dilation=(1, 2), rng=0)
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]
    assert layer.weight.shape == (4, 3, 3, 2) and layer.bias.shape == (4,)
    assert layer.num_parameters() == 4 * 3 * 3 * 2 + 4
    x = rng.normal(size=(2, 3, 9, 9))
    out = layer(x)
    np.testing.assert_allclose(out, torch_conv2d(x, layer.weight.data, layer.bias.data, stride=2,
                                                 padding=1, dilation=(1, 2)), atol=1e-12)
    dout = rng.normal(size=out.shape)
    dx = layer.backward(dout)
    _, dx_t, dw_t, db_t = torch_gradients(x, layer.weight.data, layer.bias.data, dout, stride=2,
                                          padding=1, dilation=(1, 2))
    np.testing.assert_allclose(dx, dx_t, atol=1e-11)
    np.testing.assert_allclose(layer.weight.grad, dw_t, atol=1e-11)
    np.testing.assert_allclose(layer.bias.grad, db_t, atol=1e-11)
    layer.backward(dout)  # gradients accumulate until zero_grad
    np.testing.assert_allclose(layer.weight.grad, 2 * dw_t, atol=1e-11)
    np.testing.assert_allclose(layer.bias.grad, 2 * db_t, atol=1e-11)
    layer.zero_grad()
    assert not layer.weight.grad.any() and not layer.bias.grad.any()


def test_conv2d_layer_initialisation_dtype_and_options():
    a, b = Conv2d(8, 16, 3, rng=5), Conv2d(8, 16, 3, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    assert not a.bias.data.any()
    big = Conv2d(64, 128, 3, rng=1)
    assert big.weight.data.std() == pytest.approx(np.sqrt(2 / (64 * 9)), rel=0.02)  # He
    layer = Conv2d(2, 3, 3, padding="same", bias=False, rng=0, dtype=np.float32)
    assert layer.bias is None and [n for n, _ in layer.named_parameters()] == ["weight"]
    x = rng.normal(size=(2, 2, 6, 5)).astype(np.float32)
    out = layer(x)
    assert out.shape == (2, 3, 6, 5) and out.dtype == np.float32
    dx = layer.backward(np.ones_like(out))
    assert dx.dtype == np.float32 and layer.weight.grad.dtype == np.float32
    assert "kernel_size=(3, 3)" in repr(layer)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(in_channels=0), ValueError, "in_channels must be at least 1"),
    (dict(out_channels=2.0), TypeError, "out_channels must be an int"),
    (dict(kernel_size=(3, 0)), ValueError, "kernel_size must be at least 1"),
    (dict(padding="full"), ValueError, "padding must be one of"),
    (dict(bias=1), TypeError, "bias must be a bool"),
    (dict(dtype=np.int32), ValueError, "dtype must be one of"),
    (dict(rng="seed"), TypeError, "rng must be None, an int or a numpy Generator"),
])
def test_conv2d_layer_rejects_bad_arguments(kwargs, error, message):
    arguments = dict(in_channels=2, out_channels=3, kernel_size=3)
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        Conv2d(**arguments)


def test_conv2d_layer_backward_before_forward_and_wrong_channels():
    layer = Conv2d(2, 3, 3, rng=0)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        layer.backward(np.ones((1, 3, 2, 2)))
    with pytest.raises(ValueError, match="w has 2 input channels"):
        layer(np.ones((1, 4, 5, 5)))


def test_conv2d_is_registered_with_its_oracle_and_forbidden_routines():
    spec = get_layer("conv2d")
    assert spec.forward is conv2d_forward and spec.backward is conv2d_backward
    assert spec.oracle == "torch.nn.functional.conv2d" and spec.input_names == ("x", "w", "b")
    assert spec.chapter == "book/02-conv-layer"
    assert {"scipy.signal.convolve2d", "torch.nn.functional.conv2d", "numpy.convolve",
            "cnncourse.scratch.convolution"} <= set(spec.forbidden)
    samples = spec.sampler(np.random.default_rng(0), np.float64)
    kernels = {sample.inputs[1].shape[2:] for sample in samples}
    assert (1, 1) in kernels and any(kh != kw for kh, kw in kernels)
    settings = {"stride": set(), "padding": set(), "dilation": set()}
    for sample in samples:
        for name, seen in settings.items():
            value = sample.kwargs.get(name, 0 if name == "padding" else 1)
            seen.update(value if isinstance(value, tuple) else [value])
    assert {1, 2, 3} <= settings["stride"] and {1, 2, 3} <= settings["dilation"]
    assert {0, 1, 2, "same"} <= settings["padding"]
    assert any(sample.inputs[0].ndim == 3 for sample in samples)


@pytest.mark.parametrize("shape, kernel, kwargs, on_grid", [
    ((3, 2, 12, 20), (3, 3), dict(), True),                      # stride 1 without padding
    ((3, 2, 12, 20), (3, 2), dict(padding=(1, 2), dilation=(2, 3)), True),
    ((5, 3, 16, 16), (3, 3), dict(padding="same"), True),
    ((2, 2, 9, 6), (3, 5), dict(padding=1), False),              # too many columns thrown away
    ((2, 2, 12, 20), (3, 3), dict(stride=(1, 2)), False),
])
def test_both_layouts_of_the_columns_equal_torch(monkeypatch, shape, kernel, kwargs, on_grid):
    """Stride 1 computes whole rows of the padded input (the grid); other layers only W_out."""
    monkeypatch.setattr(convolution_module, "_BLOCK_BYTES", 5000)  # several blocks
    x = rng.normal(size=shape)
    weight = rng.normal(size=(3, shape[1]) + kernel)
    bias = rng.normal(size=3)
    geometry = convolution_module._layer_arguments(
        x, weight, bias, kwargs.get("stride", 1), kwargs.get("padding", 0), kwargs.get("dilation", 1))[3]
    assert geometry.on_grid == on_grid
    out, cache = conv2d_forward(x, weight, bias, **kwargs)
    dout = rng.normal(size=out.shape)
    expected_out, dx_t, dw_t, db_t = torch_gradients(x, weight, bias, dout, **kwargs)
    np.testing.assert_allclose(out, expected_out, rtol=1e-10, atol=1e-12)
    for ours, theirs in zip(conv2d_backward(dout, cache), (dx_t, dw_t, db_t)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-11)
