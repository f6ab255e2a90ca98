"""deepdream.InceptionV3's Python surface: names, sizes, errors (no TensorFlow needed)."""
import numpy as np
import pytest

import deepdream
from deepdream import _deepdream


@pytest.fixture(scope="module")
def model():
    return deepdream.InceptionV3()


def test_shipped_weights_serve_mixed0_to_mixed8(model):
    assert model.available_layers == tuple(f"mixed{i}" for i in range(9))


def test_mixed9_and_mixed10_need_complete_weights(model):
    x = np.zeros((160, 160, 3), np.float32)
    for layer in ("mixed9", "mixed10"):
        with pytest.raises(ValueError, match=r"conv2d_82.*fetch_keras_weights"):
            model.activations(x, [layer])
        with pytest.raises(ValueError, match="cannot be computed"):
            model.loss_and_gradient(x, ["mixed3", layer])


def test_conv_table_matches_the_weights_table():
    table = _deepdream.conv_table()
    assert len(table) == len(deepdream.weights.CONV_LAYERS) == 94
    for (kh, kw, cin, cout, stride, padding), spec in zip(table, deepdream.weights.CONV_LAYERS):
        assert (kh, kw, cin, cout) == spec.kernel_shape + () and (stride, padding) == (spec.stride, spec.padding)


def test_output_shapes_follow_keras(model):
    acts = model.activations(np.zeros((299, 299, 3), np.float32), ["mixed0", "mixed3", "mixed8"])
    assert {k: v.shape for k, v in acts.items()} == {
        "mixed0": (35, 35, 256), "mixed3": (17, 17, 768), "mixed8": (8, 8, 1280)}


def test_too_small_input_names_the_minimum(model):
    side = model.min_size(["mixed5"])
    x = np.zeros((side, side, 3), np.float32)
    model.loss_and_gradient(x, ["mixed5"])
    with pytest.raises(ValueError, match=f"too small for mixed5: it needs at least {side}x{side}"):
        model.loss_and_gradient(x[:-1], ["mixed5"])


@pytest.mark.parametrize("layers,message", [
    (["mixed11"], "unknown layer 'mixed11'"),
    (["mixed3", "mixed3"], "listed twice"),
    ([], "layers is empty"),
    ([3], "unknown layer 3"),
])
def test_bad_layer_names(model, layers, message):
    with pytest.raises(ValueError, match=message):
        model.activations(np.zeros((99, 99, 3), np.float32), layers)


@pytest.mark.parametrize("x,error,message", [
    (np.zeros((99, 99, 3), np.uint8), TypeError, "float array"),
    (np.zeros((99, 99), np.float32), ValueError, r"shape \(H, W, 3\)"),
    (np.zeros((99, 99, 4), np.float32), ValueError, r"shape \(H, W, 3\)"),
    (np.zeros((0, 99, 3), np.float32), ValueError, "empty"),
    (np.full((99, 99, 3), np.nan, np.float32), ValueError, "NaN or Inf"),
    ([[0.0]], TypeError, "numpy array"),
])
def test_bad_images(model, x, error, message):
    with pytest.raises(error, match=message):
        model.loss_and_gradient(x, ["mixed3"])


def test_views_give_the_result_of_a_contiguous_copy(model):
    rng = np.random.default_rng(0)
    big = rng.uniform(-1, 1, (240, 260, 3)).astype(np.float32)
    view = big[::-1, 10:250][20:, :, :]
    view.flags.writeable = False
    loss_v, grad_v = model.loss_and_gradient(view, ["mixed3"])
    loss_c, grad_c = model.loss_and_gradient(np.ascontiguousarray(view), ["mixed3"])
    assert loss_v == loss_c
    np.testing.assert_array_equal(grad_v, grad_c)
    f64 = model.loss_and_gradient(view.astype(np.float64), ["mixed3"])
    assert f64[0] == loss_c


