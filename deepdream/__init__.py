"""DeepDream with InceptionV3 computed in C: the TensorFlow tutorial, exactly, on a CPU.

>>> import deepdream
>>> out = deepdream.dream(photo)                              # uint8 (H, W, 3), same size
>>> model = deepdream.InceptionV3()
>>> loss, grad = model.loss_and_gradient(deepdream.preprocess(photo), ["mixed3", "mixed5"])
"""
from . import _blas  # noqa: F401  (loads OpenBLAS before the C extension)
from . import tutorial, weights
from .dream import DreamStep, dream, octave_sizes
from .images import deprocess, preprocess
from .model import LAYER_NAMES, InceptionV3

__all__ = ["DreamStep", "InceptionV3", "LAYER_NAMES", "deprocess", "dream", "octave_sizes",
           "preprocess", "tutorial", "weights"]
__version__ = "0.1.0"
