"""Loss functions, the softmax layer and weight penalties, in NumPy.

A network is trained by minimising a cost :math:`J(\\theta)` over its parameters. This module
holds the costs the course uses and the gradients that start back-propagation:

* :func:`mse_loss`, the mean squared error, for regression (and for classifiers trained on
  one-hot targets);
* :func:`softmax`, which turns a vector of scores (logits) into probabilities that sum to one;
* :func:`cross_entropy`, the categorical cross-entropy of predicted probabilities;
* :func:`softmax_cross_entropy_forward`, the two fused: the cost every classifier of the course
  is trained with, computed from the logits so that it never overflows and whose gradient is
  simply ``(softmax - one_hot) / N``;
* :func:`l1_penalty` and :func:`l2_penalty` with :func:`add_l1_grad` and :func:`add_l2_grad`,
  the regularisation terms :math:`\\lambda\\,\\Omega(\\theta)` added to a cost.

Every cost is a **mean over the batch**, like PyTorch's default ``reduction="mean"``, so that the
size of a gradient step does not depend on the batch size. Class labels are always integer class
indices ``0 .. C-1`` (never one-hot vectors).

:class:`CrossEntropyLoss` and :class:`MSELoss` wrap the forward/backward pairs for the training
loop (:func:`cnncourse.scratch.network.fit`).
"""

from __future__ import annotations

import numpy as np

from cnncourse import _checks
from cnncourse.registry import LayerSpec, Sample, register_layer
from cnncourse.scratch.layer import Parameter

CHAPTER = "book/05-training"


# --------------------------------------------------------------------------- argument checks
def _float_input(x, name: str, ndim=None) -> np.ndarray:
    return _checks.as_float_array(x, name, ndim=ndim)


def _class_labels(labels, num_samples: int, num_classes: int) -> np.ndarray:
    """``labels`` as an int array of shape (N,) with values in ``0 .. C-1``.

    A float array holding whole numbers is accepted as well (gradient checks pass every input
    as float64); anything else raises.
    """
    labels = _checks.as_array(labels, "labels", ndim=1)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.array_equal(labels, np.round(labels)):
            raise TypeError("labels must be integer class indices, got an array of "
                            f"dtype {labels.dtype} with fractional values")
    labels = labels.astype(np.intp)
    if labels.shape[0] != num_samples:
        raise ValueError(f"labels must hold one class index per sample ({num_samples}), "
                         f"got shape {labels.shape}")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        raise ValueError(f"labels must be class indices in 0..{num_classes - 1}, "
                         f"got values from {low} to {high}")
    return labels


# --------------------------------------------------------------------------- mean squared error
def mse_loss(pred, target):
    """Mean squared error between a prediction and a target of the same shape.

    .. math:: J = \\frac{1}{n} \\sum_{k=1}^{n} (\\hat{y}_k - y_k)^2

    where the sum runs over all :math:`n` elements (every sample and every output), as in
    :func:`torch.nn.functional.mse_loss`. The slides write
    :math:`\\frac{1}{N}\\sum_i \\lVert \\hat{\\mathbf{y}}_i - \\mathbf{y}_i \\rVert^2`, a mean
    over the :math:`N` samples only; it is ``m`` times this value for ``m`` outputs per sample,
    which changes the step size, not the minimiser.

    Args:
        pred: the prediction :math:`\\hat{y}`, any shape.
        target: the target :math:`y`, the same shape.

    Returns:
        The loss, a NumPy scalar of ``pred``'s float dtype.
    """
    return mse_loss_forward(pred, target)[0]


def mse_loss_forward(pred, target):
    """:func:`mse_loss` that also returns the cache :func:`mse_loss_backward` needs.

    Returns:
        ``(loss, cache)``.
    """
    pred = _float_input(pred, "pred")
    target = _checks.as_float_array(target, "target").astype(pred.dtype, copy=False)
    _checks.same_shape(pred, target, "pred", "target")
    diff = pred - target
    loss = pred.dtype.type(np.mean(diff * diff))
    return loss, (diff,)


