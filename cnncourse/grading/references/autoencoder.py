"""Exercise 08-autoencoder: the reference of every task, built on the package.

Salt-and-pepper noise is :class:`cnncourse.data.transforms.SaltAndPepper`, the autoencoder is
:class:`cnncourse.models.autoencoder.ConvAutoencoder` with the exercise's layer sizes, training
is :func:`cnncourse.train.fit`, and the peak signal-to-noise ratio is scikit-image's. The tests'
helpers for torch modules are those of :mod:`cnncourse.grading.references.architectures`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from cnncourse.data.transforms import SaltAndPepper
from cnncourse.models.autoencoder import ConvAutoencoder, corrupt
from cnncourse.train import fit

__all__ = ["salt_and_pepper", "psnr", "DigitAutoencoder", "train_denoiser"]

IMAGE_SIZE = 16
"""Side of the digit images of the exercise (scikit-learn's 8 x 8 digits resized)."""

WIDTHS = (16, 32)
"""Filters of the encoder's two strided convolutions (the decoder mirrors them)."""


def salt_and_pepper(images, amount, rng):
    images = np.asarray(images)
    return SaltAndPepper(amount=amount)(images, np.random.default_rng(rng))


def psnr(reconstruction, target, max_value=1.0):
    from skimage.metrics import peak_signal_noise_ratio

    target = np.asarray(target, dtype=np.float64)
    reconstruction = np.asarray(reconstruction, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return float(peak_signal_noise_ratio(target, reconstruction, data_range=max_value))


class DigitAutoencoder(ConvAutoencoder):
    """The exercise's autoencoder: 16 x 16 grey images to ``code_size`` numbers and back."""

    def __init__(self, code_size=16):
        super().__init__(in_channels=1, image_size=IMAGE_SIZE, code_size=code_size, widths=WIDTHS,
                         output="sigmoid")


def train_denoiser(x_train):
    model = DigitAutoencoder(code_size=32)

    def add_noise(x, generator):
        return corrupt(x, "salt_and_pepper", 0.2, generator=generator)

    fit(model, (x_train, x_train), loss=nn.MSELoss(), augment=add_noise, epochs=15, lr=5e-3,
        optimizer="adam", batch_size=64, seed=0, device="cpu", progress=False)
    return model.eval()


def decoder_variants(reference: DigitAutoencoder, code: torch.Tensor) -> dict:
    """Outputs of typical wrong decoders with the reference's weights, for hints."""
    with torch.no_grad():
        logits = reference.decoder[:-1](code)
    return {"the sigmoid at the end of the decoder is missing": logits.numpy()}
