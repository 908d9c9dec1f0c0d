"""A consistent copy of a live EdgeShard directory that holds the collection's write lock briefly.

Copying a whole shard under the write lock stalls writes for as long as the copy takes (about a
second at 180k x 384). Instead `Collection.copy_live` does:

1. under the lock: flush; `before` = the engine's per-file versions (`EdgeShard.snapshot_manifest`);
2. without the lock, in a thread: `precopy` every file while writes go on;
3. under the lock: flush; `after` = the versions again; `finish` brings the copy up to date.

What can change in a flushed shard (measured on qdrant-edge 0.9.0): every file of an appendable
segment (vectors and payload pages are written in place as writes arrive; id tracker, status and
deletion flags at flush), the WAL, `segment.json`, and in indexed segments the payload storage,
`id_tracker.deleted` and `id_tracker.versions` when their points are deleted or updated. The big
files of indexed segments (vectors, HNSW graph, id mappings) never change.

`finish` trusts the engine's file versions only to skip work, the way Qdrant's partial snapshots
use them: a file with the same version in `before` and `after` was not written between the two
flushes, so its pre-copy stands. Every other file (version changed, unversioned, or not in the
manifest at all, like the WAL and `segment.json`) is compared with its pre-copy a block at a time
and only differing blocks are rewritten; holes (the engine preallocates sparse files) are skipped.
Under the lock the cost is therefore reading what may have changed and writing what did.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BLOCK = 1 << 20
SEGMENTS = "segments"


def precopy(src: Path, dst: Path) -> None:
    """Copy the tree at `src` to `dst` (which must not exist) while `src` may be changing; files
    that vanish meanwhile are skipped (`finish` settles the file set)."""
    dst.mkdir(parents=True)
    for rel_dir, files in _walk(src):
        (dst / rel_dir).mkdir(parents=True, exist_ok=True)
        for name in files:
            try:
                _copy_data(src / rel_dir / name, dst / rel_dir / name)
            except FileNotFoundError:
                continue


def finish(src: Path, dst: Path, before: dict[str, Any], after: dict[str, Any]) -> int:
    """Make `dst` identical to `src` (which must not change meanwhile), reusing the pre-copy of
    every file whose engine version is the same in `before` and `after`. Returns bytes written."""
    live_files: set[str] = set()
    live_dirs: set[str] = set()
    written = 0
    for rel_dir, files in _walk(src):
        live_dirs.add(rel_dir)
        (dst / rel_dir).mkdir(parents=True, exist_ok=True)
        for name in files:
            rel = os.path.join(rel_dir, name)
            live_files.add(rel)
            if _unchanged(rel, before, after) and (dst / rel).is_file():
                continue
            written += _sync(src / rel, dst / rel)
    _prune(dst, live_files, live_dirs)
    return written


def _walk(root: Path) -> Iterator[tuple[str, list[str]]]:
    """(directory relative to root, its file names) for every directory under root."""
    for dirpath, _dirs, files in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        yield ("" if rel == "." else rel), files


def _unchanged(rel: str, before: dict[str, Any], after: dict[str, Any]) -> bool:
    parts = rel.split(os.sep, 2)
    if len(parts) != 3 or parts[0] != SEGMENTS:
        return False  # the WAL and shard-level files are not versioned
    _, segment, inner = parts
    old, new = before.get(segment), after.get(segment)
    if old is None or new is None:
        return False
    key = inner.replace(os.sep, "/")
    old_versions, new_versions = old.get("file_versions", {}), new.get("file_versions", {})
    if key not in old_versions or key not in new_versions:
        return False
    version = old_versions[key]
    return version is not None and version == new_versions[key]  # None: unversioned, always copied


def _prune(dst: Path, files: set[str], dirs: set[str]) -> None:
    """Remove what the copy has and the source no longer does."""
    for dirpath, subdirs, names in os.walk(dst):
        rel_dir = os.path.relpath(dirpath, dst)
        rel_dir = "" if rel_dir == "." else rel_dir
        for name in list(subdirs):
            if os.path.join(rel_dir, name) not in dirs:
                shutil.rmtree(os.path.join(dirpath, name))
                subdirs.remove(name)
        for name in names:
            if os.path.join(rel_dir, name) not in files:
                os.unlink(os.path.join(dirpath, name))


def _extents(fd: int, size: int) -> list[tuple[int, int]]:
    """The file's data ranges [start, end); the whole file where the filesystem cannot tell."""
    if not hasattr(os, "SEEK_DATA"):
        return [(0, size)] if size else []
    ranges: list[tuple[int, int]] = []
    offset = 0
    try:
        while offset < size:
            start = os.lseek(fd, offset, os.SEEK_DATA)
            offset = min(os.lseek(fd, start, os.SEEK_HOLE), size)
            ranges.append((start, offset))
    except OSError as exc:
        if exc.errno != errno.ENXIO:  # ENXIO: no data after offset
            return [(0, size)] if size else []
    return ranges


def _copy_data(src: Path, dst: Path) -> None:
    """Copy a file's data ranges only, so preallocated sparse files stay sparse."""
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        for start, end in _extents(fin.fileno(), size):
            _copy_range(fin.fileno(), fout.fileno(), start, end)
        fout.truncate(size)
    shutil.copymode(src, dst)


def _copy_range(fd_in: int, fd_out: int, start: int, end: int) -> None:
    while start < end:
        try:
            n = os.copy_file_range(fd_in, fd_out, end - start, start, start)
        except OSError as exc:  # across filesystems on old kernels, or unsupported
            if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                raise
            n = len(data := os.pread(fd_in, min(BLOCK, end - start), start))
            os.pwrite(fd_out, data, start)
        if n == 0:
            return  # the source shrank meanwhile
        start += n


def _sync(src: Path, dst: Path) -> int:
    """Rewrite the blocks of `dst` that differ from `src`; returns bytes written."""
    if not dst.is_file():
        _copy_data(src, dst)
        return src.stat().st_size
    written = 0
    full_a, full_b = bytearray(BLOCK), bytearray(BLOCK)
    with open(src, "rb", buffering=0) as fin, open(dst, "r+b", buffering=0) as fout:
        size = os.fstat(fin.fileno()).st_size
        if os.fstat(fout.fileno()).st_size != size:
            fout.truncate(size)
        # Outside the data ranges of both files both read as zeros: nothing to compare there.
        for start, end in _merge(_extents(fin.fileno(), size) + _extents(fout.fileno(), size)):
            for offset in range(start, end, BLOCK):
                n = min(BLOCK, end - offset)
                a, b = (full_a, full_b) if n == BLOCK else (bytearray(n), bytearray(n))
                got_a, got_b = os.preadv(fin.fileno(), [a], offset), os.preadv(fout.fileno(), [b], offset)
                if got_a != got_b or a != b:  # bytearray == is memcmp (a memoryview compares per item)
                    os.pwrite(fout.fileno(), memoryview(a)[:got_a], offset)
                    written += got_a
    return written


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged
