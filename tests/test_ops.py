"""Each C op against a float64 NumPy reference, and its backward against central finite
differences of that reference or its exact float64 adjoint (csrc/conv2d.c, winograd1d.c,
maxpool.c, avgpool.c, gemm.c)."""
import os
import subprocess
import sys

import numpy as np
import pytest

from deepdream import _deepdream as core


def same_pads(n, k, s):
    """TensorFlow's SAME padding for one axis: (before, after); the extra pixel goes after."""
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def ref_conv(x, kernel, bias, stride, same):
    kh, kw, _, cout = kernel.shape
    if same:
        x = np.pad(x, [same_pads(x.shape[0], kh, stride), same_pads(x.shape[1], kw, stride), (0, 0)])
    ho = (x.shape[0] - kh) // stride + 1
    wo = (x.shape[1] - kw) // stride + 1
    out = np.zeros((ho, wo, cout)) + bias
    for ky in range(kh):
        for kx in range(kw):
            patch = x[ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride]
            out += patch @ kernel[ky, kx]
    return np.maximum(out, 0.0)


def ref_pool(x, k, stride, same, kind):
    h, w, c = x.shape
    pt, pb = same_pads(h, k, stride) if same else (0, 0)
    pl, pr = same_pads(w, k, stride) if same else (0, 0)
    ho = (h + pt + pb - k) // stride + 1
    wo = (w + pl + pr - k) // stride + 1
    out = np.zeros((ho, wo, c))
    for oy in range(ho):
        for ox in range(wo):
            y0, x0 = oy * stride - pt, ox * stride - pl
            win = x[max(y0, 0):y0 + k, max(x0, 0):x0 + k]
            out[oy, ox] = win.max(axis=(0, 1)) if kind == "max" else win.mean(axis=(0, 1))
    return out


def finite_difference(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        g[i] = (f(xp) - f(xm)) / (2 * eps)
    return g


CONV_CASES = [
    # (h, w, cin, cout, kh, kw, stride, same): every kernel shape InceptionV3 uses, odd and even sizes
    (9, 11, 3, 4, 3, 3, 2, False),
    (8, 10, 3, 4, 3, 3, 2, True),
    (7, 7, 5, 6, 3, 3, 1, True),
    (7, 9, 5, 6, 3, 3, 1, False),
    (6, 5, 4, 3, 1, 1, 1, True),
    (9, 8, 4, 5, 5, 5, 1, True),
    (8, 9, 4, 5, 1, 7, 1, True),
    (9, 8, 4, 5, 7, 1, 1, True),
    (6, 7, 4, 5, 1, 3, 1, True),
    (7, 6, 4, 5, 3, 1, 1, True),
    # thin inputs (kh * kw * cin <= 32: direct path) with several pixel groups and a partial one,
    # output channels past one 32-wide panel, padding; and the im2col path with wider inputs
    (21, 26, 3, 40, 3, 3, 2, False),
    (7, 8, 3, 5, 3, 3, 1, True),  # as thin, but Winograd's
    (70, 9, 3, 8, 3, 3, 2, True),  # thin backward: several bands of rows per thread
    (70, 5, 4, 6, 7, 1, 1, True),  # (7-tap: 1-D Winograd takes it, not the direct path)
    (20, 19, 3, 33, 3, 3, 2, True),
    (9, 11, 12, 5, 3, 3, 2, False),
    (8, 9, 8, 5, 1, 7, 1, True),
    (9, 8, 8, 5, 7, 1, 1, True),
]
# 7-tap 1-D kernels run by Winograd F(5,7) (winograd1d.c), whose rounding reaches ~2e-5 of the
# largest output (test_winograd1d_forward_and_backward_match_float64); the others ~1e-6
SEVEN_TAP_ATOL = 5e-5


def random_conv(rng, h, w, cin, cout, kh, kw, stride, same):
    """x, kernel and bias of a random conv (float32), its output and the float64 reference."""
    x = rng.uniform(-1, 1, (h, w, cin)).astype(np.float32)
    kernel = rng.normal(0, 0.5, (kh, kw, cin, cout)).astype(np.float32)
    bias = rng.normal(0, 0.1, cout).astype(np.float32)
    out = core.conv2d(x, kernel, bias, stride, same)
    ref = ref_conv(x.astype(np.float64), kernel.astype(np.float64), bias.astype(np.float64), stride, same)
    assert out.shape == ref.shape
    return x, kernel, bias, out, ref


@pytest.mark.parametrize("h,w,cin,cout,kh,kw,stride,same", CONV_CASES)
def test_conv2d_forward_and_backward(h, w, cin, cout, kh, kw, stride, same):
    rng = np.random.default_rng(h * 100 + w * 10 + kh)
    x, kernel, bias, out, ref = random_conv(rng, h, w, cin, cout, kh, kw, stride, same)
    atol = SEVEN_TAP_ATOL * np.abs(ref).max() if max(kh, kw) == 7 else 1e-5
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=atol)
    assert (out == 0).any() and (out > 0).any()  # the ReLU is exercised

    r = rng.normal(size=out.shape)
    din = core.conv2d_backward(r.astype(np.float32), out, kernel, (h, w), stride, same)
    fd = finite_difference(
        lambda z: float((r * ref_conv(z, kernel.astype(np.float64), bias.astype(np.float64),
                                      stride, same)).sum()), x.astype(np.float64))
    np.testing.assert_allclose(din, fd, rtol=1e-4, atol=1e-4 * np.abs(fd).max())


