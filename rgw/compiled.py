"""Which of this installation's modules run compiled (setup.py builds the read path with mypyc).

Compiled modules' data classes built on every query write their `__init__` out
(`@dataclass(init=False)`): mypyc compiles a written `__init__`, while the one `dataclasses`
generates runs interpreted, about 6x slower (35 against 215 ns measured for three fields).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).parent


def _builds() -> Iterator[tuple[Path, Path]]:
    """(extension, its source) for every module built from a source in this package."""
    for extension in PACKAGE.rglob("*.so"):
        source = extension.with_name(extension.name.split(".")[0] + ".py")
        if source.exists():
            yield extension, source


def compiled_modules() -> list[str]:
    """Dotted names of the modules imported from a compiled extension rather than from their source."""
    return sorted(".".join(source.relative_to(PACKAGE.parent).with_suffix("").parts) for _, source in _builds())


def stale_modules() -> list[str]:
    """Compiled modules whose source changed after the build: they run the old code until `make setup`."""
    return sorted(str(source.relative_to(PACKAGE.parent)) for extension, source in _builds()
                  if source.stat().st_mtime > extension.stat().st_mtime)
