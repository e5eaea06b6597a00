"""NumPy implementations of the course's concepts, written from their definitions."""

from cnncourse.scratch.convolution import (
    BOUNDARIES,
    MODES,
    conv2d,
    conv_output_size,
    convolve2d,
    pad2d,
)

__all__ = ["BOUNDARIES", "MODES", "conv2d", "conv_output_size", "convolve2d", "pad2d"]
