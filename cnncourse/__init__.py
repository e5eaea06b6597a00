"""cnncourse: the code behind the course on convolutional neural networks.

Sub-packages follow the layers of the course:

``cnncourse.scratch``
    NumPy implementations written from the definitions (no deep learning framework).
``cnncourse.data``
    Data that needs no download: sample photographs shipped with scikit-image.
``cnncourse.viz``
    Plotting helpers shared by the chapters.
``cnncourse.grading``
    Assertions with readable feedback, used by the autograded exercises.

Importing :mod:`cnncourse` is cheap: PyTorch is only imported by the modules that need it.
"""

__version__ = "0.1.0"
