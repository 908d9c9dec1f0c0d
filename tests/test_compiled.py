"""The modules listed in compiled-modules.txt run compiled (setup.py, mypyc), from their current sources."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rgw.compiled import compiled_modules, stale_modules

LISTED = [line.strip() for line in (Path(__file__).parents[1] / "compiled-modules.txt").read_text().splitlines()
          if line.strip() and not line.startswith("#")]


def test_no_compiled_module_is_older_than_its_source() -> None:
    assert stale_modules() == [], "sources changed after the build: run `make setup` to recompile them"


@pytest.mark.skipif(bool(os.environ.get("RGW_PURE_PYTHON")), reason="installed without compiling (RGW_PURE_PYTHON)")
def test_every_listed_module_is_compiled_and_nothing_else() -> None:
    listed = {path.removesuffix(".py").replace("/", ".") for path in LISTED}
    assert set(compiled_modules()) == listed
