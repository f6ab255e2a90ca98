"""Test-suite rules: TensorFlow runs on its exact float32 kernels, and the parity tests may not
silently go missing."""
import os
import signal

# TensorFlow's oneDNN float32 CPU path gives input gradients of InceptionV3 that differ from a
# float64 TensorFlow run by ~1e-3 (relative L2); its plain kernels and ours agree with float64
# to ~1e-6. Parity is checked against the plain kernels (and float64: test_model.py).
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

# A shell starting a background job without job control (`cmd &` in a script) leaves SIGINT
# ignored, and Python then installs no KeyboardInterrupt handler: the Ctrl-C tests then fail or
# hang (seen: a dream under `_thread.interrupt_main` ran on). Here it is Python's default.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

_parity = {"passed": 0, "not_passed": []}


def pytest_runtest_logreport(report):
    if "parity" not in report.keywords:
        return
    if report.when == "call" and report.passed:
        _parity["passed"] += 1
    elif report.skipped:
        _parity["not_passed"].append(report.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """A skipped parity test fails the run; with DEEPDREAM_REQUIRE_PARITY=1 (CI), so does a run
    in which no parity test passed."""
    problems = []
    if _parity["not_passed"]:
        problems.append(f"{len(_parity['not_passed'])} TensorFlow parity test(s) were skipped: "
                        + ", ".join(_parity["not_passed"][:5]))
    if os.environ.get("DEEPDREAM_REQUIRE_PARITY") == "1" and _parity["passed"] == 0:
        problems.append("no TensorFlow parity test ran (DEEPDREAM_REQUIRE_PARITY=1)")
    if problems:
        session.config.pluginmanager.get_plugin("terminalreporter").write_line(
            "PARITY CHECK FAILED: " + "; ".join(problems), red=True)
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
