"""cnncourse.scratch convolution against its oracles: scipy.signal and torch.nn.functional."""

import numpy as np
import pytest
import scipy.signal
import torch
import torch.nn.functional as F

from cnncourse.scratch import BOUNDARIES, conv2d, conv_output_size, convolve2d, pad2d

rng = np.random.default_rng(20261125)


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
    with pytest.raises(ValueError, match=message):
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