def ref_conv_backward(dout, kernel, hw, same, stride=1):
    """Gradient of sum(dout * conv(x)) with respect to x (h, w, cin): the adjoint of ref_conv's
    sum before bias and ReLU."""
    kh, kw, _, _ = kernel.shape
    pt, pb = same_pads(hw[0], kh, stride) if same else (0, 0)
    pl, pr = same_pads(hw[1], kw, stride) if same else (0, 0)
    ho, wo = dout.shape[:2]
    din = np.zeros((hw[0] + pt + pb, hw[1] + pl + pr, kernel.shape[2]))
    for ky in range(kh):
        for kx in range(kw):
            din[ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride] += dout @ kernel[ky, kx].T
    return din[pt:pt + hw[0], pl:pl + hw[1]]


def checked_conv(h, w, cin, cout, k, stride, same, seed):
    """(rng, kernel (float32), output) of a random k x k conv whose output matched float64 within
    1e-5 of its largest value, the ReLU passing some outputs and zeroing others."""
    rng = np.random.default_rng(seed)
    _, kernel, _, out, ref = random_conv(rng, h, w, cin, cout, k, k, stride, same)
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()
    assert (out == 0).any() and (out > 0).any()
    return rng, kernel, out


def check_conv_backward(rng, kernel, out, hw, stride, same):
    """The input gradient of a random dout against float64, within 1e-5 of its largest value."""
    dout = rng.normal(size=out.shape).astype(np.float32)
    din = core.conv2d_backward(dout, out, kernel, hw, stride, same)
    ref_din = ref_conv_backward(np.where(out > 0, dout, 0.0), kernel.astype(np.float64), hw, same, stride)
    assert din.shape == ref_din.shape
    assert np.abs(din - ref_din).max() <= 1e-5 * np.abs(ref_din).max()


