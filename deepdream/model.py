"""InceptionV3 (Keras' architecture, include_top=False) computed by the C core."""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import NamedTuple

import numpy as np

from . import _deepdream
from . import weights as _weights

__all__ = ["InceptionV3", "LAYER_NAMES"]

#: The layers a dream can use: the concatenation outputs of the 11 Inception blocks.
LAYER_NAMES: tuple[str, ...] = tuple(f"mixed{i}" for i in range(11))
MAX_SIDE = 16384  #: the largest image side the C core takes


def layer_indices(layers: Iterable[str] | str) -> list[int]:
    """Names -> block indices, rejecting unknown and duplicated names.

    >>> layer_indices(["mixed3", "mixed5"])
    [3, 5]
    """
    if isinstance(layers, str):
        layers = [layers]
    try:
        names = list(layers)
    except TypeError:
        raise TypeError(f"layers must be a list of layer names like ['mixed3', 'mixed5'], "
                        f"got {type(layers).__name__}") from None
    if not names:
        raise ValueError(f"layers is empty; choose one or more of {', '.join(LAYER_NAMES)}")
    out = []
    for name in names:
        if not isinstance(name, str) or name not in LAYER_NAMES:
            raise ValueError(f"unknown layer {name!r}; valid layers are {', '.join(LAYER_NAMES)}")
        if LAYER_NAMES.index(name) in out:
            raise ValueError(f"layer {name!r} is listed twice")
        out.append(LAYER_NAMES.index(name))
    return out


def default_threads() -> int:
    """Threads to compute with: $DEEPDREAM_THREADS if set, else every core this process may use."""
    env = os.environ.get("DEEPDREAM_THREADS")
    if env:
        return check_threads(env, "DEEPDREAM_THREADS")
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def check_threads(threads: object, name: str = "threads") -> int:
    try:
        n = int(threads)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a whole number of threads, got {threads!r}") from None
    if isinstance(threads, (bool, float)) or not 1 <= n <= 1024:
        raise ValueError(f"{name} must be a whole number from 1 to 1024, got {threads!r}")
    return n


def check_image(x: object, name: str = "x") -> np.ndarray:
    """A float (H, W, 3) image with finite values, as float32 (views are fine: copied if needed)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a numpy array of shape (H, W, 3), got {type(x).__name__}")
    if x.dtype.kind != "f":
        raise TypeError(f"{name} must be a float array in [-1, 1] (see deepdream.preprocess), "
                        f"got dtype {x.dtype}")
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"{name} must have shape (H, W, 3), got {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} is empty: shape {x.shape}")
    if max(x.shape[:2]) > MAX_SIDE:  # before any copy: a huge view costs nothing until copied
        raise ValueError(f"{name} is too large: shape {x.shape}, at most {MAX_SIDE} pixels a side")
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: refused below
        x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} holds NaN or Inf values; expected finite values in [-1, 1]")
    return x


class OpTime(NamedTuple):
    """One op's share of :meth:`InceptionV3.profile`."""

    name: str        #: conv2d_5 (Keras' numbering), max_pooling2d_1 (the first max pool), ...
    kind: str        #: "conv", "maxpool" or "avgpool"
    shape: str       #: "3x3/1 80->192" for a conv (kernel/stride cin->cout), "3x3/2" for a pool
    output: tuple[int, int]  #: output height and width
    macs: int        #: a conv's multiply-adds of the forward pass, counted naively; 0 for a pool
    forward_s: float
    backward_s: float


