"""``dream()``: the TensorFlow tutorial's octave/tile gradient ascent, run by the C core."""
from __future__ import annotations

import math
import operator
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from . import _deepdream
from .images import as_rgb_uint8, deprocess, preprocess
from .model import LAYER_NAMES, InceptionV3, check_threads

__all__ = ["DreamStep", "dream", "octave_sizes"]

TILE_POLICIES = ("cover", "tutorial")
MAX_SIDE = 16384          #: the largest image side (and tile_size) the C core takes
MAX_STEPS = 2**24         #: the most steps (steps_per_octave x octaves) in one dream

_default_model: InceptionV3 | None = None


def default_model() -> InceptionV3:
    """The model with the shipped weights, loaded once per process."""
    global _default_model
    if _default_model is None:
        _default_model = InceptionV3()
    return _default_model


@dataclass(frozen=True)
class DreamStep:
    """What a ``callback`` sees after each step: return True from the callback to stop early."""

    octave: int          #: the octave's exponent n (size = base * scale**n)
    octave_index: int    #: 0 .. len(octaves) - 1
    step: int            #: steps done in this octave, 1 .. steps_per_octave
    steps: int           #: steps_per_octave
    loss: float          #: this step's loss, summed over tiles
    array: np.ndarray    #: the current image, float32 (h, w, 3) in [-1, 1], at the octave's size

    @property
    def image(self) -> np.ndarray:
        """The current image as uint8 (h, w, 3)."""
        return deprocess(self.array)


def octave_sizes(shape: tuple[int, int], octaves: Iterable[int], octave_scale: float) -> list[tuple[int, int]]:
    """Image size of each octave as the tutorial computes it: ``int32(float32(shape) * scale**n)``.

    >>> octave_sizes((412, 500), range(-2, 3), 1.3)
    [(243, 295), (316, 384), (412, 500), (535, 650), (696, 845)]
    """
    base = np.array(shape, np.float32)
    sizes = []
    for n in octaves:
        try:
            scale = octave_scale ** n
        except OverflowError:
            scale = math.inf
        with np.errstate(over="ignore", invalid="ignore"):
            size = base * np.float32(scale)
        if not (np.isfinite(size).all() and (np.abs(size) < 2**31).all()):
            raise ValueError(f"octave {n}: {tuple(shape)} x {octave_scale!r}**{n} is too large "
                             "a size; use a smaller octave_scale or fewer octaves")
        sizes.append(tuple(int(v) for v in size.astype(np.int32)))
    return sizes


def _check_octaves(octaves: Iterable[int]) -> list[int]:
    try:
        values = list(octaves)
    except TypeError:
        raise TypeError(f"octaves must be a sequence of integers like range(-2, 3), "
                        f"got {type(octaves).__name__}") from None
    if not values:
        raise ValueError("octaves is empty; pass integers like range(-2, 3)")
    try:
        return [operator.index(n) for n in values]
    except TypeError:
        raise TypeError(f"octaves must be integers like range(-2, 3), got {values!r}") from None


def _positive(name: str, value: object, kind: type) -> None:
    ok_type = isinstance(value, (int, np.integer)) if kind is int else isinstance(value, (int, float, np.integer, np.floating))
    if isinstance(value, bool) or not ok_type:
        raise TypeError(f"{name} must be a positive {kind.__name__}, got {value!r}")
    try:
        finite = math.isfinite(float(value))  # type: ignore[arg-type]
    except OverflowError:  # an int beyond float's range
        finite = False
    if not (finite and value > 0):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")


def _check_shifts(shifts: object, n_steps: int) -> np.ndarray:
    try:
        arr = np.asarray(shifts)
    except (ValueError, TypeError) as error:  # ragged lists
        raise ValueError(f"shifts must be integer (dy, dx) pairs, one per step: shape ({n_steps}, 2); "
                         f"{error}") from None
    if arr.dtype.kind not in "iu" or arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"shifts must be integer (dy, dx) pairs, one per step: shape ({n_steps}, 2), "
                         f"got dtype {arr.dtype} shape {arr.shape}")
    if arr.shape[0] != n_steps:
        raise ValueError(f"shifts holds {arr.shape[0]} (dy, dx) pairs but the dream takes "
                         f"{n_steps} steps (steps_per_octave x octaves)")
    if arr.size and (arr.min() < -2**30 or arr.max() > 2**30):  # (np.abs(int64 min) < 0)
        raise ValueError("shifts must be within +-2**30")
    return arr.astype(np.int32)


