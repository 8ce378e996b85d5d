import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402


@pytest.fixture(autouse=True)
def no_leftover_daemons():
    """Whatever a test did not stop (it failed before its cleanup) is killed after it."""
    yield
    harness.end_leftovers()


@pytest.fixture
def target(tmp_path):
    """nvfabd with one 64 MiB RAM namespace (4 KiB blocks) on a free port."""
    port = harness.free_port()
    t = harness.Target(harness.simple_config(port), tmpdir=str(tmp_path))
    t.port = port
    yield t
    rc = t.stop()
    # A daemon that crashed instead of shutting down cleanly fails the test.
    assert rc == 0, f"nvfabd exit status {rc}\n" + t.read_log()[-4000:]