class InceptionV3:
    """InceptionV3 with folded batch norm, for activations and DeepDream gradients.

    ``weights``: None for the shipped weights (TensorFlow's 2015-12-05 release, through mixed8),
    a path to a converted file (see :mod:`deepdream.weights`), or a dict as returned by
    :func:`deepdream.weights.load`. ``threads``: None for $DEEPDREAM_THREADS or all cores.

    >>> model = InceptionV3()
    >>> x = preprocess(photo)                        # float32 (H, W, 3) in [-1, 1]
    >>> acts = model.activations(x, ["mixed3"])      # {"mixed3": (h, w, 768) float32}
    >>> loss, grad = model.loss_and_gradient(x, ["mixed3", "mixed5"])
    """

    def __init__(self, weights: str | os.PathLike | Mapping | None = None,
                 threads: int | None = None) -> None:
        if weights is None or isinstance(weights, (str, os.PathLike)):
            weights = _weights.load(weights)
        if not isinstance(weights, Mapping):
            raise TypeError("weights must be None, a path to a converted weights file, or a dict "
                            f"from deepdream.weights.load(); got {type(weights).__name__}")
        self.weights: dict[str, tuple[np.ndarray, np.ndarray]] = dict(weights)
        for name, pair in self.weights.items():  # NaN/Inf weights would make every gradient NaN
            if (isinstance(pair, tuple) and all(isinstance(a, np.ndarray) and a.dtype.kind == "f" for a in pair)
                    and not all(np.isfinite(a).all() for a in pair)):
                raise ValueError(f"weights {name} hold NaN or Inf values")
        #: Threads every computation of this model uses (results are identical for any count).
        self.threads: int = default_threads() if threads is None else check_threads(threads)
        convs = [self.weights.get(f"conv2d_{i}") for i in range(1, 95)]
        self._net = _deepdream.Network(convs)
        #: The layers these weights can compute.
        self.available_layers: tuple[str, ...] = tuple(
            name for i, name in enumerate(LAYER_NAMES) if self._net.can_compute(i))

    def min_size(self, layers: Iterable[str] | str) -> int:
        """The smallest image side that reaches the deepest of ``layers``.

        >>> InceptionV3().min_size(["mixed3", "mixed5"])
        """
        return self._net.min_side(max(layer_indices(layers)))

    def activations(self, x: np.ndarray, layers: Iterable[str] | str) -> dict[str, np.ndarray]:
        """Activations of the named layers for a preprocessed image.

        >>> model.activations(preprocess(photo), ["mixed3", "mixed5"])["mixed5"].shape
        (h, w, 768)
        """
        blocks = self._blocks(layers)
        out = self._net.activations(check_image(x), blocks, check_threads(self.threads))
        return {LAYER_NAMES[b]: out[b] for b in blocks}

    def loss_and_gradient(self, x: np.ndarray, layers: Iterable[str] | str) -> tuple[float, np.ndarray]:
        """The tutorial's loss (mean activation of each layer, summed) and d loss / d x.

        >>> loss, grad = model.loss_and_gradient(preprocess(photo), ["mixed3", "mixed5"])
        >>> grad.shape == x.shape
        True
        """
        return self._net.loss_and_gradient(check_image(x), self._blocks(layers), check_threads(self.threads))

    def profile(self, x: np.ndarray, layers: Iterable[str] | str, repeats: int = 1) -> list[OpTime]:
        """Wall time of every op of ``repeats`` forward + backward passes (a loss_and_gradient
        each), in forward order, summed over the repeats.

        >>> ops = model.profile(preprocess(photo), ["mixed3", "mixed5"], repeats=5)
        >>> max(ops, key=lambda op: op.forward_s + op.backward_s).name
        'conv2d_5'
        """
        if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= 1000:
            raise ValueError(f"repeats must be an int from 1 to 1000, got {repeats!r}")
        table = _deepdream.conv_table()
        ops = []
        pools = {"maxpool": 0, "avgpool": 0}
        for kind, conv, out, forward_s, backward_s in self._net.profile(
                check_image(x), self._blocks(layers), repeats, check_threads(self.threads)):
            if kind == "conv":
                kh, kw, cin, cout, stride, padding = table[conv - 1]
                name, shape = f"conv2d_{conv}", f"{kh}x{kw}/{stride} {cin}->{cout}"
                macs = out[0] * out[1] * kh * kw * cin * cout
            else:
                pools[kind] += 1
                keras = "max_pooling2d" if kind == "maxpool" else "average_pooling2d"
                name, shape, macs = f"{keras}_{pools[kind]}", f"3x3/{1 if kind == 'avgpool' else 2}", 0
            ops.append(OpTime(name, kind, shape, out, macs, forward_s, backward_s))
        return ops

    def _blocks(self, layers: Iterable[str] | str) -> list[int]:
        blocks = layer_indices(layers)
        for b in blocks:
            if LAYER_NAMES[b] not in self.available_layers:
                missing = ", ".join(f"conv2d_{n}" for n in self._net.missing())
                raise ValueError(
                    f"{LAYER_NAMES[b]} cannot be computed with these weights (missing kernels: "
                    f"{missing}); they serve {', '.join(self.available_layers)}. For mixed9/mixed10 "
                    "use Keras' weights: InceptionV3(deepdream.weights.fetch_keras_weights()) or "
                    "deepdream.weights.convert_keras_h5()")
        return blocks