def mse_loss_backward(dloss, cache):
    """Gradient of :func:`mse_loss` with respect to ``pred``: :math:`2(\\hat{y} - y)/n`.

    Args:
        dloss: the gradient of the final cost with respect to the loss (1 when the loss is the
            cost).
        cache: from :func:`mse_loss_forward`.

    Returns:
        ``dpred``, the shape of ``pred``. (The gradient with respect to the target is its
        negative; targets are data, so it is not returned.)
    """
    (diff,) = cache
    return (2.0 * float(dloss) / diff.size) * diff


# --------------------------------------------------------------------------- softmax
def softmax(logits, axis: int = -1):
    """The softmax of ``logits`` along ``axis``: positive values that sum to one.

    .. math:: \\hat{y}_i = \\frac{e^{a_i}}{\\sum_k e^{a_k}}
              = \\frac{e^{a_i - \\max_k a_k}}{\\sum_k e^{a_k - \\max_k a_k}}

    The second form is what is computed: subtracting the largest logit changes nothing
    mathematically, but keeps every exponent at most 0, so that logits of 1e4 give no overflow.

    Args:
        logits: the scores :math:`a`, any shape.
        axis: the axis that holds the classes (default: the last one).

    Shape:
        Output: the shape of ``logits``.
    """
    return softmax_forward(logits, axis)[0]


def softmax_forward(logits, axis: int = -1):
    """:func:`softmax` that also returns its cache: ``(probs, cache)``."""
    logits = _float_input(logits, "logits")
    axis = _checks.integer(axis, "axis", minimum=-logits.ndim, maximum=logits.ndim - 1)
    shifted = logits - logits.max(axis=axis, keepdims=True)
    exp = np.exp(shifted)
    probs = exp / exp.sum(axis=axis, keepdims=True)
    return probs, (probs, axis)


def softmax_backward(dout, cache):
    """Gradient of :func:`softmax` with respect to the logits.

    With :math:`\\partial \\hat{y}_i / \\partial a_j = \\hat{y}_i(\\delta_{ij} - \\hat{y}_j)`,

    .. math:: \\frac{\\partial L}{\\partial a_j}
              = \\hat{y}_j \\Big(g_j - \\sum_i g_i \\hat{y}_i\\Big), \\quad
              g = \\frac{\\partial L}{\\partial \\hat{y}}.

    Returns:
        ``dlogits``, the shape of the logits.
    """
    probs, axis = cache
    dout = np.asarray(dout, dtype=probs.dtype)
    return probs * (dout - np.sum(dout * probs, axis=axis, keepdims=True))


# --------------------------------------------------------------------------- cross-entropy
CLIP = 1e-12
"""Smallest probability :func:`cross_entropy` takes the logarithm of."""


def cross_entropy(probs, labels):
    """Categorical cross-entropy of predicted class probabilities, averaged over the batch.

    .. math:: J = -\\frac{1}{N} \\sum_{i=1}^{N} \\sum_{j=1}^{C} y_{ij} \\log \\hat{y}_{ij}
              = -\\frac{1}{N} \\sum_{i=1}^{N} \\log \\hat{y}_{i, t_i}

    with the one-hot target :math:`y_{ij} = [j = t_i]` written as the label :math:`t_i`. The
    slides write the sum over the batch; the mean (PyTorch's default) divides it by :math:`N`.

    A probability that rounds to zero would give :math:`\\log 0 = -\\infty`: probabilities are
    clipped to ``[CLIP, 1]`` (``CLIP = 1e-12``) first, so the loss of one sample is at most
    :math:`-\\log 10^{-12} \\approx 27.6`. For probabilities above ``CLIP`` the result is exact.
    :func:`softmax_cross_entropy_forward` avoids the problem altogether by working on logits.

    Args:
        probs: predicted probabilities :math:`\\hat{y}`, shape (N, C) (rows need not be
            normalised; only the entry of the true class is read).
        labels: integer class indices :math:`t`, shape (N,), values in ``0 .. C-1``.

    Returns:
        The loss, a NumPy scalar of ``probs``' float dtype.
    """
    return cross_entropy_forward(probs, labels)[0]


def cross_entropy_forward(probs, labels):
    """:func:`cross_entropy` that also returns its cache: ``(loss, cache)``."""
    probs = _float_input(probs, "probs", ndim=2)
    labels = _class_labels(labels, probs.shape[0], probs.shape[1])
    picked = np.clip(probs[np.arange(probs.shape[0]), labels], CLIP, 1.0)
    loss = probs.dtype.type(-np.mean(np.log(picked)))
    return loss, (probs.shape, probs.dtype, labels, picked)


