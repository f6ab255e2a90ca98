"""Fuzz target: every Python-facing entry point of the C core, with shapes, dtypes, sizes,
strides, shifts and layer lists drawn from the fuzzer's bytes.

Run by fuzz/run (see there): under libFuzzer (atheris) with the extension built with
AddressSanitizer + UBSan. A crash, a sanitizer report, or an exception other than the clear
ones below (a SystemError, say) is a finding.

    python fuzz/fuzz_core.py fuzz/corpus -max_total_time=60
"""
import sys

import atheris

with atheris.instrument_imports():
    import numpy as np

    import deepdream
    from deepdream import _deepdream as core

# What a bad call may raise. Anything else escapes and the fuzzer reports it.
EXPECTED = (ValueError, TypeError, OverflowError, MemoryError, RuntimeError)
EDGES = [-2**31, -2**40, -1, 0, 1, 2, 3, 64, 65, 16384, 16385, 2**31 - 1, 2**40]
DTYPES = [np.float32, np.float64, np.float16, np.int32, np.int64, np.uint8, np.bool_, np.complex64, object]
SPECIALS = [np.nan, np.inf, -np.inf, 3e38, -3e38, 1e-45, 0.0]
MAX_VALUES = 2_000_000  # keeps each run fast and memory small: large sizes are tested as edges


def an_int(fdp, lo, hi):
    """Mostly in [lo, hi], sometimes an edge value."""
    if fdp.ConsumeIntInRange(0, 7) == 0:
        return EDGES[fdp.ConsumeIntInRange(0, len(EDGES) - 1)]
    return fdp.ConsumeIntInRange(lo, hi)


def an_array(fdp, ndim_hint, max_side=12):
    ndim = ndim_hint if fdp.ConsumeIntInRange(0, 9) else fdp.ConsumeIntInRange(0, 5)
    shape = tuple(fdp.ConsumeIntInRange(0, max_side) for _ in range(ndim))
    if not small_enough(*shape):  # the harness's own memory, not the library's
        shape = tuple(min(d, 4) for d in shape)
    dtype = DTYPES[0] if fdp.ConsumeIntInRange(0, 3) else DTYPES[fdp.ConsumeIntInRange(0, len(DTYPES) - 1)]
    n = int(np.prod(shape)) if shape else 1
    values = np.frombuffer(fdp.ConsumeBytes(4 * min(n, 64)).ljust(4 * min(n, 64), b"\0"), np.float32)
    a = np.resize(np.nan_to_num(values, nan=0.5, posinf=1.0, neginf=-1.0), n) if n else np.zeros(0, np.float32)
    if n and fdp.ConsumeIntInRange(0, 5) == 0:
        a[fdp.ConsumeIntInRange(0, n - 1)] = SPECIALS[fdp.ConsumeIntInRange(0, len(SPECIALS) - 1)]
    with np.errstate(all="ignore"):
        a = a.reshape(shape).astype(dtype)
    view = fdp.ConsumeIntInRange(0, 4)
    if view == 1 and a.ndim >= 1:
        a = a[::-1]
    elif view == 2:
        a = np.asfortranarray(a)
    elif view == 3:
        a.flags.writeable = False
    return a


def a_size(fdp):
    return (an_int(fdp, 0, 40), an_int(fdp, 0, 40))


def small_enough(*dims):
    total = 1
    for d in dims:
        total *= max(int(d), 1)
    return total <= MAX_VALUES


NET = None


def network():
    global NET
    if NET is None:
        NET = deepdream.InceptionV3()._net
    return NET