# Winograd (3x3 and 5x5, stride 1; csrc/winograd.c) on outputs of hundreds of tiles: several
# chunks of tiles over two threads, tiles cut by the bottom and right edges (sizes not multiples
# of the 4x4 output tile), SAME and VALID padding, channel counts that take the GEMMs to the own
# kernel (multiples of 16, both ways) and to OpenBLAS, and each GEMM kernel forced. Forward and
# backward against float64, within 1e-5 of the largest value (measured 1e-6 to 4e-6 here;
# F(4x4, 5x5) over 8x8 tiles reaches 5.4e-6 forward and 7.7e-6 backward at mixed0-2's 48 -> 64
# channels).
@pytest.mark.parametrize("h,w,cin,cout,k,same", [
    (123, 97, 8, 16, 3, True), (50, 67, 7, 5, 3, False), (37, 45, 16, 32, 3, True),
    (61, 61, 6, 8, 5, True), (45, 38, 5, 7, 5, False), (2, 3, 4, 4, 5, True),
    (29, 31, 48, 64, 5, False),
])
def test_winograd_conv2d_on_many_tiles(gemm_kernel, h, w, cin, cout, k, same):
    rng, kernel, out = checked_conv(h, w, cin, cout, k, 1, same, seed=h * w + k)
    check_conv_backward(rng, kernel, out, (h, w), 1, same)


# 3x3 stride-2 convolutions after the RGB image run by polyphase Winograd F(2x2, 2x2)
# (csrc/polyphase.c): outputs of hundreds of tiles (several chunks of at most 64 over two
# threads, and fewer chunks than threads), odd and even sizes (tiles cut by every edge), SAME and
# VALID, channel counts that take the GEMMs to the own kernel both ways (multiples of 16) and to
# OpenBLAS, planes larger than the L2 cache (256 -> 288, 4.7 MB), and each GEMM kernel forced.
# Forward and backward against float64 (adding to a gradient is covered by the network tests:
# mixed2 feeds three ops).
@pytest.mark.parametrize("h,w,cin,cout,same", [
    (61, 61, 32, 48, False), (64, 57, 16, 32, True), (35, 36, 5, 7, False), (7, 9, 16, 16, True),
    (40, 41, 16, 33, False), (71, 72, 256, 288, True),
])
def test_polyphase_conv2d_on_many_tiles(gemm_kernel, h, w, cin, cout, same):
    rng, kernel, out = checked_conv(h, w, cin, cout, 3, 2, same, seed=h * w + cin)
    check_conv_backward(rng, kernel, out, (h, w), 2, same)


# 1 x r and r x 1 stride-1 convolutions run by 1-D Winograd (csrc/winograd1d.c): F(5,7) for the
# 7-tap kernels, F(2,3) for the 3-tap ones. InceptionV3's sizes (30x30 at mixed4..7 for a 512
# input, 14x14 at mixed9/10), odd sizes, lines shorter than a tile or than the kernel, VALID too,
# channel counts that are not multiples of a vector; on each GEMM kernel.
WINOGRAD1D_CASES = [
    # (h, w, cin, cout, kh, kw, same)
    (30, 30, 128, 128, 1, 7, True),
    (30, 30, 160, 192, 7, 1, True),
    (17, 13, 33, 20, 1, 7, True),
    (13, 17, 20, 33, 7, 1, True),
    (5, 3, 8, 8, 1, 7, True),
    (3, 1, 8, 8, 7, 1, True),
    (9, 11, 16, 8, 1, 7, False),
    (11, 9, 8, 16, 7, 1, False),
    (14, 14, 384, 384, 1, 3, True),
    (14, 14, 384, 384, 3, 1, True),
    (9, 11, 5, 6, 1, 3, True),
    (65, 1, 5, 6, 3, 1, True),  # (3-tap kernels on maps under 64 outputs: im2col, CONV_CASES)
]


