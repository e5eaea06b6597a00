"""Data sets and images that need no download."""

from cnncourse.data.images import SAMPLE_IMAGES, sample_image

__all__ = ["SAMPLE_IMAGES", "sample_image"]
