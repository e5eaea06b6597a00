r"""Deep convolutional autoencoders, plain and denoising.

An autoencoder is trained to give back its input: the target of :math:`\hat x = f(x;\theta)` is
:math:`x` itself, with a loss such as the mean squared error

.. math:: J(\theta) = \frac{1}{N} \sum_{i=1}^N \lVert f(x_i; \theta) - x_i \rVert^2 .

What makes this useful is a narrow middle: the *encoder* (strided convolutions, then a linear
layer) compresses the image into a *code* of ``code_size`` numbers, and the *decoder* (a linear
layer, then transposed convolutions) must rebuild the image from the code alone. The code is a
learnt summary of the image; with ``code_size=2`` it can be drawn as a point in the plane, and
images of the same digit gather in regions of that plane.

A *denoising* autoencoder has the same architecture; it is trained on corrupted inputs
(:func:`corrupt`: Gaussian noise, masked pixels, salt and pepper) against the clean images, so it
must learn what images look like rather than copy pixels. A model built with ``corruption=...``
corrupts its input itself in training mode (never in evaluation mode).
"""

from __future__ import annotations

import torch
from torch import nn

from cnncourse._checks import check_choice, int_tuple, integer, real
from cnncourse.registry import register_model

CHAPTER = "book/12-autoencoders"

CORRUPTIONS = ("gaussian", "masking", "salt_and_pepper")


def corrupt(x: torch.Tensor, kind: str = "gaussian", amount: float = 0.3,
            generator: torch.Generator | None = None) -> torch.Tensor:
    r"""A corrupted copy of ``x`` (``x`` is not modified).

    * ``"gaussian"``: :math:`\tilde x = x + \sigma \varepsilon`, :math:`\varepsilon \sim N(0, 1)`
      per pixel, :math:`\sigma` = ``amount``;
    * ``"masking"``: each pixel is set to 0 with probability ``amount``;
    * ``"salt_and_pepper"``: each pixel is set, with probability ``amount``, to the smallest or
      the largest value of ``x`` (half of the time each).

    Args:
        x: images, any float tensor.
        kind: one of ``"gaussian"``, ``"masking"``, ``"salt_and_pepper"``.
        amount: noise standard deviation (Gaussian) or probability (the others, in ``[0, 1]``).
        generator: a :class:`torch.Generator` for reproducible noise (on ``x``'s device).

    Shape:
        - Input: any shape :math:`(*)`; output: the same shape and dtype.
    """
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point torch.Tensor, got {type(x).__name__}")
    kind = check_choice(kind, "kind", CORRUPTIONS)
    amount = real(amount, "amount", minimum=0.0, maximum=None if kind == "gaussian" else 1.0)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if kind == "gaussian":
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return x + amount * noise
    hit = torch.rand(x.shape, generator=generator, device=x.device) < amount
    if kind == "masking":
        return x.masked_fill(hit, 0.0)
    salt = torch.rand(x.shape, generator=generator, device=x.device) < 0.5
    values = torch.where(salt, x.max(), x.min()).to(x.dtype)
    return torch.where(hit, values, x)


