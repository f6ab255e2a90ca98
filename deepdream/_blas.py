"""Loads OpenBLAS before the C extension so the extension finds it in any install layout."""
try:
    import scipy_openblas32

    # Loads libscipy_openblas with RTLD_GLOBAL; the extension's dependency then resolves to it.
    scipy_openblas32.get_openblas_config()
except ImportError:  # built against a system OpenBLAS
    pass
