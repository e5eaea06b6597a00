"""NumPy implementations of the course's concepts, written from their definitions."""

from cnncourse.scratch.convolution import (
    BOUNDARIES,
    MODES,
    Conv2d,
    conv2d,
    conv2d_backward,
    conv2d_forward,
    conv2d_loops,
    conv_output_size,
    convolve2d,
    pad2d,
)

__all__ = ["BOUNDARIES", "MODES", "conv2d", "conv_output_size", "convolve2d", "pad2d"]
__all__ += ["Conv2d", "conv2d_backward", "conv2d_forward", "conv2d_loops"]

# Training a network: losses and penalties, batch normalisation, dropout.
from cnncourse.scratch.dropout import Dropout, dropout, dropout_backward, dropout_forward  # noqa: E402
from cnncourse.scratch.losses import (  # noqa: E402
    CrossEntropyLoss,
    MSELoss,
    Penalty,
    add_l1_grad,
    add_l2_grad,
    cross_entropy,
    l1_penalty,
    l2_penalty,
    mse_loss,
    softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from cnncourse.scratch.normalization import (  # noqa: E402
    BatchNorm1d,
    BatchNorm2d,
    batch_norm,
    batch_norm_backward,
    batch_norm_forward,
    batch_norm_per_pixel_backward,
    batch_norm_per_pixel_forward,
)

__all__ += [
    "Dropout", "dropout", "dropout_backward", "dropout_forward",
    "CrossEntropyLoss", "MSELoss", "Penalty", "add_l1_grad", "add_l2_grad", "cross_entropy",
    "l1_penalty", "l2_penalty", "mse_loss", "softmax", "softmax_cross_entropy",
    "softmax_cross_entropy_backward", "softmax_cross_entropy_forward",
    "BatchNorm1d", "BatchNorm2d", "batch_norm", "batch_norm_backward", "batch_norm_forward",
    "batch_norm_per_pixel_backward", "batch_norm_per_pixel_forward",
]

# Pooling, activation functions and fully connected layers.
from cnncourse.scratch.activation import (  # noqa: E402
    ReLU,
    ReLU6,
    Sigmoid,
    Softplus,
    Tanh,
    relu,
    relu6,
    relu6_backward,
    relu6_forward,
    relu_backward,
    relu_forward,
    sigmoid,
    sigmoid_backward,
    sigmoid_forward,
    softplus,
    softplus_backward,
    softplus_forward,
    tanh,
    tanh_backward,
    tanh_forward,
)
from cnncourse.scratch.linear import (  # noqa: E402
    Flatten,
    Linear,
    flatten,
    flatten_backward,
    flatten_forward,
    linear,
    linear_backward,
    linear_forward,
)
from cnncourse.scratch.pooling import (  # noqa: E402
    AvgPool2d,
    GlobalAvgPool2d,
    MaxPool2d,
    avg_pool2d,
    avg_pool2d_backward,
    avg_pool2d_forward,
    global_avg_pool2d,
    global_avg_pool2d_backward,
    global_avg_pool2d_forward,
    max_pool2d,
    max_pool2d_backward,
    max_pool2d_forward,
)

__all__ += [
    "ReLU", "ReLU6", "Sigmoid", "Softplus", "Tanh", "relu", "relu6", "relu6_backward",
    "relu6_forward", "relu_backward", "relu_forward", "sigmoid", "sigmoid_backward",
    "sigmoid_forward", "softplus", "softplus_backward", "softplus_forward", "tanh",
    "tanh_backward", "tanh_forward",
    "Flatten", "Linear", "flatten", "flatten_backward", "flatten_forward", "linear",
    "linear_backward", "linear_forward",
    "AvgPool2d", "GlobalAvgPool2d", "MaxPool2d", "avg_pool2d", "avg_pool2d_backward",
    "avg_pool2d_forward", "global_avg_pool2d", "global_avg_pool2d_backward",
    "global_avg_pool2d_forward", "max_pool2d", "max_pool2d_backward", "max_pool2d_forward",
]

# Optimizers, schedules, initialisation, networks and the training loop.
from cnncourse.scratch.init import fans, glorot_normal, glorot_uniform, he_normal, he_uniform  # noqa: E402
from cnncourse.scratch.network import (  # noqa: E402
    History,
    Sequential,
    evaluate,
    fit,
    get_state,
    lenet,
    predict,
    set_state,
)
from cnncourse.scratch.optim import (  # noqa: E402
    SGD,
    Adam,
    CosineAnnealingLR,
    ExponentialLR,
    StepLR,
)

__all__ += [
    "fans", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform",
    "History", "Sequential", "evaluate", "fit", "get_state", "lenet", "predict", "set_state",
    "SGD", "Adam", "CosineAnnealingLR", "ExponentialLR", "StepLR",
]
