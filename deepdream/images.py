"""Conversions between uint8 photos and the network's [-1, 1] float32 domain."""
from __future__ import annotations

import numpy as np

__all__ = ["as_rgb_uint8", "deprocess", "preprocess"]


def preprocess(img: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> float32 in [-1, 1], as Keras' ``preprocess_input`` (mode 'tf').

    >>> preprocess(np.array([[[0, 127, 255]]], np.uint8)).tolist()
    [[[-1.0, -0.003921568393707275, 1.0]]]
    """
    x = np.asarray(img)
    if x.dtype != np.uint8:
        raise TypeError(f"preprocess expects a uint8 image, got dtype {x.dtype}")
    return x.astype(np.float32) / np.float32(127.5) - np.float32(1.0)


def deprocess(x: np.ndarray) -> np.ndarray:
    """float in [-1, 1] -> uint8, as the tutorial: ``uint8(255 * (x + 1) / 2)``, truncating.

    Values are clipped to [-1, 1] first (the tutorial relies on an earlier clip).

    >>> deprocess(np.array([[[-1.0, 0.0, 1.0]]], np.float32)).tolist()
    [[[0, 127, 255]]]
    """
    x = np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0)
    return (np.float32(255.0) * (x + np.float32(1.0)) / np.float32(2.0)).astype(np.uint8)


def as_rgb_uint8(img: object, name: str = "img") -> np.ndarray:
    """A photo as a uint8 (H, W, 3) array: PIL images of any mode and uint8 arrays that are
    grey (H, W), (H, W, 1), RGB or RGBA (alpha dropped) are accepted.

    >>> as_rgb_uint8(np.zeros((4, 5), np.uint8)).shape
    (4, 5, 3)
    """
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - pillow is a dependency
        Image = None
    if Image is not None and isinstance(img, Image.Image):
        img = np.asarray(img.convert("RGB"))
    if not isinstance(img, np.ndarray):
        raise TypeError(f"{name} must be a uint8 numpy array (H, W, 3) or a PIL image, "
                        f"got {type(img).__name__}")
    if img.dtype != np.uint8:
        raise TypeError(f"{name} must have dtype uint8 (0..255), got {img.dtype}; for float images "
                        "in [-1, 1] use deepdream.deprocess first, for 0..255 floats .astype(np.uint8)")
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), "
                         f"got {img.shape}")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {img.shape}")
    return np.ascontiguousarray(img)
