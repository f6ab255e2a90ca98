"""The dream engine (csrc/dream.c, resize.c) and deepdream.dream / deepdream.tutorial."""
import _thread
import threading
import time

import numpy as np
import pytest
from PIL import Image

import deepdream
from deepdream import _deepdream
from deepdream.dream import octave_sizes, run

LAYERS = ["mixed3", "mixed5"]


@pytest.fixture(scope="module")
def model():
    return deepdream.InceptionV3()


def photo(h, w):
    img = Image.open(__import__("pathlib").Path(__file__).parent / "data" / "chelsea_crop.png")
    return np.asarray(img.convert("RGB").resize((w, h), Image.BILINEAR))


def engine(model, img, *, octaves, steps, tiles, tile_size, shifts=None, seed=0, callback=None):
    """deepdream's float32 result at the last octave's size (before deprocess)."""
    sizes = octave_sizes(img.shape[:2], octaves, 1.3)
    return run(deepdream.preprocess(img), layers=LAYERS, sizes=sizes, steps=steps, step_size=0.01,
               tile_size=tile_size, tiles=tiles, seed=seed, shifts=shifts, progress=False,
               callback=callback, model=model, octaves=list(octaves))


# ---- against TensorFlow: the tutorial's algorithm in TF ops, fed the very same shifts ----
#
# Two float32 implementations of InceptionV3 resolve a few max-pool ties and ReLUs at 0
# differently (TensorFlow's float32 against its own float64 as well: see test_model.py). A step
# then differs in a small blob, and DeepDream's ascent is chaotic: the next steps spread the
# difference. So the loop is compared in two ways: step by step from the same image (every
# step, every octave, several tiles), and whole runs on inputs where no such kink occurs.

PARITY_CASES = [
    # (h, w, octaves, steps, tile_size, tiles): several tiles per step in every case
    (150, 200, range(-1, 2), 2, 128, "tutorial"),
    (150, 200, range(-1, 2), 2, 128, "cover"),
    (120, 1100, range(0, 1), 2, 512, "tutorial"),  # > 1024 px: two real 512 tiles per step
    (120, 1100, range(-1, 1), 2, 512, "cover"),
]


@pytest.fixture(scope="module")
def keras_model(model):
    import tf_reference

    return tf_reference.keras_inception_v3(model.weights)


@pytest.mark.parity
@pytest.mark.parametrize("h,w,octaves,steps,tile_size,tiles", PARITY_CASES)
def test_every_step_matches_the_tutorial_in_tensorflow(model, keras_model, h, w, octaves, steps,
                                                       tile_size, tiles):
    import tensorflow as tf
    import tf_reference

    img = photo(h, w)
    sizes = octave_sizes(img.shape[:2], octaves, 1.3)
    shifts = np.random.default_rng(h + w).integers(-tile_size, tile_size, (steps * len(sizes), 2))
    states = []
    final = engine(model, img, octaves=octaves, steps=steps, tiles=tiles, tile_size=tile_size,
                   shifts=shifts, callback=lambda s: states.append((s.octave_index, s.step, s.array)))
    assert len(states) == steps * len(sizes)
    np.testing.assert_array_equal(final, states[-1][2])
    before = deepdream.preprocess(img)
    for (octave_index, step, ours), shift in zip(states, shifts.tolist()):
        if step == 1:  # the tutorial resizes at the start of each octave
            before = tf.image.resize(before, sizes[octave_index]).numpy()
        g = tf_reference.tiled_gradients(keras_model, LAYERS, before, tuple(shift), tile_size, tiles)
        expected = tf.clip_by_value(before + g * 0.01, -1, 1).numpy()
        diff = np.abs(ours - expected)
        assert (diff <= 1e-3).mean() >= 0.995, f"octave {octave_index} step {step}"
        assert diff.max() <= 0.05, f"octave {octave_index} step {step}: {diff.max()}"
        assert np.abs(ours - before).max() > 5e-3  # the step did move the image
        before = ours


# Whole runs where float32 rounding resolves every kink alike here (found by trying; max abs
# difference measured ~6e-8): the bounds, end to end through octaves and tiles.
@pytest.mark.parity
@pytest.mark.parametrize("h,w,octaves,steps,tile_size,tiles", [
    (150, 200, range(0, 1), 1, 128, "tutorial"),
    (150, 200, range(0, 1), 1, 128, "cover"),
])
def test_whole_run_matches_the_tutorial_in_tensorflow(model, keras_model, h, w, octaves, steps,
                                                      tile_size, tiles):
    import tf_reference

    img = photo(h, w)
    n = steps * len(octaves)
    shifts = np.random.default_rng(h + w).integers(-tile_size, tile_size, (n, 2)).astype(np.int32)
    ours = engine(model, img, octaves=octaves, steps=steps, tiles=tiles, tile_size=tile_size,
                  shifts=shifts)
    ref = tf_reference.run_deep_dream_with_octaves(
        keras_model, img, LAYERS, steps, 0.01, octaves, 1.3, [tuple(s) for s in shifts.tolist()],
        tile_size=tile_size, policy=tiles)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() <= 1e-3
    assert np.abs(ours - deepdream.preprocess(img)).max() > 5e-3  # it did dream
    a = deepdream.deprocess(ours).astype(int)
    b = tf_reference.deprocess(ref).astype(int)
    assert (np.abs(a - b) <= 1).mean() >= 0.999


