"""Files on disk: crash-safe operations (every rename that publishes state is preceded by fsync), checksums."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Persist a directory's entries (a rename or create inside it)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new content."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_tree(root: Path) -> None:
    """fsync every file and directory under root (files copied or written without fsync)."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def rename_durably(src: Path, dst: Path) -> None:
    """Rename and persist both directory entries."""
    os.rename(src, dst)
    fsync_dir(src.parent)
    if dst.parent != src.parent:
        fsync_dir(dst.parent)


def publish_dir(src: Path, dst: Path) -> None:
    """Move a fully written directory into place atomically and durably."""
    fsync_tree(src)
    rename_durably(src, dst)


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """The sha256 (hex) of a file, read a chunk at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()
