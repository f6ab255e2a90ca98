"""Threads: dreams and passes running at once give the bytes of sequential runs, and the GIL is
released while the C core computes (csrc/module.c: Py_BEGIN_ALLOW_THREADS around each pass, the
dream loop retaking it only between tiles)."""
import threading
import time

import numpy as np
import pytest

import deepdream


@pytest.fixture(scope="module")
def model():
    return deepdream.InceptionV3()


def photo(h, w, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def run_in_threads(jobs):
    """Runs every job in its own thread, all started together; returns their results in order."""
    results, errors = [None] * len(jobs), []
    barrier = threading.Barrier(len(jobs))

    def worker(i):
        try:
            barrier.wait()
            results[i] = jobs[i]()
        except BaseException as error:  # reported in the main thread
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def test_four_dreams_at_once_equal_four_sequential_dreams(model):
    kw = dict(octaves=range(-1, 1), steps_per_octave=2, tile_size=96, progress=False, model=model)
    jobs = [lambda i=i: deepdream.dream(photo(90 + 10 * i, 120, i), seed=i, **kw) for i in range(4)]
    sequential = [job().tobytes() for job in jobs]
    assert len(set(sequential)) == 4
    for _ in range(2):
        assert [r.tobytes() for r in run_in_threads(jobs)] == sequential


def test_passes_at_once_on_one_model_equal_sequential_passes(model):
    # one cached workspace per model: the threads that do not get it plan their own
    xs = [deepdream.preprocess(photo(80 + 16 * i, 90, 10 + i)) for i in range(4)]
    jobs = [lambda x=x: model.loss_and_gradient(x, ["mixed3", "mixed5"]) for x in xs]
    jobs += [lambda x=x: model.activations(x, ["mixed4"])["mixed4"] for x in xs]
    sequential = [job() for job in jobs]
    for _ in range(2):
        for got, expected in zip(run_in_threads(jobs), sequential):
            if isinstance(expected, tuple):
                assert got[0] == expected[0] and got[1].tobytes() == expected[1].tobytes()
            else:
                assert got.tobytes() == expected.tobytes()


def count_while(work) -> tuple[int, float]:
    """Runs work() while another Python thread counts; returns (increments, seconds of work)."""
    count, stop = [0], threading.Event()

    def counter():
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=counter)
    t.start()
    try:
        time.sleep(0.05)
        before = count[0]
        start = time.monotonic()
        work()
        elapsed = time.monotonic() - start
        return count[0] - before, elapsed
    finally:
        stop.set()
        t.join()


def test_the_gil_is_released_during_a_long_pass(model):
    x = np.random.default_rng(0).uniform(-1, 1, (420, 420, 3)).astype(np.float32)
    during, elapsed = count_while(lambda: model.loss_and_gradient(x, ["mixed8"]))  # one C call
    assert elapsed > 0.1, "the pass is too short to tell"
    # A held GIL lets the counter run only at the call's edges (a few switch intervals of 5 ms);
    # released, it counts all along (~1e6 / s on one core).
    assert during > 10000 * elapsed, f"{during} increments in {elapsed:.2f} s"


def test_the_gil_is_released_during_a_dream(model):
    img = photo(300, 300, 1)
    during, elapsed = count_while(lambda: deepdream.dream(
        img, model=model, octaves=[0], steps_per_octave=2, tile_size=512, progress=False, seed=0))
    assert during > 10000 * elapsed, f"{during} increments in {elapsed:.2f} s"