@pytest.mark.parametrize("h,w,cin,cout,kh,kw,same", WINOGRAD1D_CASES)
def test_winograd1d_forward_and_backward_match_float64(gemm_kernel, h, w, cin, cout, kh, kw, same):
    rng = np.random.default_rng(h * 1000 + w * 10 + cin)
    x = rng.uniform(-1, 1, (h, w, cin)).astype(np.float32)
    kernel = (rng.normal(0, 1, (kh, kw, cin, cout)) / np.sqrt(kh * kw * cin)).astype(np.float32)
    bias = rng.normal(0, 0.1, cout).astype(np.float32)
    k64 = kernel.astype(np.float64)
    out = core.conv2d(x, kernel, bias, 1, same)
    ref = ref_conv(x.astype(np.float64), k64, bias.astype(np.float64), 1, same)
    assert out.shape == ref.shape
    assert (out == 0).any() and (out > 0).any()
    # Winograd's rounding error grows with the tile: measured up to 1.8e-5 of the largest output
    # for F(5,7) on these inputs (direct summation: ~3e-7), 9e-7 for F(2,3)
    bound = 5e-5 if max(kh, kw) == 7 else 5e-6
    assert np.abs(out - ref).max() <= bound * np.abs(ref).max()

    dout = rng.normal(size=out.shape).astype(np.float32)
    din = core.conv2d_backward(dout, out, kernel, (h, w), 1, same)
    dref = ref_conv_backward(np.where(out > 0, dout.astype(np.float64), 0.0), k64, (h, w), same)
    assert np.abs(din - dref).max() <= bound * np.abs(dref).max()


@pytest.mark.parametrize("h,w,c,k,stride,same", [
    (9, 11, 3, 3, 2, False), (10, 8, 2, 3, 2, False),
    # channels in vector blocks of 64 and 16 and a tail; padding; more taps than one pass takes
    (7, 9, 83, 3, 2, False), (8, 7, 19, 3, 2, True), (7, 8, 20, 5, 1, True)])
def test_maxpool_forward_and_backward(h, w, c, k, stride, same):
    rng = np.random.default_rng(h + w)
    x = rng.uniform(-1, 1, (h, w, c)).astype(np.float32)
    out, argmax = core.maxpool(x, k, stride, same)
    ref = ref_pool(x.astype(np.float64), k, stride, same, "max")
    np.testing.assert_array_equal(out, ref.astype(np.float32))
    r = rng.normal(size=out.shape)
    din = core.maxpool_backward(r.astype(np.float32), argmax, (h, w), k, stride, same)
    fd = finite_difference(lambda z: float((r * ref_pool(z, k, stride, same, "max")).sum()),
                           x.astype(np.float64))
    np.testing.assert_allclose(din, fd, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("h,w,c,k", [
    (5, 7, 3, 3), (1, 1, 2, 3), (2, 6, 4, 3),
    # channels in vector blocks of 64 and 16 and a tail; more taps per pixel than one pass takes
    (6, 7, 83, 3), (7, 6, 20, 5)])
def test_avgpool_same_divides_by_valid_count(h, w, c, k):
    rng = np.random.default_rng(h * w)
    x = rng.uniform(-1, 1, (h, w, c)).astype(np.float32)
    out = core.avgpool(x, k, 1, True)
    ref = ref_pool(x.astype(np.float64), k, 1, True, "avg")
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)
    # a corner of a constant image averages 4 valid pixels, not 9: the value stays the same
    ones = np.ones((h, w, c), np.float32)
    np.testing.assert_allclose(core.avgpool(ones, k, 1, True), 1.0, rtol=1e-6)
    r = rng.normal(size=out.shape)
    din = core.avgpool_backward(r.astype(np.float32), (h, w), k, 1, True)
    fd = finite_difference(lambda z: float((r * ref_pool(z, k, 1, True, "avg")).sum()),
                           x.astype(np.float64))
    np.testing.assert_allclose(din, fd, rtol=1e-5, atol=1e-5)


def test_conv2d_rejects_mismatched_shapes():
    x = np.zeros((5, 5, 3), np.float32)
    with pytest.raises(ValueError, match="kernel must be"):
        core.conv2d(x, np.zeros((3, 3, 4, 2), np.float32), np.zeros(2, np.float32), 1, True)
    with pytest.raises(ValueError, match="smaller than the window"):
        core.conv2d(x, np.zeros((7, 7, 3, 2), np.float32), np.zeros(2, np.float32), 1, False)
    with pytest.raises(ValueError, match="3 dimensions"):
        core.conv2d(np.zeros((5, 5), np.float32), np.zeros((3, 3, 3, 2), np.float32),
                    np.zeros(2, np.float32), 1, True)