def run(x: np.ndarray, *, layers: Sequence[str], sizes: list[tuple[int, int]], steps: int,
        step_size: float, tile_size: int, tiles: str, seed: int | None, shifts: object,
        progress: bool, callback: Callable[[DreamStep], object] | None,
        model: InceptionV3 | None, octaves: list[int], threads: int | None = None) -> np.ndarray:
    """The engine behind dream() and the tutorial mirrors: x float32 in [-1, 1] -> float32 image
    at the last octave's size."""
    model = default_model() if model is None else model
    if not isinstance(model, InceptionV3):
        raise TypeError(f"model must be a deepdream.InceptionV3, got {type(model).__name__}")
    blocks = model._blocks(layers)
    threads = model.threads if threads is None else threads
    threads = check_threads(threads)
    _positive("steps_per_octave", steps, int)
    _positive("step_size", step_size, float)
    _positive("tile_size", tile_size, int)
    if tile_size > MAX_SIDE:
        raise ValueError(f"tile_size must be at most {MAX_SIDE} (tiles are clipped to the image "
                         f"anyway), got {tile_size}")
    if step_size > float(np.finfo(np.float32).max):
        raise ValueError(f"step_size must fit in float32 (at most 3.4e38), got {step_size!r}")
    if steps * len(sizes) > MAX_STEPS:
        raise ValueError(f"steps_per_octave x octaves is {steps * len(sizes)}; at most {MAX_STEPS} "
                         "steps in one dream")
    if tiles not in TILE_POLICIES:
        raise ValueError(f"tiles must be one of {TILE_POLICIES}, got {tiles!r}")
    n_steps = steps * len(sizes)
    shift_array = None if shifts is None else _check_shifts(shifts, n_steps)
    if seed is None:
        seed = random.SystemRandom().getrandbits(64)
    elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    depth_name = LAYER_NAMES[max(blocks)]
    need = model._net.min_side(max(blocks))
    for h, w in sizes:
        if min(h, w) < need:
            raise ValueError(f"an octave of {h}x{w} pixels is too small for {depth_name}, which needs "
                             f"{need}x{need}: use fewer negative octaves or a larger image")
        for side in (h, w):
            smallest = min(e - s for s, e in _deepdream.tile_bounds(side, tile_size, tiles == "cover"))
            if smallest < need:
                raise ValueError(f"tile_size {tile_size} is too small for {depth_name}: a {side}-pixel "
                                 f"side gets a {smallest}-pixel tile, and {depth_name} needs {need}; "
                                 f"use tile_size >= {2 * need}")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable, got {type(callback).__name__}")

    from tqdm.auto import tqdm

    with tqdm(total=n_steps, disable=not progress, unit="step", desc="dream") as bar:
        def on_step(octave_index: int, step: int, loss: float, array: np.ndarray | None) -> bool:
            bar.update(1)
            bar.set_postfix(octave=octaves[octave_index], loss=f"{loss:.4f}", refresh=False)
            if callback is None:
                return False
            assert array is not None
            info = DreamStep(octaves[octave_index], octave_index, step, steps, loss, array)
            return bool(callback(info))

        # the image is copied for each step only when a callback will look at it
        return model._net.dream(x, blocks, np.array(sizes, np.int32), steps, float(step_size),
                                int(tile_size), tiles == "cover", shift_array, int(seed), on_step, threads,
                                callback is not None)


def deprocess_in_place(x: np.ndarray) -> np.ndarray:
    """``deprocess`` without a copy (a dream's last octave can be 1.69^2 times the photo): x
    becomes uint8(255 * (x + 1) / 2) held as float32 integers."""
    np.clip(x, -1.0, 1.0, out=x)
    x += np.float32(1.0)
    x *= np.float32(255.0)
    x /= np.float32(2.0)
    return np.trunc(x, out=x)


def to_input_size(result: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The tutorial's last lines: resize the uint8 result (float32 integers from
    deprocess_in_place) to the input's size, then ``convert_image_dtype(img / 255.0, uint8)``,
    which scales by 255.5 and truncates."""
    r = _deepdream.resize_bilinear(result, shape)
    r /= np.float32(255.0)
    r *= np.float32(255.5)
    return r.astype(np.uint8)


def dream(img: object, layers: Sequence[str] = ("mixed3", "mixed5"), octaves: Iterable[int] = range(-2, 3),
          octave_scale: float = 1.3, steps_per_octave: int = 100, step_size: float = 0.01,
          tile_size: int = 512, tiles: str = "cover", seed: int | None = None,
          shifts: Sequence[tuple[int, int]] | np.ndarray | None = None, progress: bool = True,
          callback: Callable[[DreamStep], object] | None = None,
          model: InceptionV3 | None = None, threads: int | None = None) -> np.ndarray:
    """DeepDream a photo; returns uint8 (H, W, 3) of the input's size.

    ``img``: a uint8 array (H, W, 3) or a PIL image; grey (H, W) and RGBA inputs are converted
    to RGB (alpha is dropped). The algorithm is the TensorFlow tutorial's
    ``run_deep_dream_with_octaves``: per octave ``n`` the image is resized to
    ``int(base * octave_scale**n)``, then ``steps_per_octave`` gradient-ascent steps on the mean
    activation of ``layers``, with a random roll (``seed``, or explicit ``shifts``: one (dy, dx)
    per step over all octaves) and tiles of ``tile_size``. ``tiles="cover"`` uses tiles that cover
    the whole image every step; ``"tutorial"`` the tutorial's own (a side under 2 tiles gets one
    tile per step). ``callback(step: DreamStep)`` runs after every step; return True to stop
    early. Ctrl-C stops within a tile with KeyboardInterrupt. ``threads``: None for the model's
    (all cores, or $DEEPDREAM_THREADS); the result is the same for any thread count.

    >>> import deepdream
    >>> out = deepdream.dream(deepdream.load_image("photo.jpg", max_dim=500), seed=0)
    >>> out = deepdream.dream(img, layers=["mixed5"], octaves=range(-1, 2), steps_per_octave=20)
    """
    base = as_rgb_uint8(img)
    octave_list = _check_octaves(octaves)
    _positive("octave_scale", octave_scale, float)
    sizes = octave_sizes(base.shape[:2], octave_list, float(octave_scale))
    for h, w in sizes:
        if h < 1 or w < 1 or max(h, w) > MAX_SIDE:
            raise ValueError(f"octave size {h}x{w} is outside 1..{MAX_SIDE} pixels a side; "
                             "adjust octaves or octave_scale")
    out = run(preprocess(base), layers=layers, sizes=sizes, steps=steps_per_octave, step_size=step_size,
              tile_size=tile_size, tiles=tiles, seed=seed, shifts=shifts, progress=progress,
              callback=callback, model=model, octaves=octave_list, threads=threads)
    return to_input_size(deprocess_in_place(out), base.shape[:2])