def one_call(fdp):
    which = fdp.ConsumeIntInRange(0, 13)
    stride, same = an_int(fdp, -1, 4), fdp.ConsumeBool()
    if which == 0:
        core.conv2d(an_array(fdp, 3), an_array(fdp, 4, 5), an_array(fdp, 1), stride, same)
    elif which == 1:
        h, w = a_size(fdp)
        k = an_array(fdp, 4, 5)
        if k.ndim == 4 and small_enough(h, w, k.shape[2]):
            core.conv2d_backward(an_array(fdp, 3), an_array(fdp, 3), k, (h, w), stride, same)
    elif which == 2:
        core.maxpool(an_array(fdp, 3), an_int(fdp, -1, 5), stride, same)
    elif which == 3:
        h, w = a_size(fdp)
        dout = an_array(fdp, 3)
        if dout.ndim == 3 and small_enough(h, w, dout.shape[2]):
            am = an_array(fdp, 3).astype(np.int32) if fdp.ConsumeBool() else an_array(fdp, 3)
            core.maxpool_backward(dout, am, (h, w), an_int(fdp, -1, 5), stride, same)
    elif which == 4:
        core.avgpool(an_array(fdp, 3), an_int(fdp, -1, 5), stride, same)
    elif which == 5:
        h, w = a_size(fdp)
        dout = an_array(fdp, 3)
        if dout.ndim == 3 and small_enough(h, w, dout.shape[2]):
            core.avgpool_backward(dout, (h, w), an_int(fdp, -1, 5), stride, same)
    elif which == 6:
        x, size = an_array(fdp, 3), a_size(fdp)
        if x.ndim != 3 or small_enough(size[0], size[1], x.shape[2]):
            core.resize_bilinear(x, size)
    elif which == 7:
        n, tile = an_int(fdp, -1, 300), an_int(fdp, -1, 300)
        core.tile_bounds(n, tile, fdp.ConsumeBool())
    elif which == 8:
        n = an_int(fdp, -1, 50)
        if n < 100000:
            core.shifts_from_seed(n, an_int(fdp, -1, 600), fdp.ConsumeIntInRange(0, 2**64 - 1))
    elif which in (9, 10):
        x = an_array(fdp, 3, 90)
        blocks = [an_int(fdp, -1, 3) for _ in range(fdp.ConsumeIntInRange(0, 3))]
        if fdp.ConsumeIntInRange(0, 9) == 0:
            blocks = ["mixed0"] if fdp.ConsumeBool() else None
        method = network().activations if which == 9 else network().loss_and_gradient
        method(x, blocks, an_int(fdp, 1, 2))
    elif which == 11:
        sizes = np.array([[an_int(fdp, 70, 90), an_int(fdp, 70, 90)]
                          for _ in range(fdp.ConsumeIntInRange(0, 2))], np.int32).reshape(-1, 2)
        if fdp.ConsumeIntInRange(0, 7) == 0:
            sizes = an_array(fdp, 2, 3)
        steps = an_int(fdp, 1, 2)
        shifts = None
        if fdp.ConsumeBool():
            shifts = np.array([[an_int(fdp, -200, 200), an_int(fdp, -200, 200)]
                               for _ in range(fdp.ConsumeIntInRange(0, 4))], np.int64).reshape(-1, 2)
            shifts = shifts.astype(np.int32) if fdp.ConsumeBool() else shifts
        if sizes.dtype == np.int32 and (steps * len(sizes) > 4 or sizes.size and sizes.max() > 100):
            return  # valid but slow or large: a dream of 16384x16384 is a resource, not a bug
        stop = fdp.ConsumeIntInRange(0, 3)
        callback = (lambda *a: stop == 1) if stop else None
        network().dream(an_array(fdp, 3, 40), [an_int(fdp, -1, 1)], sizes, steps,
                        fdp.ConsumeFloat(), an_int(fdp, 1, 200), fdp.ConsumeBool(), shifts,
                        fdp.ConsumeIntInRange(0, 2**64 - 1), callback, an_int(fdp, 1, 2))
    elif which == 12:
        convs = [None] * fdp.ConsumeIntInRange(93, 95)
        if convs and fdp.ConsumeBool():
            i = fdp.ConsumeIntInRange(0, len(convs) - 1)
            convs[i] = (an_array(fdp, 4, 4), an_array(fdp, 1, 40)) if fdp.ConsumeBool() else an_array(fdp, 1)
        core.Network(convs)
    else:
        net = network()
        getattr(net, ["min_side", "can_compute", "macs"][fdp.ConsumeIntInRange(0, 2)])(
            *[an_int(fdp, -1, 300) for _ in range(fdp.ConsumeIntInRange(0, 3))])


def test_one_input(data):
    fdp = atheris.FuzzedDataProvider(data)
    try:
        one_call(fdp)
    except EXPECTED:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
