"""Fixtures shared by several test files."""

import pytest

from softgrad.ops import compiled


@pytest.fixture(params=["compiled", "numpy"])
def kernels(request, monkeypatch):
    """Both ways softgrad runs the kernels of ``softgrad.ops.compiled``: Numba's loops, and the NumPy (and BLAS)
    passes beside them (as without Numba installed)."""
    if request.param == "compiled":
        if not compiled.available():
            pytest.skip("Numba is not installed (pip install softgrad[fast]): only the NumPy paths run")
    else:
        monkeypatch.setattr(compiled, "available", lambda: False)
        monkeypatch.setattr(compiled, "kernel", lambda name: None)
    return request.param