@pytest.mark.parity
def test_simple_mirror_matches_the_tutorial(model, keras_model):
    import tf_reference

    img = photo(100, 130)
    ref, _ = tf_reference.run_deep_dream_simple(keras_model, deepdream.preprocess(img), LAYERS, 3, 0.01)
    ours = deepdream.tutorial.run_deep_dream_simple(img, steps=3, model=model, progress=False)
    diff = np.abs(ours.astype(int) - tf_reference.deprocess(ref).astype(int))
    assert (diff <= 1).mean() >= 0.99  # up to kink blobs (see above)
    assert diff.max() <= 16


@pytest.mark.parity
@pytest.mark.parametrize("src,dst", [((37, 51), (48, 66)), ((48, 66), (37, 51)), ((412, 500), (243, 295)),
                                     ((243, 295), (316, 384)), ((10, 10), (10, 10)), ((5, 7), (1, 1))])
def test_resize_matches_tf_image_resize(src, dst):
    import tensorflow as tf

    x = np.random.default_rng(src[0]).uniform(-1, 1, src + (3,)).astype(np.float32)
    ref = tf.image.resize(x, dst).numpy()
    np.testing.assert_allclose(_deepdream.resize_bilinear(x, dst), ref, rtol=0, atol=2e-7)


@pytest.mark.parity
def test_octave_sizes_match_the_tutorials_arithmetic():
    import tensorflow as tf

    for shape in [(412, 500), (300, 451), (1, 1), (4000, 3000), (77, 999)]:
        expected = [tuple(tf.cast(tf.cast(tf.constant(shape), tf.float32) * (1.3 ** n), tf.int32).numpy())
                    for n in range(-3, 4)]
        assert octave_sizes(shape, range(-3, 4), 1.3) == [tuple(map(int, e)) for e in expected]


def test_octave_sizes_of_the_tutorials_image():
    assert octave_sizes((412, 500), range(-2, 3), 1.3) == [
        (243, 295), (316, 384), (412, 500), (535, 650), (696, 845)]


# ---- behaviour ----

def test_loss_rises_over_the_steps(model):
    losses = []
    engine(model, photo(120, 160), octaves=[0], steps=8, tiles="cover", tile_size=512,
           callback=lambda s: losses.append(s.loss))
    assert len(losses) == 8
    assert losses[-1] > losses[0] * 1.1


def test_same_seed_same_bytes_other_seed_differs(model):
    img = photo(100, 140)
    kw = dict(octaves=range(-1, 1), steps_per_octave=2, progress=False, model=model, tile_size=128)
    a = deepdream.dream(img, seed=5, **kw)
    b = deepdream.dream(img, seed=5, **kw)
    c = deepdream.dream(img, seed=6, **kw)
    assert a.shape == img.shape and a.dtype == np.uint8
    assert a.tobytes() == b.tobytes()
    assert a.tobytes() != c.tobytes()


def test_seeded_shifts_are_fixed_numbers():
    # the generator is ours (splitmix64): the same numbers on every machine and every run
    s = _deepdream.shifts_from_seed(4, 512, 0)
    assert s.dtype == np.int32 and s.shape == (4, 2)
    assert (s >= -512).all() and (s < 512).all()
    np.testing.assert_array_equal(s, _deepdream.shifts_from_seed(4, 512, 0))
    assert not np.array_equal(s, _deepdream.shifts_from_seed(4, 512, 1))


def test_explicit_shifts_equal_the_seeded_run(model):
    img = photo(90, 120)
    shifts = _deepdream.shifts_from_seed(3, 512, 42)
    a = engine(model, img, octaves=[0], steps=3, tiles="cover", tile_size=512, seed=42)
    b = engine(model, img, octaves=[0], steps=3, tiles="cover", tile_size=512, shifts=shifts, seed=1)
    np.testing.assert_array_equal(a, b)


def test_constant_image_gives_finite_output(model):
    img = np.full((96, 96, 3), 128, np.uint8)
    out = engine(model, img, octaves=[0], steps=2, tiles="cover", tile_size=512)
    assert np.isfinite(out).all()
    black = engine(model, np.zeros((96, 96, 3), np.uint8), octaves=[0], steps=2, tiles="cover",
                   tile_size=512)
    assert np.isfinite(black).all() and black.min() >= -1 and black.max() <= 1


