"""A loop of dreams and passes, good and failing, for LeakSanitizer (.ci/sanitize) or valgrind:
every buffer the extension allocates must be freed, on success and on every error path."""
import numpy as np

import deepdream
from deepdream import _deepdream as core

model = deepdream.InceptionV3()
net = model._net
img = np.random.default_rng(0).integers(0, 256, (90, 90, 3), dtype=np.uint8)
x = deepdream.preprocess(img)
sizes = np.array([[80, 80], [90, 90]], np.int32)


def fails(call):
    try:
        call()
    except (ValueError, TypeError, OverflowError, RuntimeError, ZeroDivisionError):
        return
    raise AssertionError("expected an exception")


for _ in range(3):
    model.loss_and_gradient(x, ["mixed3"])
    model.activations(x, ["mixed2", "mixed4"])
    deepdream.dream(img, model=model, octaves=[-1, 0], steps_per_octave=1, tile_size=512, progress=False, seed=0)
    net.dream(x, [0], sizes, 2, 0.01, 64, True, None, 0, lambda *a: True)  # stopped early
    core.conv2d(x, np.ones((3, 3, 3, 4), np.float32), np.ones(4, np.float32), 2, False)
    out, am = core.maxpool(x, 3, 2, False)
    core.maxpool_backward(out, am, (90, 90), 3, 2, False)
    core.avgpool_backward(core.avgpool(x, 3, 1, True), (90, 90), 3, 1, True)
    core.resize_bilinear(x, (33, 47))
    core.tile_bounds(90, 64, True)
    core.shifts_from_seed(5, 64, 1)
    core.Network([None] * 94)
    fails(lambda: net.dream(x, [0], sizes, 1, 0.01, 64, True, np.zeros((1, 2), np.int32), 0, None))
    fails(lambda: net.dream(x, [0], sizes, 2, 0.01, 64, True, None, 0, lambda *a: 1 / 0))
    fails(lambda: net.dream(np.full((9, 9, 3), np.nan, np.float32), [0], sizes, 1, 0.01, 64, True, None, 0, None))
    fails(lambda: net.loss_and_gradient(x[:10, :10], [3]))
    fails(lambda: net.activations(x, [0, 11]))
    fails(lambda: core.Network([(np.zeros(3, np.float32), np.zeros(3, np.float32))] + [None] * 93))
    fails(lambda: core.Network(["x"] + [None] * 93))
    fails(lambda: core.conv2d(x, np.ones((3, 3, 2, 4), np.float32), np.ones(4, np.float32), 1, True))
    fails(lambda: core.conv2d_backward(np.zeros((7, 7, 4)), np.zeros((7, 7, 4)), np.zeros((3, 3, 3, 4)), (9, 8), 1, False))
    fails(lambda: core.maxpool_backward(out, am + 100, (90, 90), 3, 2, False))
    fails(lambda: core.resize_bilinear(x, (0, 5)))
print("leak loop done")
