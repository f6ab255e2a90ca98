"""The TensorFlow DeepDream tutorial's own functions, with its semantics and defaults, run by the
C core: for side-by-side comparisons with the tutorial notebook.

>>> from deepdream import tutorial
>>> img = tutorial.run_deep_dream_simple(original_img, steps=100, step_size=0.01)
>>> img = tutorial.run_deep_dream_with_octaves(original_img, step_size=0.01)
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from .dream import MAX_SIDE, MAX_STEPS, _check_octaves, _positive, octave_sizes, run
from .images import as_rgb_uint8, deprocess
from .model import InceptionV3

__all__ = ["run_deep_dream_simple", "run_deep_dream_with_octaves"]


def _tutorial_preprocess(img: object) -> np.ndarray:
    """Keras' preprocess_input on a uint8 photo or a float 0..255 image (as the tutorial feeds
    it the float result of tf.image.resize between octaves)."""
    if isinstance(img, np.ndarray) and img.dtype.kind == "f":
        if img.ndim != 3 or img.shape[2] != 3 or 0 in img.shape:
            raise ValueError(f"img must have shape (H, W, 3), got {img.shape}")
        if max(img.shape[:2]) > MAX_SIDE:
            raise ValueError(f"img is too large: shape {img.shape}, at most {MAX_SIDE} pixels a side")
        with np.errstate(over="ignore"):
            x = img.astype(np.float32)
        if not np.isfinite(x).all():
            raise ValueError("img holds NaN or Inf values (or values beyond float32); expected 0..255")
    else:
        x = as_rgb_uint8(img).astype(np.float32)
        if max(x.shape[:2]) > MAX_SIDE:
            raise ValueError(f"img is too large: shape {x.shape}, at most {MAX_SIDE} pixels a side")
    return x / np.float32(127.5) - np.float32(1.0)


def run_deep_dream_simple(img: object, steps: int = 100, step_size: float = 0.01,
                          layers: Sequence[str] = ("mixed3", "mixed5"), model: InceptionV3 | None = None,
                          progress: bool = True) -> np.ndarray:
    """The tutorial's ``run_deep_dream_simple``: ``steps`` gradient-ascent steps on the whole
    image (no roll, no tiles), returning ``deprocess(img)`` (uint8, same size). Prints
    "Step {n}, loss {loss}" at the end of each 100 steps, like the tutorial.

    >>> dreamed = run_deep_dream_simple(original_img, steps=100, step_size=0.01)
    """
    _positive("steps", steps, int)  # before np.zeros((steps, 2)) below
    if steps > MAX_STEPS:
        raise ValueError(f"steps is {steps}; at most {MAX_STEPS} steps in one dream")
    x = _tutorial_preprocess(img)
    h, w = x.shape[:2]
    losses: list[float] = []

    def report(s) -> bool:
        losses.append(s.loss)
        if s.step % 100 == 0 or s.step == steps:
            print(f"Step {s.step}, loss {s.loss}")
        return False

    out = run(x, layers=layers, sizes=[(h, w)], steps=steps, step_size=step_size, tile_size=max(h, w, 512),
              tiles="cover", seed=None, shifts=np.zeros((steps, 2), np.int32), progress=progress,
              callback=report, model=model, octaves=[0])
    return deprocess(out)


def run_deep_dream_with_octaves(img: object, steps_per_octave: int = 100, step_size: float = 0.01,
                                octaves: Iterable[int] = range(-2, 3), octave_scale: float = 1.3,
                                layers: Sequence[str] = ("mixed3", "mixed5"), tile_size: int = 512,
                                seed: int | None = None, shifts: object = None,
                                model: InceptionV3 | None = None, progress: bool = True) -> np.ndarray:
    """The tutorial's ``run_deep_dream_with_octaves`` (random roll, the tutorial's 512 tiles),
    returning ``deprocess(img)`` at the last octave's size, as the tutorial does; resize it back
    yourself (``deepdream.dream`` does all of it in one call).

    >>> dreamed = run_deep_dream_with_octaves(original_img, step_size=0.01, seed=0)
    """
    octave_list = _check_octaves(octaves)
    _positive("octave_scale", octave_scale, float)
    base = _tutorial_preprocess(img)
    sizes = octave_sizes(base.shape[:2], octave_list, float(octave_scale))
    out = run(base, layers=layers, sizes=sizes, steps=steps_per_octave, step_size=step_size,
              tile_size=tile_size, tiles="tutorial", seed=seed, shifts=shifts, progress=progress,
              callback=None, model=model, octaves=octave_list)
    return deprocess(out)
