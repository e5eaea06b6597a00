"""01-convolution: wrong answers lose exactly their task; different correct answers score full."""

from exercise_cases import Case, replace, substitute

ASSIGNMENT = "01-convolution"

_CORRECT_VALID = "flipped = kernel[::-1, ::-1]"

WRONG = {
    "no-flip": Case(replace("convolve2d_valid", _CORRECT_VALID, "flipped = kernel"),
                    frozenset({"test_convolve2d_valid"}), "cross-correlation instead of convolution"),
    "zero-for-edge": Case(replace("pad2d", 'if boundary == "edge" and v > 0:', "if False:"),
                          frozenset({"test_pad2d"}), "edge padding that pads zeros"),
    "shape-off-by-one": Case(replace("valid_output_shape", "return (int(n1 - m1 + 1), int(n2 - m2 + 1))",
                                     "return (int(n1 - m1), int(n2 - m2))"),
                             frozenset({"test_valid_output_shape"}), "the size formula without + 1"),
    "scipy-alias": Case(substitute("convolve2d_valid", "\n".join([
        "from scipy.signal import convolve2d as c2",
        "",
        "def convolve2d_valid(image, kernel):",
        "    return c2(np.asarray(image, float), np.asarray(kernel, float), 'valid')",
    ])), frozenset({"test_convolve2d_valid"}), "scipy.signal.convolve2d under an alias"),
    "importlib-scipy": Case(substitute("convolve2d_valid", "\n".join([
        "import importlib",
        "",
        "def convolve2d_valid(image, kernel):",
        "    signal = importlib.import_module('scipy.' + 'signal')",
        "    return getattr(signal, 'convolve' + '2d')(np.asarray(image, float), np.asarray(kernel, float), 'valid')",
    ])), frozenset({"test_convolve2d_valid"}), "scipy reached through importlib and getattr"),
    "getattr-pad": Case(substitute("pad2d", "\n".join([
        "def pad2d(image, v, boundary='fill'):",
        "    if boundary not in ('fill', 'edge'):",
        "        raise ValueError(boundary)",
        "    routine = getattr(np, 'p' + 'ad')",
        "    return routine(np.asarray(image, float), v, mode='constant' if boundary == 'fill' else 'edge')",
    ])), frozenset({"test_pad2d"}), "np.pad through getattr"),
    "course-reference": Case(substitute("convolve2d_valid", "\n".join([
        "import cnncourse.scratch",
        "",
        "def convolve2d_valid(image, kernel):",
        "    return cnncourse.scratch.convolve2d(np.asarray(image, float), np.asarray(kernel, float), mode='valid')",
    ])), frozenset({"test_convolve2d_valid"}), "the course's own reference implementation"),
    "np-pad-in-same": Case(substitute("convolve2d_same", "\n".join([
        "def convolve2d_same(image, kernel, boundary='fill'):",
        "    kernel = np.asarray(kernel, dtype=float)",
        "    if kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:",
        "        raise ValueError('kernel')",
        "    v = kernel.shape[0] // 2",
        "    padded = np.pad(np.asarray(image, float), v, mode='constant' if boundary == 'fill' else 'edge')",
        "    return convolve2d_valid(padded, kernel)",
    ])), frozenset({"test_convolve2d_same"}), "np.pad inside convolve2d_same"),
    "list-result": Case(replace("convolve2d_valid", "    return out", "    return out.tolist()"),
                        frozenset({"test_convolve2d_valid"}), "a list instead of an array"),
    "flips-its-input": Case(replace("convolve2d_valid", "    flipped = kernel[::-1, ::-1]",
                                    "    kernel[...] = kernel[::-1, ::-1].copy()\n    flipped = kernel"),
                            frozenset({"test_convolve2d_valid"}), "flips the caller's kernel in place"),
    "integer-padding": Case(replace("pad2d", "padded = np.zeros((n1 + 2 * v, n2 + 2 * v))",
                                    "padded = np.zeros((n1 + 2 * v, n2 + 2 * v), dtype=int)"),
                            frozenset({"test_pad2d"}), "an integer array where floats are asked"),
    "accepts-even-kernels": Case(replace("convolve2d_same", "if m1 != m2 or m1 % 2 == 0:", "if False:"),
                                 frozenset({"test_convolve2d_same"}), "no ValueError for an even kernel"),
}

CORRECT = {
    "vectorised": Case(substitute("convolve2d_valid", "\n".join([
        "from numpy.lib.stride_tricks import sliding_window_view",
        "",
        "def convolve2d_valid(image, kernel):",
        "    image = np.asarray(image, dtype=float)",
        "    kernel = np.asarray(kernel, dtype=float)",
        "    windows = sliding_window_view(image, kernel.shape)",
        "    return np.einsum('ijkl,kl->ij', windows, kernel[::-1, ::-1])",
    ]))),
    "float32": Case(lambda answers: {
        **answers,
        "pad2d": answers["pad2d"].replace("np.asarray(image, dtype=float)", "np.asarray(image, dtype=np.float32)")
                                         .replace("np.zeros((n1 + 2 * v, n2 + 2 * v))", "np.zeros((n1 + 2 * v, n2 + 2 * v), dtype=np.float32)"),
        "convolve2d_valid": answers["convolve2d_valid"].replace("dtype=float", "dtype=np.float32")
                                                       .replace("np.zeros((rows, cols))", "np.zeros((rows, cols), dtype=np.float32)"),
    }),
    "library-like-helper-names": Case(substitute("convolve2d_valid", "\n".join([
        "def pad(x):",
        "    return np.asarray(x, dtype=float)",
        "",
        "def correlate(block, weights):",
        "    return float(np.sum(block * weights))",
        "",
        "def convolve(image, kernel):",
        "    rows, cols = valid_output_shape(image.shape, kernel.shape)",
        "    out = np.zeros((rows, cols))",
        "    for i in range(rows):",
        "        for j in range(cols):",
        "            out[i, j] = correlate(image[i:i + kernel.shape[0], j:j + kernel.shape[1]], kernel[::-1, ::-1])",
        "    return out",
        "",
        "def convolve2d_valid(image, kernel):",
        "    return convolve(pad(image), pad(kernel))",
    ]))),
    "rot90": Case(replace("convolve2d_valid", _CORRECT_VALID, "flipped = np.rot90(kernel, 2)")),
    "np-flip": Case(replace("convolve2d_valid", _CORRECT_VALID, "flipped = np.flip(kernel)")),
    "shape-as-list-or-array": Case(replace("valid_output_shape", "return (int(n1 - m1 + 1), int(n2 - m2 + 1))",
                                           "return np.array([n1 - m1 + 1, n2 - m2 + 1])")),
}