class ConvAutoencoder(nn.Module):
    r"""Strided convolutions down to a code of ``code_size`` numbers, transposed convolutions back.

    Encoder: for each entry of ``widths``, a ``3 x 3`` convolution with stride 2 (halving the
    image) and a ReLU; then a linear layer to the code (no activation). Decoder: a linear layer
    and ReLU back to the last feature maps, then ``3 x 3`` transposed convolutions with stride 2
    (doubling the image) in reverse order, ReLU between them, and a sigmoid at the end when
    ``output="sigmoid"`` (images in ``[0, 1]``) or nothing when ``output="linear"``.

    Args:
        in_channels: channels of the images.
        image_size: side of the square images; a multiple of ``2 ** len(widths)``.
        code_size: numbers in the code (2 for a code space one can plot).
        widths: filters of the encoder's convolutions (the decoder mirrors them).
        output: ``"sigmoid"`` or ``"linear"``.
        corruption: ``None`` (a plain autoencoder) or a kind of :func:`corrupt`, applied to the
            input in training mode (a denoising autoencoder).
        noise_level: the ``amount`` of that corruption.

    Shape:
        - Input: :math:`(N, C, S, S)`, ``S = image_size``.
        - :meth:`encode`: :math:`(N, \text{code\_size})`; :meth:`decode` and the output:
          :math:`(N, C, S, S)`.
    """

    def __init__(self, in_channels: int = 1, image_size: int = 16, code_size: int = 8,
                 widths: tuple = (16, 32), output: str = "sigmoid", corruption: str | None = None,
                 noise_level: float = 0.3):
        super().__init__()
        in_channels = integer(in_channels, "in_channels", minimum=1)
        image_size = integer(image_size, "image_size", minimum=1)
        self.code_size = integer(code_size, "code_size", minimum=1)
        widths = int_tuple(widths, "widths", minimum=1)
        output = check_choice(output, "output", ("sigmoid", "linear"))
        if corruption is not None:
            corruption = check_choice(corruption, "corruption", CORRUPTIONS)
        self.corruption = corruption
        self.noise_level = real(noise_level, "noise_level", minimum=0.0,
                                maximum=None if corruption in (None, "gaussian") else 1.0)
        factor = 2 ** len(widths)
        if image_size % factor:
            raise ValueError(f"image_size must be a multiple of 2 ** len(widths) = {factor}, "
                             f"got {image_size}")
        side = image_size // factor
        self.image_shape = (in_channels, image_size, image_size)
        self.map_shape = (widths[-1], side, side)

        encoder: list[nn.Module] = []
        channels = in_channels
        for width in widths:
            encoder += [nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.ReLU(inplace=True)]
            channels = width
        encoder += [nn.Flatten(), nn.Linear(channels * side * side, self.code_size)]
        self.encoder = nn.Sequential(*encoder)

        decoder: list[nn.Module] = [nn.Linear(self.code_size, channels * side * side),
                                    nn.ReLU(inplace=True), nn.Unflatten(1, self.map_shape)]
        targets = list(reversed(widths[:-1])) + [in_channels]
        for index, target in enumerate(targets):
            decoder.append(nn.ConvTranspose2d(channels, target, 3, stride=2, padding=1,
                                              output_padding=1))
            if index < len(targets) - 1:
                decoder.append(nn.ReLU(inplace=True))
            channels = target
        if output == "sigmoid":
            decoder.append(nn.Sigmoid())
        self.decoder = nn.Sequential(*decoder)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of each image, :math:`(N, \\text{code\\_size})`."""
        return self.encoder(x)

    def decode(self, code: torch.Tensor) -> torch.Tensor:
        """The images rebuilt from codes, :math:`(N, C, S, S)`."""
        return self.decoder(code)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.corruption is not None:
            x = corrupt(x, self.corruption, self.noise_level)
        return self.decode(self.encode(x))


@register_model("conv_autoencoder", family="autoencoder", input_size=(1, 16, 16), chapter=CHAPTER,
                task="reconstruction")
def conv_autoencoder(in_channels: int = 1, image_size: int = 16, code_size: int = 8,
                     widths: tuple = (16, 32), output: str = "sigmoid") -> ConvAutoencoder:
    """A plain convolutional autoencoder (see :class:`ConvAutoencoder`), e.g. for the digits
    resized to 16 x 16; ``code_size=2`` for a code space to plot."""
    return ConvAutoencoder(in_channels=in_channels, image_size=image_size, code_size=code_size,
                           widths=widths, output=output)


@register_model("denoising_autoencoder", family="autoencoder", input_size=(1, 16, 16),
                chapter=CHAPTER, task="reconstruction")
def denoising_autoencoder(in_channels: int = 1, image_size: int = 16, code_size: int = 8,
                          widths: tuple = (16, 32), output: str = "sigmoid",
                          corruption: str = "gaussian", noise_level: float = 0.3) -> ConvAutoencoder:
    """The same autoencoder, corrupting its input in training mode (a denoising autoencoder)."""
    if corruption is None:
        raise ValueError("corruption must be one of 'gaussian', 'masking', 'salt_and_pepper' for "
                         "a denoising autoencoder, got None")
    return ConvAutoencoder(in_channels=in_channels, image_size=image_size, code_size=code_size,
                           widths=widths, output=output, corruption=corruption,
                           noise_level=noise_level)
