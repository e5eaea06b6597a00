"""The course's models in PyTorch, one family per module.

Importing this package imports every family module, and each registers its builders with
:func:`cnncourse.registry.register_model`; build one with
``cnncourse.registry.get_model(name, num_classes=..., in_channels=..., input_size=...)`` and
list them with :func:`cnncourse.registry.list_models`.
"""

from cnncourse.models import lenet as _lenet  # noqa: F401  (registers "lenet")
from cnncourse.models import alexnet as _alexnet  # noqa: F401  (alexnet, zfnet, alexnet_small)
from cnncourse.models import vgg as _vgg  # noqa: F401  (vgg11, vgg16, vgg11_small, vgg16_small)
from cnncourse.models import resnet as _resnet  # noqa: F401  (resnet18/34/50, resnet_cifar, plain_cifar)
from cnncourse.models import googlenet as _googlenet  # noqa: F401  (googlenet, googlenet_small)
from cnncourse.models import fractalnet as _fractalnet  # noqa: F401  (fractalnet_cifar)
from cnncourse.models import densenet as _densenet  # noqa: F401  (densenet121, densenet_cifar)
from cnncourse.models import attention as _attention  # noqa: F401  (attention_vgg16, _small)
from cnncourse.models import autoencoder as _autoencoder  # noqa: F401  (conv/denoising autoencoder)
from cnncourse.models import segmentation as _segmentation  # noqa: F401  (unet)
from cnncourse.models import localization as _localization  # noqa: F401  (localization_net)
from cnncourse.models import detection as _detection  # noqa: F401  (centernet)
from cnncourse.models import instance as _instance  # noqa: F401  (instance_segmenter)
from cnncourse.models import pose as _pose  # noqa: F401  (pose_net)
from cnncourse.models import style as _style  # noqa: F401  (style_features)
from cnncourse.models.profile import count_parameters, profile
from cnncourse.models.lenet import LeNet, export_scratch_weights, load_scratch_weights

__all__ = ["LeNet", "load_scratch_weights", "export_scratch_weights", "profile", "count_parameters"]