def test_gradient_matches_finite_differences_of_the_loss(model):
    # The whole network end to end, float32: a directional derivative along a random direction.
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (96, 96, 3)).astype(np.float32)
    _, grad = model.loss_and_gradient(x, ["mixed3"])
    d = rng.normal(size=x.shape).astype(np.float32)
    d /= np.linalg.norm(d)
    eps = 1e-2
    lp, _ = model.loss_and_gradient(x + eps * d, ["mixed3"])
    lm, _ = model.loss_and_gradient(x - eps * d, ["mixed3"])
    fd = (lp - lm) / (2 * eps)
    assert float((grad * d).sum()) == pytest.approx(fd, rel=2e-2)


def random_complete_weights(seed):
    """Every conv of the table, mixed9/10 included, with random He-scaled kernels."""
    rng = np.random.default_rng(seed)
    return {f"conv2d_{i}": ((rng.normal(0, 1, (kh, kw, cin, cout)) * np.sqrt(2 / (kh * kw * cin))).astype(np.float32),
                            rng.normal(0, 0.1, cout).astype(np.float32))
            for i, (kh, kw, cin, cout, _, _) in enumerate(_deepdream.conv_table(), start=1)}


def assert_same_for_1_2_3_threads(h, w, layers, weights=None):
    x = np.random.default_rng(4).uniform(-1, 1, (h, w, 3)).astype(np.float32)
    results = [deepdream.InceptionV3(weights, threads=t).loss_and_gradient(x, layers) for t in (1, 2, 3)]
    for loss, grad in results[1:]:
        assert loss == results[0][0]
        np.testing.assert_array_equal(grad, results[0][1])


# Sizes where a thread's share of a layer is a few pixels or tiles (mixed5..mixed10 at 3x3 to
# 5x5): OpenBLAS computes a row differently in a call of a handful of rows, which the core must
# never make depend on the thread count (conv2d_gemm_threads).
@pytest.mark.parametrize("h,w,layers,weights", [
    (157, 263, ["mixed3", "mixed5"], None), (75, 75, ["mixed5"], None), (75, 75, ["mixed8"], None),
    (139, 201, ["mixed10"], 11), (187, 163, ["mixed9", "mixed10"], 11)])
def test_results_are_identical_for_any_thread_count(h, w, layers, weights):
    assert_same_for_1_2_3_threads(h, w, layers, None if weights is None else random_complete_weights(weights))


def test_results_are_identical_for_any_thread_count_on_openblas_alone():
    """The same with the convs' forward GEMM on OpenBLAS (machines without AVX-512F)."""
    before = _deepdream.gemm_kernel()
    _deepdream.gemm_kernel("openblas")
    try:
        assert_same_for_1_2_3_threads(75, 75, ["mixed5"])
    finally:
        _deepdream.gemm_kernel(before)


@pytest.mark.parametrize("threads", [0, -1, 2000, 1.5, "two"])
def test_bad_thread_counts(threads):
    with pytest.raises((TypeError, ValueError), match="threads"):
        deepdream.InceptionV3(threads=threads)


def test_profile_times_every_op_of_the_pass(model):
    x = np.random.default_rng(3).uniform(-1, 1, (160, 160, 3)).astype(np.float32)
    ops = model.profile(x, ["mixed3"], repeats=2)
    # the stem (5 convs, 2 max pools) and mixed0..mixed3 (7 + 7 + 7 + 4 convs, 3 avg + 1 max pool)
    assert [op.kind for op in ops].count("conv") == 5 + 7 * 3 + 4
    assert [op.name for op in ops if op.kind != "conv"] == [
        "max_pooling2d_1", "max_pooling2d_2", "average_pooling2d_1", "average_pooling2d_2",
        "average_pooling2d_3", "max_pooling2d_3"]
    assert ops[5].name == "conv2d_5" and ops[5].shape == "3x3/1 80->192"
    assert all(op.forward_s > 0 and op.backward_s > 0 for op in ops)
    with pytest.raises(ValueError, match="repeats must be an int from 1 to 1000"):
        model.profile(x, ["mixed3"], repeats=0)
