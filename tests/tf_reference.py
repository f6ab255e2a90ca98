"""TensorFlow ground truth for tests and benchmarks.

Keras' InceptionV3 carrying deepdream's folded weights, and the TensorFlow DeepDream tutorial's
algorithm (tensorflow/docs, site/en/tutorials/generative/deepdream.ipynb) in TensorFlow ops, with
the random roll shifts passed in so that another implementation can be fed the same ones.

    >>> import tf_reference
    >>> model = tf_reference.keras_inception_v3(deepdream.weights.load())
    >>> loss, grad = tf_reference.loss_and_gradient(model, img, ["mixed3", "mixed5"])
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Iterable, Sequence

import keras
import numpy as np
import tensorflow as tf

from deepdream.weights import BN_EPSILON, CONV_LAYERS

Weights = dict[str, tuple[np.ndarray, np.ndarray]]


def _creation_index(layer: keras.layers.Layer) -> int:
    # Keras auto-names layers conv2d, conv2d_1, ... in creation order (model.layers is in a
    # different, topological order); creation order is CONV_LAYERS' order.
    number = re.fullmatch(r"(?:conv2d|batch_normalization)(?:_(\d+))?", layer.name).group(1)
    return int(number or 0)


def conv_bn_layers(model: keras.Model) -> list[tuple[keras.layers.Conv2D, keras.layers.BatchNormalization]]:
    """A Keras InceptionV3's (Conv2D, BatchNormalization) pairs in CONV_LAYERS order, shapes checked.

        >>> conv, norm = conv_bn_layers(model)[0]    # conv2d_1 of the table
    """
    convs = sorted((l for l in model.layers if isinstance(l, keras.layers.Conv2D)), key=_creation_index)
    norms = sorted((l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)),
                   key=_creation_index)
    for spec, conv, norm in zip(CONV_LAYERS, convs, norms, strict=True):
        assert tuple(conv.kernel.shape) == spec.kernel_shape, (spec, conv.name, conv.kernel.shape)
        assert tuple(norm.beta.shape) == (spec.cout,), (spec, norm.name, norm.beta.shape)
    return list(zip(convs, norms))


def keras_inception_v3(weights: Weights) -> keras.Model:
    """Keras InceptionV3 (no top, any input size) computing relu(conv(x, kernel) + bias) per layer.

        >>> model = keras_inception_v3(deepdream.weights.load())
        >>> model.missing_layers            # shipped weights: zeros in these
        ('conv2d_82', 'conv2d_91')

    Each BatchNormalization becomes exactly "+ beta": moving mean 0 and moving variance
    1 - epsilon, whose sum with epsilon is exactly 1 in the model's float type. Layers absent
    from ``weights`` get zeros and are listed in ``model.missing_layers``.
    """
    model = keras.applications.InceptionV3(include_top=False, weights=None, input_shape=(None, None, 3))
    missing = []
    for spec, (conv, norm) in zip(CONV_LAYERS, conv_bn_layers(model)):
        if spec.name in weights:
            kernel, bias = weights[spec.name]
        else:
            missing.append(spec.name)
            kernel, bias = np.zeros(spec.kernel_shape, np.float32), np.zeros(spec.cout, np.float32)
        conv.kernel.assign(kernel)
        norm.beta.assign(bias)
        norm.moving_mean.assign(np.zeros(spec.cout, np.float32))
        dtype = np.dtype(norm.moving_variance.dtype).type  # float32, or float64 under that policy
        unit_variance = dtype(1) - dtype(BN_EPSILON)
        assert unit_variance + dtype(BN_EPSILON) == 1
        norm.moving_variance.assign(np.full(spec.cout, unit_variance))
    model.missing_layers = tuple(missing)
    return model


def random_weights(seed: int) -> Weights:
    """All 94 layers: He-normal kernels, small biases; activations stay O(1) through mixed10.

        >>> model = keras_inception_v3(random_weights(0))
    """
    rng = np.random.default_rng(seed)
    weights = {}
    for spec in CONV_LAYERS:
        he_std = math.sqrt(2.0 / (spec.kh * spec.kw * spec.cin))
        kernel = rng.normal(0.0, he_std, spec.kernel_shape).astype(np.float32)
        bias = rng.normal(0.0, 0.05, spec.cout).astype(np.float32)
        weights[spec.name] = (kernel, bias)
    return weights


_compiled_cache: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _compiled(model: keras.Model, layer_names: Sequence[str]):
    """(forward, loss_and_gradient) tf.functions on one (H, W, 3) image, built once per model and layers."""
    per_model = _compiled_cache.setdefault(model, {})
    key = tuple(layer_names)
    if key not in per_model:
        dream_model = keras.Model(inputs=model.input, outputs=[model.get_layer(n).output for n in key])
        image_spec = [tf.TensorSpec(shape=[None, None, 3], dtype=tf.float32)]

        @tf.function(input_signature=image_spec)
        def forward(img):
            return tf.nest.flatten(dream_model(tf.expand_dims(img, axis=0)))  # one layer: a bare tensor

        @tf.function(input_signature=image_spec)
        def loss_and_grad(img):
            # The tutorial's calc_loss: mean of each chosen layer, summed.
            with tf.GradientTape() as tape:
                tape.watch(img)
                activations = tf.nest.flatten(dream_model(tf.expand_dims(img, axis=0)))
                loss = tf.reduce_sum([tf.math.reduce_mean(act) for act in activations])
            return loss, tape.gradient(loss, img)

        per_model[key] = (forward, loss_and_grad)
    return per_model[key]


def activations(model: keras.Model, x: np.ndarray, layer_names: Sequence[str]) -> dict[str, np.ndarray]:
    """{layer name: activation (h, w, c)} of a float32 (H, W, 3) image.

        >>> activations(model, img, ["mixed0", "mixed5"])["mixed5"].shape
    """
    forward, _ = _compiled(model, layer_names)
    outputs = forward(tf.convert_to_tensor(x, tf.float32))
    return {name: out[0].numpy() for name, out in zip(layer_names, outputs, strict=True)}


def loss_and_gradient(model: keras.Model, x: np.ndarray, layer_names: Sequence[str]) -> tuple[float, np.ndarray]:
    """Sum over layers of mean(activation), and its gradient with respect to the (H, W, 3) image.

        >>> loss, grad = loss_and_gradient(model, img, ["mixed3", "mixed5"])
    """
    _, loss_and_grad = _compiled(model, layer_names)
    loss, grad = loss_and_grad(tf.convert_to_tensor(x, tf.float32))
    return float(loss), grad.numpy()


def _tile_spans(length: int, tile_size: int, policy: str) -> list[tuple[int, int]]:
    if policy == "tutorial":  # skip the last tile, unless there's only one tile
        starts = list(range(0, length, tile_size))[:-1] or [0]
        return [(start, min(start + tile_size, length)) for start in starts]
    if policy == "cover":  # n near-equal tiles covering every pixel
        n = max(1, math.ceil(length / tile_size))
        bounds = [i * length // n for i in range(n + 1)]
        return list(zip(bounds[:-1], bounds[1:]))
    raise ValueError(f"policy must be 'tutorial' or 'cover', got {policy!r}")


def tiled_gradients(model: keras.Model, layer_names: Sequence[str], img: np.ndarray | tf.Tensor,
                    shift: tuple[int, int], tile_size: int = 512, policy: str = "tutorial") -> np.ndarray:
    """The tutorial's TiledGradients with a given roll shift (dy, dx) instead of a random one.

        >>> g = tiled_gradients(model, ["mixed3", "mixed5"], img, shift=(-100, 37))

    Roll, one mean loss per tile, gradients summed, rolled back, divided by std + 1e-8.
    """
    img = tf.convert_to_tensor(img, tf.float32)
    height, width = img.shape[0], img.shape[1]
    _, loss_and_grad = _compiled(model, layer_names)
    img_rolled = tf.roll(img, shift=list(shift), axis=[0, 1])
    gradients = tf.zeros_like(img_rolled)
    for x0, x1 in _tile_spans(width, tile_size, policy):
        for y0, y1 in _tile_spans(height, tile_size, policy):
            _, tile_gradient = loss_and_grad(img_rolled[y0:y1, x0:x1])
            gradients += tf.pad(tile_gradient, [[y0, height - y1], [x0, width - x1], [0, 0]])
    gradients = tf.roll(gradients, shift=[-shift[0], -shift[1]], axis=[0, 1])
    gradients /= tf.math.reduce_std(gradients) + 1e-8
    return gradients.numpy()


def run_deep_dream_with_octaves(model: keras.Model, img_uint8: np.ndarray, layer_names: Sequence[str],
                                steps_per_octave: int, step_size: float, octaves: Iterable[int],
                                octave_scale: float, shifts: Sequence[tuple[int, int]],
                                tile_size: int = 512, policy: str = "tutorial") -> np.ndarray:
    """The tutorial's run_deep_dream_with_octaves, returning the float32 image in [-1, 1] before deprocess.

        >>> img = run_deep_dream_with_octaves(model, photo, ["mixed3", "mixed5"], 100, 0.01,
        ...                                   range(-2, 3), 1.3, shifts)   # 500 (dy, dx) pairs

    ``shifts`` holds one roll (dy, dx) per step, all octaves in order.
    """
    octaves = list(octaves)
    if len(shifts) != steps_per_octave * len(octaves):
        raise ValueError(f"need {steps_per_octave * len(octaves)} shifts, got {len(shifts)}")
    base_shape = tf.shape(img_uint8)[:-1]
    img = keras.applications.inception_v3.preprocess_input(np.array(img_uint8, dtype=np.float32))
    img = tf.image.resize(img, img.shape[:-1])  # as the tutorial does (same size)
    steps = iter(shifts)
    for octave in octaves:
        new_size = tf.cast(tf.cast(base_shape, tf.float32) * (octave_scale ** octave), tf.int32)
        img = tf.image.resize(img, new_size)
        for _ in range(steps_per_octave):
            gradients = tiled_gradients(model, layer_names, img, next(steps), tile_size, policy)
            img = img + gradients * step_size
            img = tf.clip_by_value(img, -1, 1)
    return img.numpy()


def run_deep_dream_simple(model: keras.Model, img_float: np.ndarray, layer_names: Sequence[str],
                          steps: int, step_size: float) -> tuple[np.ndarray, list[float]]:
    """The tutorial's untiled DeepDream steps on a preprocessed image; returns (image, loss per step).

        >>> img, losses = run_deep_dream_simple(model, preprocess(photo), ["mixed3", "mixed5"], 100, 0.01)
    """
    _, loss_and_grad = _compiled(model, layer_names)
    img = tf.convert_to_tensor(img_float, tf.float32)
    losses = []
    for _ in range(steps):
        loss, gradients = loss_and_grad(img)
        gradients /= tf.math.reduce_std(gradients) + 1e-8
        img = img + gradients * step_size
        img = tf.clip_by_value(img, -1, 1)
        losses.append(float(loss))
    return img.numpy(), losses


def deprocess(img: np.ndarray | tf.Tensor) -> np.ndarray:
    """The tutorial's deprocess: uint8(255 * (img + 1) / 2), truncating."""
    img = 255 * (tf.convert_to_tensor(img, tf.float32) + 1.0) / 2.0
    return tf.cast(img, tf.uint8).numpy()
