"""DeepDream with InceptionV3 computed in C: the TensorFlow tutorial, exactly, on a CPU.

>>> import deepdream
>>> photo = deepdream.load_image("photo.jpg", max_dim=500)    # or deepdream.default_image()
>>> out = deepdream.dream(photo)                              # uint8 (H, W, 3), same size
>>> deepdream.save_image(out, "dream.png")
>>> model = deepdream.InceptionV3()
>>> loss, grad = model.loss_and_gradient(deepdream.preprocess(photo), ["mixed3", "mixed5"])
"""
from . import _blas  # noqa: F401  (loads OpenBLAS before the C extension)
from . import tutorial, weights
from .dream import DreamStep, dream, octave_sizes
from .images import default_image, deprocess, load_image, preprocess, save_image, show
from .model import LAYER_NAMES, InceptionV3

__all__ = ["DreamStep", "InceptionV3", "LAYER_NAMES", "default_image", "deprocess", "dream",
           "load_image", "octave_sizes", "preprocess", "save_image", "show", "tutorial", "weights"]
__version__ = "0.1.0"