def test_callback_sees_each_step_and_can_stop(model):
    seen = []

    def callback(step):
        seen.append((step.octave, step.step, step.image.shape, step.image.dtype))
        return len(seen) == 3

    out = deepdream.dream(photo(100, 120), octaves=range(-1, 2), steps_per_octave=2, progress=False,
                          model=model, seed=0, callback=callback)
    assert seen == [(-1, 1, (76, 92, 3), np.uint8), (-1, 2, (76, 92, 3), np.uint8),
                    (0, 1, (100, 120, 3), np.uint8)]
    assert out.shape == (100, 120, 3)


def test_ctrl_c_stops_a_long_dream_and_the_next_one_works(model):
    img = photo(200, 260)
    timer = threading.Timer(1.0, _thread.interrupt_main)
    start = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        deepdream.dream(img, steps_per_octave=1000, progress=False, model=model, seed=0)
    elapsed = time.monotonic() - start
    timer.join()
    assert elapsed < 1.0 + 5.0  # within one step of the signal (a step here is ~0.5 s)
    out = deepdream.dream(img, octaves=[0], steps_per_octave=1, progress=False, model=model, seed=0)
    assert out.shape == img.shape


def test_grey_rgba_and_pil_inputs(model):
    rgb = photo(80, 90)
    kw = dict(octaves=[0], steps_per_octave=1, progress=False, model=model, seed=0)
    grey = rgb[:, :, 0]
    assert deepdream.dream(grey, **kw).shape == (80, 90, 3)
    rgba = np.dstack([rgb, np.full((80, 90), 255, np.uint8)])
    assert deepdream.dream(rgba, **kw).tobytes() == deepdream.dream(rgb, **kw).tobytes()
    assert deepdream.dream(Image.fromarray(rgb), **kw).tobytes() == deepdream.dream(rgb, **kw).tobytes()


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(layers=["mixed42"]), ValueError, "unknown layer"),
    (dict(layers=["mixed9"]), ValueError, "cannot be computed"),
    (dict(octaves=[]), ValueError, "octaves is empty"),
    (dict(octaves=[0.5]), TypeError, "integers"),
    (dict(steps_per_octave=0), ValueError, "steps_per_octave must be positive"),
    (dict(steps_per_octave=1.5), TypeError, "steps_per_octave must be a positive int"),
    (dict(step_size=-0.01), ValueError, "step_size must be positive"),
    (dict(step_size=float("nan")), ValueError, "step_size must be positive"),
    (dict(tile_size=0), ValueError, "tile_size must be positive"),
    (dict(tile_size=50), ValueError, "tile_size 50 is too small"),
    (dict(octave_scale=0), ValueError, "octave_scale must be positive"),
    (dict(tiles="grid"), ValueError, "tiles must be one of"),
    (dict(shifts=[(1, 2)]), ValueError, "shifts holds 1"),
    (dict(shifts=[(1.5, 2.0)]), ValueError, "integer"),
    (dict(seed=-1), ValueError, "seed must be"),
    (dict(octaves=range(-9, 1)), ValueError, "too small for mixed5"),
    (dict(callback=3), TypeError, "callback must be callable"),
])
def test_bad_arguments(model, kwargs, error, message):
    with pytest.raises(error, match=message):
        deepdream.dream(photo(100, 100), model=model, progress=False, **{"steps_per_octave": 1, **kwargs})


@pytest.mark.parametrize("img,error,message", [
    (np.zeros((50, 50, 3), np.float32), TypeError, "dtype uint8"),
    (np.zeros((50, 50, 2), np.uint8), ValueError, "must have shape"),
    (np.zeros((0, 50, 3), np.uint8), ValueError, "empty"),
    ("photo.jpg", TypeError, "numpy array"),
])
def test_bad_images(model, img, error, message):
    with pytest.raises(error, match=message):
        deepdream.dream(img, model=model, progress=False)


def test_dream_is_identical_for_any_thread_count(model):
    img = photo(120, 150)
    kw = dict(octaves=range(-1, 1), steps_per_octave=2, progress=False, model=model, seed=3, tile_size=128)
    outs = [deepdream.dream(img, threads=t, **kw) for t in (1, 2)]
    assert outs[0].tobytes() == outs[1].tobytes()


def test_in_place_deprocess_is_deprocess():
    from deepdream.dream import deprocess_in_place

    x = np.random.default_rng(0).uniform(-1.2, 1.2, (50, 60, 3)).astype(np.float32)
    expected = deepdream.deprocess(x)
    got = deprocess_in_place(x)
    assert got is x
    np.testing.assert_array_equal(got.astype(np.uint8), expected)
