r"""Neural style transfer (Gatys, Ecker and Bethge, CVPR 2016, arXiv:1508.06576).

A trained CNN describes an image at two levels. Its deep feature maps say *what* is where
(the content); the correlations between its feature channels, averaged over all positions,
say which textures and colours occur regardless of where (the style). Style transfer makes a
new image :math:`x` whose features match the content image :math:`c` at a deep layer and
whose feature correlations match the style image :math:`s` at several layers, by gradient
descent on the *pixels* of :math:`x` (the network's weights stay fixed).

With :math:`F^l(x) \in \mathbb R^{C_l \times M_l}` the feature maps of layer :math:`l`
flattened over its :math:`M_l = H_l W_l` positions:

.. math::
    G^l(x) = \frac{1}{M_l} F^l(x) F^l(x)^\top \in \mathbb R^{C_l \times C_l}
    \qquad \text{(Gram matrix, } :func:`gram_matrix` \text{)}

.. math::
    L_{\text{content}} = \frac{1}{C_l M_l} \lVert F^l(x) - F^l(c) \rVert^2, \qquad
    L_{\text{style}} = \sum_{l \in S} w_l\, \frac{1}{C_l^2} \lVert G^l(x) - G^l(s) \rVert^2

.. math:: L = \alpha L_{\text{content}} + \beta L_{\text{style}}

(:func:`content_loss`, :func:`style_loss`, :func:`stylize`). The ratio :math:`\beta / \alpha`
decides how much of the style is painted over the content (:func:`weight_sweep`).

**The feature network is trained in this course, not downloaded.** The paper uses VGG-19
trained on ImageNet; here :class:`StyleFeatures` reads the activations of the VGG-like backbone
(:class:`cnncourse.models.localization.ConvFeatures`) of the classification + localization
network trained on the generated scenes (:func:`cnncourse.usecases.load_pretrained` with
``"style_transfer"``). It has seen only shapes, stick figures and stripes, gradients and smooth
noise, so its notion of style is the colours, stripes and edges of those scenes; the method is
the same. As in the paper, the max poolings may be replaced by average poolings
(``pooling="average"``), which gives smoother gradients to the pixels.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch import nn

from cnncourse._checks import check_choice, integer, real
from cnncourse.models.localization import ConvFeatures
from cnncourse.registry import register_model

CHAPTER = "book/18-style-transfer"

STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")
"""Default style layers: the first ReLU of every stage (as in the paper, one per stage)."""

CONTENT_LAYERS = ("relu3_2",)
"""Default content layer: a layer of the third stage (maps 4 times smaller than the image)."""

POOLINGS = ("max", "average")


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    r"""Gram matrices of feature maps: the channel correlations averaged over the positions.

    .. math:: G_{ij} = \frac{1}{H W} \sum_{p} F_{ip} F_{jp}

    Shape:
        - features: :math:`(N, C, H, W)`.
        - output: :math:`(N, C, C)`, symmetric.
    """
    if not isinstance(features, torch.Tensor) or not features.is_floating_point():
        raise TypeError(f"features must be a floating-point torch.Tensor, got {type(features).__name__}")
    if features.dim() != 4:
        raise ValueError(f"features must have shape (N, C, H, W), got {tuple(features.shape)}")
    n, c, h, w = features.shape
    flat = features.reshape(n, c, h * w)
    return flat @ flat.transpose(1, 2) / (h * w)


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    r"""Mean squared difference of feature maps, :math:`\frac{1}{C M} \lVert F - P \rVert^2`
    (averaged over the batch too)."""
    if not isinstance(features, torch.Tensor) or not isinstance(target, torch.Tensor):
        raise TypeError("features and target must be torch.Tensors")
    if features.shape != target.shape:
        raise ValueError(f"features and target must have the same shape, got "
                         f"{tuple(features.shape)} and {tuple(target.shape)}")
    return (features - target).square().mean()


def style_loss(features, target_grams, weights=None) -> torch.Tensor:
    r"""Weighted sum over layers of the mean squared difference of Gram matrices,
    :math:`\sum_l w_l \frac{1}{C_l^2} \lVert G^l - A^l \rVert^2`.

    Args:
        features: ``{layer: (N, C, H, W)}`` feature maps of the image being made.
        target_grams: ``{layer: (N or 1, C, C)}`` Gram matrices of the style image.
        weights: ``{layer: w}``; default: equal weights summing to 1.

    Returns:
        A scalar tensor.
    """
    if not isinstance(features, dict) or not isinstance(target_grams, dict):
        raise TypeError("features and target_grams must be dicts {layer name: tensor}")
    missing = sorted(set(target_grams) - set(features))
    if missing:
        raise ValueError(f"features lacks the layer(s) {missing} of target_grams")
    if not target_grams:
        raise ValueError("target_grams must name at least one layer")
    if weights is None:
        weights = {name: 1.0 / len(target_grams) for name in target_grams}
    elif not isinstance(weights, dict) or set(weights) != set(target_grams):
        raise ValueError(f"weights must be a dict with the layers of target_grams "
                         f"{sorted(target_grams)}, got {weights!r}")
    total = 0.0
    for name, target in target_grams.items():
        gram = gram_matrix(features[name])
        if gram.shape[1:] != target.shape[1:]:
            raise ValueError(f"the Gram matrix of layer {name!r} has shape {tuple(gram.shape)}, "
                             f"target_grams[{name!r}] {tuple(target.shape)}")
        total = total + weights[name] * (gram - target).square().mean()
    return total


def layer_names(backbone: nn.Sequential) -> list:
    """Names of the layers of a VGG-like ``nn.Sequential``, one per layer: ``conv{s}_{k}``,
    ``bn{s}_{k}``, ``relu{s}_{k}`` for the ``k``-th convolution of stage ``s`` and ``pool{s}``
    for the pooling that closes stage ``s`` (both counted from 1)."""
    names, stage, conv = [], 1, 0
    for layer in backbone:
        if isinstance(layer, nn.Conv2d):
            conv += 1
            names.append(f"conv{stage}_{conv}")
        elif isinstance(layer, nn.BatchNorm2d):
            names.append(f"bn{stage}_{conv}")
        elif isinstance(layer, nn.ReLU):
            names.append(f"relu{stage}_{conv}")
        elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            names.append(f"pool{stage}")
            stage, conv = stage + 1, 0
        else:
            names.append(f"layer{len(names)}")
    return names


class StyleFeatures(nn.Module):
    r"""The activations of chosen layers of a VGG-like backbone, by name.

    The backbone is copied up to the deepest chosen layer (later layers are not needed), its
    ReLUs made out-of-place, and, with ``pooling="average"``, its max poolings replaced by
    average poolings of the same size. Layers are named by :func:`layer_names`
    (``"relu3_2"``: the ReLU after the second convolution of the third stage).

    Args:
        backbone: an ``nn.Sequential`` of convolutions, batch normalisations, ReLUs and poolings
            (e.g. the ``features`` of a trained :class:`~cnncourse.models.localization.LocalizationNet`).
        layers: the names of the layers whose activations are returned.
        pooling: ``"max"`` (keep) or ``"average"``.

    Shape:
        - Input: :math:`(N, C, H, W)`.
        - Output: ``{name: (N, C_l, H_l, W_l)}`` for every name of ``layers``.
    """

    def __init__(self, backbone: nn.Sequential, layers=STYLE_LAYERS + CONTENT_LAYERS,
                 pooling: str = "max"):
        super().__init__()
        if not isinstance(backbone, nn.Sequential):
            raise TypeError(f"backbone must be an nn.Sequential, got {type(backbone).__name__}")
        if isinstance(layers, str) or not isinstance(layers, (tuple, list)) or not layers:
            raise TypeError(f"layers must be a non-empty tuple of layer names, got {layers!r}")
        pooling = check_choice(pooling, "pooling", POOLINGS)
        names = layer_names(backbone)
        unknown = [name for name in layers if name not in names]
        if unknown:
            raise ValueError(f"layers must be names of the backbone's layers ({', '.join(names)}); "
                             f"got {unknown}")
        self.layers = tuple(layers)
        last = max(names.index(name) for name in layers)
        copied = []
        for layer in list(backbone)[:last + 1]:
            if isinstance(layer, nn.ReLU):
                layer = nn.ReLU()
            elif isinstance(layer, nn.MaxPool2d) and pooling == "average":
                layer = nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding)
            copied.append(layer)
        self.body = nn.Sequential(*copied)
        self.names = names[:last + 1]
        self.pooling = pooling

    def forward(self, x: torch.Tensor) -> dict:
        outputs = {}
        for name, layer in zip(self.names, self.body):
            x = layer(x)
            if name in self.layers:
                outputs[name] = x
        return outputs

    def output_shapes(self, input_shape: tuple) -> dict:
        """The shape of every output for an input of shape ``(N, C, H, W)``."""
        n, _, h, w = input_shape
        shapes, channels, stride = {}, None, 1
        for name, layer in zip(self.names, self.body):
            if isinstance(layer, nn.Conv2d):
                channels = layer.out_channels
            elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
                stride *= 2
            if name in self.layers:
                shapes[name] = (n, channels, h // stride, w // stride)
        return shapes


def feature_net_from(model: nn.Module, layers=STYLE_LAYERS + CONTENT_LAYERS,
                     pooling: str = "max") -> StyleFeatures:
    """A frozen :class:`StyleFeatures` in evaluation mode from a trained network's ``features``
    (e.g. :class:`~cnncourse.models.localization.LocalizationNet`) or from a backbone itself."""
    backbone = getattr(model, "features", model)
    net = StyleFeatures(backbone, layers, pooling).eval()
    net.requires_grad_(False)
    return net


@dataclasses.dataclass
class StylizedImage:
    """The result of :func:`stylize`.

    Attributes:
        image: ``(3, H, W)`` float32 in ``[0, 1]`` (CPU).
        content_loss, style_loss, total_loss: one value per step (unweighted content and style
            losses; the total is weighted), measured before the step.
        content_weight, style_weight: the weights used.
    """

    image: torch.Tensor
    content_loss: list
    style_loss: list
    total_loss: list
    content_weight: float
    style_weight: float


def _image(value, name: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(np.asarray(value, dtype=np.float32))
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be an image tensor or array (3, H, W), got "
                            f"{type(value).__name__}") from None
    if not value.is_floating_point():
        raise TypeError(f"{name} must hold floats in [0, 1], got dtype {value.dtype}")
    if value.dim() == 4 and value.shape[0] == 1:
        value = value[0]
    if value.dim() != 3 or value.shape[0] != 3:
        raise ValueError(f"{name} must have shape (3, H, W) (channels first), got {tuple(value.shape)}")
    return value.float()


def stylize(content, style, feature_net: nn.Module, content_weight: float = 1.0,
            style_weight: float = 100.0, steps: int = 200, lr: float = 0.02,
            content_layers=CONTENT_LAYERS, style_layers=STYLE_LAYERS, init: str = "content",
            seed: int = 0, device=None) -> StylizedImage:
    r"""Paint ``content`` in the style of ``style`` by optimising the pixels of a new image.

    Minimises :math:`\alpha L_{\text{content}} + \beta L_{\text{style}}` (see the module) with
    Adam on the pixels, which are clipped to ``[0, 1]`` after every step. The feature network is
    not changed (its parameters are frozen for the run and its mode restored after).

    Args:
        content: ``(3, H, W)`` image in ``[0, 1]`` (tensor or array).
        style: ``(3, H', W')`` image in ``[0, 1]``; its size may differ (Gram matrices do not
            depend on it).
        feature_net: a module returning ``{layer: features}`` for every layer of
            ``content_layers`` and ``style_layers`` (a :class:`StyleFeatures`).
        content_weight: :math:`\alpha`.
        style_weight: :math:`\beta`.
        steps: optimisation steps.
        lr: Adam's learning rate (in pixel values per step).
        content_layers, style_layers: layer names.
        init: start from the ``"content"`` image or from uniform ``"noise"``.
        seed: seed of the noise start.
        device: where to compute (default: the feature network's device).

    Returns:
        A :class:`StylizedImage`.
    """
    if not isinstance(feature_net, nn.Module):
        raise TypeError(f"feature_net must be a torch.nn.Module, got {type(feature_net).__name__}")
    content_weight = real(content_weight, "content_weight", minimum=0.0)
    style_weight = real(style_weight, "style_weight", minimum=0.0)
    steps = integer(steps, "steps", minimum=1)
    lr = real(lr, "lr", minimum=0.0, open_minimum=True)
    init = check_choice(init, "init", ("content", "noise"))
    seed = integer(seed, "seed", minimum=0)
    for value, name in ((content_layers, "content_layers"), (style_layers, "style_layers")):
        if isinstance(value, str) or not isinstance(value, (tuple, list)) or not value:
            raise TypeError(f"{name} must be a non-empty tuple of layer names, got {value!r}")
    if device is None:
        parameter = next(iter(feature_net.parameters()), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
    else:
        from cnncourse.train import select_device

        device = select_device(device)
    content = _image(content, "content").to(device)[None]
    style = _image(style, "style").to(device)[None]

    was_training = feature_net.training
    flags = [p.requires_grad for p in feature_net.parameters()]
    feature_net.eval().requires_grad_(False)
    try:
        with torch.no_grad():
            content_features = feature_net(content)
            style_features = feature_net(style)
        missing = [name for name in tuple(content_layers) + tuple(style_layers)
                   if name not in content_features]
        if missing:
            raise ValueError(f"feature_net does not return the layer(s) {missing}; it returns "
                             f"{sorted(content_features)}")
        target_grams = {name: gram_matrix(style_features[name]) for name in style_layers}
        if init == "content":
            start = content.clone()
        else:
            generator = torch.Generator().manual_seed(seed)
            start = torch.rand(content.shape, generator=generator).to(device)
        image = start.requires_grad_(True)
        optimizer = torch.optim.Adam([image], lr=lr)
        history = {"content": [], "style": [], "total": []}
        for _ in range(steps):
            features = feature_net(image)
            c_loss = sum(content_loss(features[name], content_features[name])
                         for name in content_layers) / len(content_layers)
            s_loss = style_loss({name: features[name] for name in style_layers}, target_grams)
            total = content_weight * c_loss + style_weight * s_loss
            optimizer.zero_grad()
            total.backward()
            optimizer.step()
            with torch.no_grad():
                image.clamp_(0.0, 1.0)
            history["content"].append(float(c_loss.detach()))
            history["style"].append(float(s_loss.detach()))
            history["total"].append(float(total.detach()))
    finally:
        for parameter, flag in zip(feature_net.parameters(), flags):
            parameter.requires_grad_(flag)
        feature_net.train(was_training)
    return StylizedImage(image=image.detach()[0].cpu(), content_loss=history["content"],
                         style_loss=history["style"], total_loss=history["total"],
                         content_weight=content_weight, style_weight=style_weight)


def weight_sweep(content, style, feature_net: nn.Module, style_weights=(1.0, 10.0, 100.0, 1000.0),
                 content_weight: float = 1.0, steps: int = 100, **options) -> list:
    r"""Stylize the same pair of images with several style weights :math:`\beta` (the content
    weight :math:`\alpha` fixed), to see how the ratio :math:`\beta / \alpha` trades the content
    for the style.

    Args:
        content, style, feature_net: as in :func:`stylize`.
        style_weights: the values of :math:`\beta` to try.
        content_weight: :math:`\alpha`.
        steps: optimisation steps of each run.
        options: other arguments of :func:`stylize` (``lr``, ``init``, layers, ...).

    Returns:
        One :class:`StylizedImage` per style weight, in the given order; the last entries of
        their ``content_loss`` and ``style_loss`` histories are the losses after the run.
    """
    if isinstance(style_weights, (str, bytes)) or not hasattr(style_weights, "__iter__"):
        raise TypeError(f"style_weights must be a sequence of numbers, got {style_weights!r}")
    weights = [real(w, "style_weights", minimum=0.0) for w in style_weights]
    if not weights:
        raise ValueError("style_weights must not be empty")
    return [stylize(content, style, feature_net, content_weight=content_weight, style_weight=w,
                    steps=steps, **options) for w in weights]


@register_model("style_features", family="style_transfer", input_size=(3, 64, 64), chapter=CHAPTER,
                task="style_transfer",
                reference="Gatys, Ecker and Bethge 2016, arXiv:1508.06576, on the VGG-like "
                          "backbone of localization_net trained in the course (no ImageNet VGG)")
def style_features(in_channels: int = 3, widths: tuple = (16, 32, 64, 128), convs: tuple = (1, 1, 2, 2),
                   layers=STYLE_LAYERS + CONTENT_LAYERS, pooling: str = "max") -> StyleFeatures:
    """The feature network of style transfer, untrained: a :class:`StyleFeatures` over the
    backbone architecture of ``localization_net``. For the trained one use
    ``cnncourse.usecases.load_pretrained("style_transfer")``."""
    return StyleFeatures(ConvFeatures(in_channels, widths, convs), layers, pooling)