def cross_entropy_backward(dloss, cache):
    """Gradient of :func:`cross_entropy` with respect to the probabilities.

    .. math:: \\frac{\\partial J}{\\partial \\hat{y}_{ij}} = -\\frac{[j = t_i]}{N \\hat{y}_{ij}}

    (with the clipped probability in the denominator).

    Returns:
        ``dprobs``, shape (N, C).
    """
    shape, dtype, labels, picked = cache
    dprobs = np.zeros(shape, dtype=dtype)
    dprobs[np.arange(shape[0]), labels] = -float(dloss) / (shape[0] * picked)
    return dprobs


def softmax_cross_entropy(logits, labels):
    """Cross-entropy of ``softmax(logits)``, computed from the logits, averaged over the batch.

    .. math:: J = -\\frac{1}{N} \\sum_{i=1}^{N} \\log \\operatorname{softmax}(a_i)_{t_i}
              = \\frac{1}{N} \\sum_{i=1}^{N}
                \\Big(m_i + \\log \\sum_k e^{a_{ik} - m_i} - a_{i t_i}\\Big),
              \\quad m_i = \\max_k a_{ik}

    The log-sum-exp form never overflows and never takes the logarithm of zero, whatever the
    logits. It equals :func:`torch.nn.functional.cross_entropy` on (logits, labels).

    Args:
        logits: class scores, shape (N, C).
        labels: integer class indices, shape (N,).

    Returns:
        The loss, a NumPy scalar of ``logits``' float dtype.
    """
    return softmax_cross_entropy_forward(logits, labels)[0]


def softmax_cross_entropy_forward(logits, labels):
    """:func:`softmax_cross_entropy` that also returns its cache: ``(loss, cache)``."""
    logits = _float_input(logits, "logits", ndim=2)
    labels = _class_labels(labels, logits.shape[0], logits.shape[1])
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    rows = np.arange(logits.shape[0])
    loss = logits.dtype.type(np.mean(np.log(total[:, 0]) - shifted[rows, labels]))
    probs = exp / total
    return loss, (probs, labels)


def softmax_cross_entropy_backward(dloss, cache):
    """Gradient of :func:`softmax_cross_entropy` with respect to the logits.

    The Jacobian of the softmax and the :math:`1/\\hat{y}` of the logarithm cancel:

    .. math:: \\frac{\\partial J}{\\partial a_{ij}} = \\frac{\\hat{y}_{ij} - [j = t_i]}{N}.

    Returns:
        ``dlogits``, shape (N, C). (Labels have no gradient.)
    """
    probs, labels = cache
    dlogits = probs.copy()
    dlogits[np.arange(probs.shape[0]), labels] -= 1
    dlogits *= float(dloss) / probs.shape[0]
    return dlogits


# --------------------------------------------------------------------------- loss objects
class CrossEntropyLoss:
    """Softmax cross-entropy on logits and integer labels, for the training loop.

    ``loss(logits, labels)`` returns the loss as a float and remembers what ``loss.backward()``
    needs to return ``dlogits``. The same numbers as :class:`torch.nn.CrossEntropyLoss`.
    """

    def __init__(self):
        self._cache = None

    def forward(self, logits, labels) -> float:
        loss, self._cache = softmax_cross_entropy_forward(logits, labels)
        return float(loss)

    __call__ = forward

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        return softmax_cross_entropy_backward(dloss, self._cache)

    def __repr__(self) -> str:
        return "CrossEntropyLoss()"


class MSELoss:
    """Mean squared error for the training loop (see :class:`CrossEntropyLoss` for the use).

    The same numbers as :class:`torch.nn.MSELoss`.
    """

    def __init__(self):
        self._cache = None

    def forward(self, pred, target) -> float:
        loss, self._cache = mse_loss_forward(pred, target)
        return float(loss)

    __call__ = forward

    def backward(self, dloss: float = 1.0) -> np.ndarray:
        if self._cache is None:
            raise RuntimeError("backward called before forward")
        return mse_loss_backward(dloss, self._cache)

    def __repr__(self) -> str:
        return "MSELoss()"


