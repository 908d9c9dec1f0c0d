"""The read path runs compiled (setup.py, mypyc), from its current sources."""

from __future__ import annotations

import os

import pytest

import rgw.proxy.routing
from rgw.compiled import compiled_modules, stale_modules


def test_no_compiled_module_is_older_than_its_source() -> None:
    assert stale_modules() == [], "sources changed after the build: run `make setup` to recompile them"


@pytest.mark.skipif(bool(os.environ.get("RGW_PURE_PYTHON")), reason="installed without compiling (RGW_PURE_PYTHON)")
def test_the_read_path_is_compiled() -> None:
    assert rgw.proxy.routing.__file__.endswith(".so")
    assert {"rgw.proxy.h1server", "rgw.proxy.http1", "rgw.proxy.routing", "rgw.proxy.chain"} <= set(compiled_modules())
