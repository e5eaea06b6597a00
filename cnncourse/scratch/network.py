"""Networks of scratch layers and the loop that trains them.

:class:`Sequential` chains layers: the forward pass runs them in order, the backward pass in
reverse, each layer turning the gradient with respect to its output into the gradient with
respect to its input and adding its parameters' gradients to their ``grad``.

:func:`fit` is mini-batch gradient descent written out once, flat:

.. code-block:: text

    for every epoch:
        shuffle the training set
        for every mini-batch (x, y):
            optimizer.zero_grad()
            out  = model.forward(x)                  # predictions
            loss = loss_fn(out, y)                   # the cost of this batch
            model.backward(loss_fn.backward())       # gradients of every parameter
            optimizer.step()                         # move against the gradients
        evaluate on the validation set; scheduler.step(); early stopping

:func:`evaluate` and :func:`predict` run a trained model in evaluation mode, batch by batch.
:func:`lenet` builds the small convolutional network the course trains on the digits.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from cnncourse import _checks
from cnncourse.scratch.activation import ReLU
from cnncourse.scratch.convolution import Conv2d, conv_output_size
from cnncourse.scratch.layer import Layer
from cnncourse.scratch.linear import Flatten, Linear
from cnncourse.scratch.pooling import MaxPool2d


# --------------------------------------------------------------------------- Sequential
class Sequential(Layer):
    """Layers applied one after the other: ``Sequential(conv, relu, pool, ...)``.

    ``model[i]`` is the i-th layer (a slice gives a Sequential of the selected layers);
    :meth:`parameters` collects every layer's parameters and :meth:`train` / :meth:`eval`
    switch every layer's mode.
    """

    def __init__(self, *layers):
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers must be scratch Layers, got {type(layer).__name__} at position {index}")
        self.layers = list(layers)

    def forward(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, dout):
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}("]
        described = [f"({i}): {layer!r}" for i, layer in enumerate(self.layers)]
        width = max((len(d) for d in described), default=0)
        for text, layer in zip(described, self.layers):
            count = layer.num_parameters()
            lines.append((f"  {text.ljust(width)}" + (f"  # {count:,} parameters" if count else "")).rstrip())
        lines.append(f")  # {self.num_parameters():,} parameters in all")
        return "\n".join(lines)


# --------------------------------------------------------------------------- state
def _state_arrays(model: Layer) -> list:
    """The arrays that make up a trained model: parameters and running statistics."""
    arrays = [p.data for p in model.parameters()]
    pending = [model]
    while pending:
        layer = pending.pop(0)
        arrays.extend(getattr(layer, name) for name in getattr(layer, "buffer_names", ()))
        pending.extend(layer.children())
    return arrays


def get_state(model: Layer) -> list:
    """A copy of the model's parameters and buffers (batch normalisation's running statistics)."""
    return [a.copy() for a in _state_arrays(model)]


def set_state(model: Layer, state: list) -> None:
    """Write a :func:`get_state` copy back into the model (in place)."""
    arrays = _state_arrays(model)
    if len(arrays) != len(state):
        raise ValueError(f"state must hold {len(arrays)} arrays for this model, got {len(state)}")
    for array, saved in zip(arrays, state):
        if array.shape != saved.shape:
            raise ValueError(f"state does not fit the model: shape {saved.shape} for an array of shape {array.shape}")
        array[...] = saved


# --------------------------------------------------------------------------- evaluation
def _accuracy(outputs: np.ndarray, targets: np.ndarray) -> float:
    """Share of correct predictions: labels compared with argmax of the outputs (or of one-hot
    targets of the outputs' shape); NaN when the targets are not class labels (regression)."""
    if outputs.ndim != 2:
        return float("nan")
    if targets.ndim == 1 and targets.dtype.kind in "iu":
        return float(np.mean(outputs.argmax(axis=1) == targets))
    one_hot = (targets.shape == outputs.shape and np.all((targets == 0) | (targets == 1))
               and np.all(targets.sum(axis=1) == 1))
    if one_hot:
        return float(np.mean(outputs.argmax(axis=1) == targets.argmax(axis=1)))
    return float("nan")


def _inputs_and_targets(x, y, name_x: str, name_y: str):
    x = _checks.as_float_array(x, name_x)
    y = _checks.as_array(y, name_y)
    if len(x) != len(y):
        raise ValueError(f"{name_x} and {name_y} must hold the same number of samples, got {len(x)} and {len(y)}")
    return x, y


def _check_loss(loss) -> None:
    if not callable(loss) or not hasattr(loss, "backward"):
        raise TypeError("loss must be a loss object with forward and backward, such as "
                        f"CrossEntropyLoss(), got {type(loss).__name__}")


def _batches(n: int, batch_size: int, order=None):
    order = np.arange(n) if order is None else order
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def predict(model: Layer, x, batch_size: int = 256) -> np.ndarray:
    """The model's outputs for ``x`` in evaluation mode, computed ``batch_size`` samples at a time.

    For a classifier these are the logits: ``softmax(predict(...))`` gives probabilities and
    ``predict(...).argmax(axis=1)`` the predicted classes. The model's mode is restored after.
    """
    x = _checks.as_float_array(x, "x")
    batch_size = _checks.integer(batch_size, "batch_size", minimum=1)
    was_training = model.training
    model.eval()
    try:
        outputs = [model.forward(x[index]) for index in _batches(len(x), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(outputs)


def evaluate(model: Layer, x, y, loss, batch_size: int = 256) -> tuple[float, float]:
    """Loss and accuracy of the model on ``(x, y)`` in evaluation mode.

    The loss is the mean over all samples; the accuracy is the share of samples whose largest
    output is the true class (NaN for regression targets).

    Returns:
        ``(loss, accuracy)``.
    """
    x, y = _inputs_and_targets(x, y, "x", "y")
    _check_loss(loss)
    outputs = predict(model, x, batch_size)
    return float(loss(outputs, y)), _accuracy(outputs, y)


# --------------------------------------------------------------------------- training
@dataclass
class History:
    """What :func:`fit` measured, one entry per epoch.

    ``train_loss`` and ``train_accuracy`` average the mini-batches of the epoch (computed in
    training mode while the weights were changing); ``val_loss`` and ``val_accuracy`` are
    measured after the epoch in evaluation mode (empty without validation data). ``lr`` is the
    learning rate used in the epoch and ``time`` its wall time in seconds. ``best_epoch``
    (1-based) is the epoch of the lowest validation loss, ``stopped_early`` whether early
    stopping ended the training.
    """

    train_loss: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    time: list = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def summary(self) -> str:
        """One line per epoch, for printing."""
        lines = []
        for e in range(self.epochs):
            line = (f"epoch {e + 1:3d}  lr {self.lr[e]:.3g}  train loss {self.train_loss[e]:.4f} "
                    f"acc {self.train_accuracy[e]:.3f}")
            if self.val_loss:
                line += f"  val loss {self.val_loss[e]:.4f} acc {self.val_accuracy[e]:.3f}"
            lines.append(line + f"  {self.time[e]:.2f} s")
        return "\n".join(lines)


def fit(model: Layer, loss, optimizer, x_train, y_train, epochs: int, batch_size: int,
        x_val=None, y_val=None, scheduler=None, shuffle: bool = True, seed=0,
        early_stopping: int | None = None, progress: bool = True, penalty=None) -> History:
    """Train ``model`` by mini-batch gradient descent and return the :class:`History`.

    Args:
        model: a scratch :class:`~cnncourse.scratch.layer.Layer` (usually a :class:`Sequential`).
        loss: a loss object, :class:`~cnncourse.scratch.losses.CrossEntropyLoss` or
            :class:`~cnncourse.scratch.losses.MSELoss`.
        optimizer: a scratch optimizer over ``model.parameters()`` (:mod:`cnncourse.scratch.optim`).
        x_train, y_train: training inputs (N, ...) and targets (class indices (N,) or arrays).
        epochs: number of passes over the training set.
        batch_size: samples per gradient step (the last batch of an epoch may be smaller).
        x_val, y_val: validation data, evaluated after every epoch.
        scheduler: a learning-rate schedule, stepped after every epoch.
        shuffle: visit the training samples in a new random order every epoch.
        seed: seed (or Generator) of the shuffling.
        early_stopping: patience: stop when the validation loss has not improved for this many
            epochs, and restore the weights of the best epoch (needs validation data).
        progress: show a tqdm progress bar per epoch with the running loss and accuracy;
            ``False`` prints nothing.
        penalty: a :class:`~cnncourse.scratch.losses.Penalty` (L1 or L2) whose gradient is
            added to the weights' before every step. The recorded losses are the data loss
            without the penalty, so that training and validation losses compare.

    Returns:
        The :class:`History` of the run.
    """
    x_train, y_train = _inputs_and_targets(x_train, y_train, "x_train", "y_train")
    _check_loss(loss)
    if not (hasattr(optimizer, "step") and hasattr(optimizer, "zero_grad")):
        raise TypeError(f"optimizer must have step and zero_grad, got {type(optimizer).__name__}")
    epochs = _checks.integer(epochs, "epochs", minimum=1)
    batch_size = _checks.integer(batch_size, "batch_size", minimum=1)
    if (x_val is None) != (y_val is None):
        raise ValueError("x_val and y_val must be given together")
    validate = x_val is not None
    if validate:
        x_val, y_val = _inputs_and_targets(x_val, y_val, "x_val", "y_val")
    if early_stopping is not None:
        early_stopping = _checks.integer(early_stopping, "early_stopping", minimum=1)
        if not validate:
            raise ValueError("early_stopping needs validation data (x_val, y_val)")
    if scheduler is not None and not hasattr(scheduler, "step"):
        raise TypeError(f"scheduler must have a step method, got {type(scheduler).__name__}")
    shuffle = _checks.boolean(shuffle, "shuffle")
    progress = _checks.boolean(progress, "progress")
    if penalty is not None and not (hasattr(penalty, "value") and hasattr(penalty, "add_grad")):
        raise TypeError(f"penalty must be a Penalty, got {type(penalty).__name__}")
    rng = _checks.rng_from(seed, "seed")
    if progress:
        from tqdm import tqdm

    params = model.parameters()
    history = History()
    best_loss, best_state, waited = np.inf, None, 0
    n = len(x_train)
    num_batches = -(-n // batch_size)

    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        order = rng.permutation(n) if shuffle else np.arange(n)
        bar = tqdm(total=num_batches, desc=f"epoch {epoch}/{epochs}", unit="batch",
                   leave=True) if progress else None
        loss_sum, correct, seen = 0.0, 0.0, 0
        for index in _batches(n, batch_size, order):
            xb, yb = x_train[index], y_train[index]
            optimizer.zero_grad()
            out = model.forward(xb)
            value = loss(out, yb)
            model.backward(loss.backward())
            if penalty is not None:
                penalty.add_grad(params)
            optimizer.step()

            loss_sum += value * len(index)
            correct += _accuracy(out, yb) * len(index)
            seen += len(index)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}", refresh=False)

        history.train_loss.append(loss_sum / seen)
        history.train_accuracy.append(correct / seen)
        history.lr.append(float(optimizer.lr) if hasattr(optimizer, "lr") else float("nan"))
        if validate:
            val_loss, val_accuracy = evaluate(model, x_val, y_val, loss, max(batch_size, 256))
            history.val_loss.append(val_loss)
            history.val_accuracy.append(val_accuracy)
            if val_loss < best_loss:
                best_loss, waited, history.best_epoch = val_loss, 0, epoch
                if early_stopping is not None:
                    best_state = get_state(model)
            else:
                waited += 1
        if bar is not None:
            postfix = {"loss": f"{history.train_loss[-1]:.4f}", "acc": f"{history.train_accuracy[-1]:.3f}"}
            if validate:
                postfix.update(val_loss=f"{history.val_loss[-1]:.4f}", val_acc=f"{history.val_accuracy[-1]:.3f}")
            bar.set_postfix(postfix)
            bar.close()
        if scheduler is not None:
            scheduler.step()
        history.time.append(time.perf_counter() - start)
        if early_stopping is not None and waited >= early_stopping:
            history.stopped_early = True
            break

    if best_state is not None:
        set_state(model, best_state)
    return history


# --------------------------------------------------------------------------- LeNet
def lenet(in_channels: int = 1, num_classes: int = 10, input_size: int = 28, rng=None,
          channels=(6, 16), kernel_size: int = 5, hidden: int = 120, dtype=np.float64) -> Sequential:
    """A LeNet-style classifier: two convolution blocks and two fully connected layers.

    .. code-block:: text

        Conv2d(in_channels, c1, k, padding=k//2) - ReLU - MaxPool2d(2)
        Conv2d(c1, c2, k, padding=k//2)          - ReLU - MaxPool2d(2)
        Flatten - Linear(c2 * s * s, hidden) - ReLU - Linear(hidden, num_classes)

    The padding keeps the size through each convolution (odd ``k``) and each pooling halves
    it, so ``s = input_size // 4``. The output is the logits: train it with
    :class:`~cnncourse.scratch.losses.CrossEntropyLoss`.

    Args:
        in_channels: channels of the input images.
        num_classes: number of classes (outputs).
        input_size: height and width of the (square) input images, at least 4.
        rng: ``None``, an int seed or a :class:`numpy.random.Generator` for the initial weights
            (He normal for the convolutions, PyTorch's uniform for the linear layers).
        channels: ``(c1, c2)``, the filters of the two convolutions.
        kernel_size: ``k``, the size of the convolution kernels.
        hidden: units of the hidden fully connected layer.
        dtype: float dtype of the parameters.

    Shape:
        Input (N, in_channels, input_size, input_size); output (N, num_classes).
    """
    in_channels = _checks.integer(in_channels, "in_channels", minimum=1)
    num_classes = _checks.integer(num_classes, "num_classes", minimum=1)
    input_size = _checks.integer(input_size, "input_size", minimum=4)
    c1, c2 = _checks.pair(channels, "channels", 1)
    kernel_size = _checks.integer(kernel_size, "kernel_size", minimum=1)
    hidden = _checks.integer(hidden, "hidden", minimum=1)
    rng = _checks.rng_from(rng, "rng")
    padding = kernel_size // 2
    size = input_size
    for _ in range(2):
        size = conv_output_size(size, kernel_size, 1, padding) // 2
    if size < 1:
        raise ValueError(f"input_size={input_size} is too small for kernel_size={kernel_size}: "
                         "the feature maps vanish before the fully connected layers")
    return Sequential(
        Conv2d(in_channels, c1, kernel_size, padding=padding, rng=rng, dtype=dtype), ReLU(), MaxPool2d(2),
        Conv2d(c1, c2, kernel_size, padding=padding, rng=rng, dtype=dtype), ReLU(), MaxPool2d(2),
        Flatten(), Linear(c2 * size * size, hidden, rng=rng, dtype=dtype), ReLU(),
        Linear(hidden, num_classes, rng=rng, dtype=dtype),
    )
