"""Builds the gateway's read path with mypyc (the modules in COMPILED); everything else stays Python.

Why: those modules run on every query; compiled (with reads answered from callbacks) the gateway
spends about a fifth less CPU per query against the store, a third less against a fixed-answer
region (BENCHMARKS.md, "Read path"). RGW_PURE_PYTHON=1 at install time skips compiling.
"""

import os
from pathlib import Path

from setuptools import setup

# One list, read here, by the Makefile and by tests/test_compiled.py.
COMPILED = [line.strip() for line in Path(__file__).with_name("compiled-modules.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def extensions() -> list:
    if os.environ.get("RGW_PURE_PYTHON"):
        return []
    from mypyc.build import mypycify

    return mypycify([*COMPILED, "--ignore-missing-imports", "--follow-imports=silent"], group_name="rgw_compiled")


setup(ext_modules=extensions())