def test_maxpool_backward_rejects_positions_outside_the_window():
    with pytest.raises(ValueError, match="outside 0..k"):
        core.maxpool_backward(np.ones((1, 1, 1), np.float32), np.full((1, 1, 1), 99, np.int32),
                              (3, 3), 3, 2, False)


# The forward GEMM of the 1x1 and im2col convs (csrc/gemm.c): an own AVX-512 kernel for output
# channels in multiples of 16 and k <= 1024, OpenBLAS otherwise or on request. Both against
# float64 on shapes that exercise every panel width (16..64 columns, 5 vectors as 3 + 2), row
# counts that leave each remainder (8, 4, 2, 1 rows), k past one vector of A and past 1024.
@pytest.fixture(params=["avx512", "openblas"])
def gemm_kernel(request):
    before = core.gemm_kernel()
    try:
        core.gemm_kernel(request.param)
    except ValueError:
        pytest.skip("this CPU has no AVX-512F (the OpenBLAS case still runs)")
    yield request.param
    core.gemm_kernel(before)


@pytest.mark.parametrize("h,w,cin,cout,kh,kw,stride", [
    (5, 7, 3, 16, 1, 1, 1), (3, 5, 37, 80, 1, 1, 1), (9, 8, 64, 48, 1, 1, 1), (4, 4, 5, 112, 1, 1, 1),
    (7, 9, 20, 192, 1, 1, 1), (6, 5, 1100, 32, 1, 1, 1), (3, 3, 4, 20, 1, 1, 1),
    (13, 11, 24, 96, 3, 3, 2), (12, 10, 120, 64, 3, 3, 2),
])
def test_forward_gemm_with_bias_and_relu(gemm_kernel, h, w, cin, cout, kh, kw, stride):
    rng = np.random.default_rng(h * w * cin + cout)
    x = rng.uniform(-1, 1, (h, w, cin)).astype(np.float32)
    kernel = (rng.normal(0, 1, (kh, kw, cin, cout)) / np.sqrt(kh * kw * cin)).astype(np.float32)
    bias = rng.normal(0, 0.1, cout).astype(np.float32)
    out = core.conv2d(x, kernel, bias, stride, False)
    ref = ref_conv(x.astype(np.float64), kernel.astype(np.float64), bias.astype(np.float64), stride, False)
    assert (out == 0).any() and (out > 0).any()
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()


def test_own_gemm_rows_do_not_depend_on_the_other_rows():
    """What makes the results independent of the thread count without any rule on the split: a
    row of C computed alone or among others gets the same bits (1x1 conv: a pixel's output)."""
    if core.gemm_kernel() != "avx512":
        pytest.skip("no AVX-512F here: the own kernel does not run")
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, (23, 17, 200)).astype(np.float32)
    kernel = rng.normal(0, 0.1, (1, 1, 200, 96)).astype(np.float32)
    bias = rng.normal(0, 0.1, 96).astype(np.float32)
    whole = core.conv2d(x, kernel, bias, 1, True)
    for rows in (1, 2, 5, 13):
        np.testing.assert_array_equal(core.conv2d(x[:rows], kernel, bias, 1, True), whole[:rows])
    np.testing.assert_array_equal(core.conv2d(x[:, 3:4], kernel, bias, 1, True), whole[:, 3:4])


def test_gemm_kernel_choice():
    with pytest.raises(ValueError, match="'avx512' or 'openblas'"):
        core.gemm_kernel("mkl")
    out = subprocess.run([sys.executable, "-c", "from deepdream import _deepdream as c; print(c.gemm_kernel())"],
                         env={**os.environ, "DEEPDREAM_GEMM": "openblas"}, capture_output=True, text=True,
                         check=True, cwd="/").stdout  # not the source tree: the installed package
    assert out.strip() == "openblas"
