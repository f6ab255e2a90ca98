"""Loads OpenBLAS before the C extension so the extension finds it in any install layout, and
makes idle OpenMP threads sleep rather than spin (on a shared or busy machine, spinning threads
made a 2-thread step 3x slower than a 1-thread one; set OMP_WAIT_POLICY yourself to override)."""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

try:
    import scipy_openblas32

    # Loads libscipy_openblas with RTLD_GLOBAL; the extension's dependency then resolves to it.
    scipy_openblas32.get_openblas_config()
except ImportError:  # built against a system OpenBLAS
    pass
