"""Builds the gateway's read path with mypyc (the modules in COMPILED); everything else stays Python.

Why: those modules run on every query; compiled (with reads answered from callbacks) the gateway
spends about a fifth less CPU per query against the store, a third less against a fixed-answer
region (BENCHMARKS.md, "Read path"). RGW_PURE_PYTHON=1 at install time skips compiling.
"""

import os

from setuptools import setup

COMPILED = [
    "rgw/fallbacks/cache.py",
    "rgw/journal/replication.py",
    "rgw/proxy/api.py",
    "rgw/proxy/chain.py",
    "rgw/proxy/config.py",
    "rgw/proxy/freshness.py",
    "rgw/proxy/h1server.py",
    "rgw/proxy/health.py",
    "rgw/proxy/http1.py",
    "rgw/proxy/operator.py",
    "rgw/proxy/routing.py",
    "rgw/proxy/upstream.py",
]


def extensions() -> list:
    if os.environ.get("RGW_PURE_PYTHON"):
        return []
    from mypyc.build import mypycify

    return mypycify([*COMPILED, "--ignore-missing-imports", "--follow-imports=silent"], group_name="rgw_compiled")


setup(ext_modules=extensions())
