"""Session set-up: load the compiled search once, so tests exercise the path solves take."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def compiled_search():
    """Compile (first run on a machine) or load numba's cached search before any test."""
    from dispatch.solver import fast_lns

    fast_lns.warm_up()
    return fast_lns