# --------------------------------------------------------------------------- penalties
def _arrays(params) -> list:
    if isinstance(params, (Parameter, np.ndarray)):
        params = [params]
    try:
        items = list(params)
    except TypeError:
        raise TypeError("params must be a list of Parameters or arrays, "
                        f"got {type(params).__name__}") from None
    arrays = []
    for item in items:
        if isinstance(item, Parameter):
            arrays.append(item.data)
        else:
            arrays.append(_checks.as_float_array(item, "params", allow_empty=True))
    return arrays


def _parameters(params) -> list:
    if isinstance(params, Parameter):
        return [params]
    try:
        items = list(params)
    except TypeError:
        raise TypeError(f"params must be a list of Parameters, got {type(params).__name__}") from None
    for item in items:
        if not isinstance(item, Parameter):
            raise TypeError(f"params must hold Parameters (they carry .grad), got {type(item).__name__}")
    return items


def _strength(lam) -> float:
    return _checks.real(lam, "lam", minimum=0.0)


def l2_penalty(params, lam: float) -> float:
    """The L2 penalty :math:`\\lambda\\,\\Omega(\\theta) = \\lambda \\sum_i \\theta_i^2`.

    Added to the cost, it pulls every weight towards zero in proportion to its size, which
    spreads a model's dependence over many small weights ("weight decay"). Its gradient
    :math:`2\\lambda\\theta` is what an optimizer's ``weight_decay=w`` adds to the gradient for
    :math:`w = 2\\lambda` (PyTorch writes the penalty as :math:`\\frac{w}{2}\\lVert\\theta\\rVert^2`).

    Args:
        params: Parameters (or arrays) :math:`\\theta`.
        lam: the strength :math:`\\lambda \\ge 0`.

    Returns:
        The penalty, a float.
    """
    lam = _strength(lam)
    return lam * float(sum(np.sum(np.square(a, dtype=np.float64)) for a in _arrays(params)))


def add_l2_grad(params, lam: float) -> None:
    """Add the gradient of :func:`l2_penalty`, :math:`2\\lambda\\theta`, to every ``p.grad``."""
    lam = _strength(lam)
    for p in _parameters(params):
        p.grad += (2.0 * lam) * p.data


def l1_penalty(params, lam: float) -> float:
    """The L1 penalty :math:`\\lambda\\,\\Omega(\\theta) = \\lambda \\sum_i |\\theta_i|`.

    Its gradient :math:`\\lambda \\operatorname{sign}(\\theta)` has the same size for every
    weight, however small, so it drives unimportant weights exactly to zero: L1 gives sparse
    models, L2 gives small ones.

    Args:
        params: Parameters (or arrays) :math:`\\theta`.
        lam: the strength :math:`\\lambda \\ge 0`.

    Returns:
        The penalty, a float.
    """
    lam = _strength(lam)
    return lam * float(sum(np.sum(np.abs(a), dtype=np.float64) for a in _arrays(params)))


def add_l1_grad(params, lam: float) -> None:
    """Add the (sub)gradient of :func:`l1_penalty`, :math:`\\lambda\\operatorname{sign}(\\theta)`,
    to every ``p.grad`` (0 where :math:`\\theta_i = 0`)."""
    lam = _strength(lam)
    for p in _parameters(params):
        p.grad += lam * np.sign(p.data)


class Penalty:
    """An L1 or L2 penalty of a given strength, as :func:`cnncourse.scratch.network.fit` uses it.

    By default it applies to the weights of convolutional and fully connected layers only
    (parameters with two or more dimensions), not to biases or batch normalisation's
    :math:`\\gamma, \\beta`, the usual practice: ``all_parameters=True`` penalises everything.

    Args:
        kind: ``"l1"`` or ``"l2"``.
        lam: the strength :math:`\\lambda \\ge 0`.
        all_parameters: penalise every parameter, not just the weights.
    """

    KINDS = ("l1", "l2")

    def __init__(self, kind: str, lam: float, all_parameters: bool = False):
        self.kind = _checks.check_choice(kind, "kind", self.KINDS)
        self.lam = _strength(lam)
        self.all_parameters = _checks.boolean(all_parameters, "all_parameters")

    def select(self, params) -> list:
        params = _parameters(params)
        return params if self.all_parameters else [p for p in params if p.data.ndim >= 2]

    def value(self, params) -> float:
        function = l1_penalty if self.kind == "l1" else l2_penalty
        return function(self.select(params), self.lam)

    def add_grad(self, params) -> None:
        function = add_l1_grad if self.kind == "l1" else add_l2_grad
        function(self.select(params), self.lam)

    def __repr__(self) -> str:
        extra = ", all_parameters=True" if self.all_parameters else ""
        return f"Penalty({self.kind!r}, lam={self.lam:g}{extra})"


# --------------------------------------------------------------------------- registry
def _logits_and_labels(rng, dtype, shape):
    n, c = shape
    logits = rng.normal(scale=3.0, size=shape).astype(dtype)
    labels = rng.integers(0, c, size=n)
    return logits, labels


def _sample_softmax(rng, dtype):
    cases = []
    for shape, axis in [((4, 5), -1), ((1, 3), -1), ((3, 7), 1), ((2, 3, 4), 0), ((2, 4, 3, 3), 1)]:
        cases.append(Sample((rng.normal(scale=2.0, size=shape).astype(dtype),),
                            {"axis": axis}, f"shape={shape} axis={axis}"))
    cases.append(Sample((np.array([[1e4, 0.0, -1e4], [3e3, 3e3 + 1.0, 2e3]], dtype=dtype),),
                        {"axis": -1}, "large logits"))
    return cases


def _sample_softmax_cross_entropy(rng, dtype):
    cases = [Sample(_logits_and_labels(rng, dtype, shape), {}, f"N,C={shape}")
             for shape in [(4, 5), (1, 3), (8, 10), (5, 2)]]
    logits = np.array([[1e4, 0.0, -1e4], [-50.0, 40.0, 20.0]], dtype=dtype)
    cases.append(Sample((logits, np.array([1, 2])), {}, "large logits"))
    return cases


def _sample_cross_entropy(rng, dtype):
    cases = []
    for shape in [(4, 5), (1, 3), (8, 10)]:
        logits, labels = _logits_and_labels(rng, np.float64, shape)
        probs = softmax(logits / 3.0)  # entries well above CLIP: the clip is inactive
        cases.append(Sample((probs.astype(dtype), labels), {}, f"N,C={shape}"))
    return cases


def _sample_mse(rng, dtype):
    return [Sample((rng.normal(size=shape).astype(dtype), rng.normal(size=shape).astype(dtype)),
                   {}, f"shape={shape}") for shape in [(5,), (4, 3), (2, 3, 4, 4), (1, 1)]]


register_layer(LayerSpec(
    name="softmax", family="losses", forward=softmax_forward, backward=softmax_backward,
    oracle="cnncourse.oracles.softmax", sampler=_sample_softmax, input_names=("logits",),
    chapter=CHAPTER, forbidden=("torch.softmax", "torch.nn.functional.softmax",
                                "scipy.special.softmax")))

register_layer(LayerSpec(
    name="softmax_cross_entropy", family="losses", forward=softmax_cross_entropy_forward,
    backward=softmax_cross_entropy_backward, oracle="cnncourse.oracles.softmax_cross_entropy",
    sampler=_sample_softmax_cross_entropy, input_names=("logits", "labels"), chapter=CHAPTER,
    forbidden=("torch.nn.functional.cross_entropy", "scipy.special.logsumexp",
               "scipy.special.log_softmax"),
    differentiable=(0,)))

register_layer(LayerSpec(
    name="cross_entropy", family="losses", forward=cross_entropy_forward,
    backward=cross_entropy_backward, oracle="cnncourse.oracles.cross_entropy",
    sampler=_sample_cross_entropy, input_names=("probs", "labels"), chapter=CHAPTER,
    forbidden=("torch.nn.functional.nll_loss", "sklearn.metrics.log_loss"),
    differentiable=(0,)))

register_layer(LayerSpec(
    name="mse_loss", family="losses", forward=mse_loss_forward, backward=mse_loss_backward,
    oracle="torch.nn.functional.mse_loss", sampler=_sample_mse, input_names=("pred", "target"),
    chapter=CHAPTER, forbidden=("torch.nn.functional.mse_loss",
                                "sklearn.metrics.mean_squared_error"),
    differentiable=(0,)))
