"""The region store's collection snapshot file: writing one, and unpacking and checking one.

A snapshot is an uncompressed POSIX (pax) tar holding, in this order:

    collection.json   the collection's create body (the store's `collection.json`)
    shard/...         the collection's EdgeShard directory, flushed (engine segments + WAL)
    snapshot.json     the manifest, last because it lists what precedes it:
                      {"format": "rgw-store-collection-snapshot", "version": 1,
                       "collection": original name, "created": ISO-8601 UTC,
                       "files": {"<member path>": {"size": bytes, "sha256": hex}, ...}}

Tar only checksums its headers, so the manifest carries a sha256 for every file: any damaged or
missing byte is caught before the snapshot is used, and a truncated file lacks the manifest.
The engine preallocates files (32 MiB WAL and storage pages) that are mostly trailing zeros;
a member stores a file up to its last non-zero byte and `size` restores its full length, so a
snapshot is about as large as the data in it. `sha256` covers the stored bytes.

This is not Qdrant's snapshot format: qdrant-edge can unpack Qdrant shard snapshots but not
write them, and a Qdrant collection snapshot also needs Qdrant's collection config and shard
layout, which this store does not have.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import tarfile
import time
from pathlib import Path, PurePosixPath
from typing import IO, Any

import orjson

from rgw.qdrant.collection import CollectionSpec
from rgw.qdrant.errors import BadRequest

FORMAT = "rgw-store-collection-snapshot"
VERSION = 1
SPEC_MEMBER = "collection.json"
SHARD_MEMBER = "shard"
MANIFEST_MEMBER = "snapshot.json"
_CHUNK = 1 << 20


class InvalidSnapshot(BadRequest):
    """The file is not a usable snapshot; the message says why."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"Bad request: invalid snapshot: {detail}")


class _HashingWriter:
    """A write-only file that hashes what passes through it, so the archive is read only once."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out, self.digest, self.size = out, hashlib.sha256(), 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.out.write(data)


def pack(spec_source: Any, shard: Path, out: Path, collection: str) -> str:
    """Write the snapshot of a collection (its create body and a private, flushed copy of its
    shard) to `out`, fsynced; returns the file's sha256."""
    files: dict[str, dict[str, Any]] = {}
    with out.open("wb") as raw:
        hashing = _HashingWriter(raw)
        with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, SPEC_MEMBER, orjson.dumps(spec_source), files)
            _add_dir(tar, SHARD_MEMBER)
            for path in sorted(shard.rglob("*")):
                member = f"{SHARD_MEMBER}/{path.relative_to(shard).as_posix()}"
                if path.is_dir():
                    _add_dir(tar, member)
                elif path.is_file():
                    _add_file(tar, member, path, files)
            manifest = {"format": FORMAT, "version": VERSION, "collection": collection,
                        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "files": files}
            _add_bytes(tar, MANIFEST_MEMBER, orjson.dumps(manifest, option=orjson.OPT_INDENT_2), None)
        raw.flush()
        os.fsync(raw.fileno())
    return hashing.digest.hexdigest()


def _info(name: str, size: int, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.type, info.mtime = size, kind, int(time.time())
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    tar.addfile(_info(name, 0, tarfile.DIRTYPE))


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, files: dict[str, dict[str, Any]] | None) -> None:
    tar.addfile(_info(name, len(data), tarfile.REGTYPE), io.BytesIO(data))
    if files is not None:
        files[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _add_file(tar: tarfile.TarFile, name: str, path: Path, files: dict[str, dict[str, Any]]) -> None:
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        stored = _content_length(f, size)
        f.seek(0)
        reader = _HashingReader(f, stored)
        tar.addfile(_info(name, stored, tarfile.REGTYPE), reader)
    files[name] = {"size": size, "sha256": reader.digest.hexdigest()}


class _HashingReader:
    """Reads the first `limit` bytes of a file, hashing them on the way into the tar."""

    def __init__(self, f: IO[bytes], limit: int) -> None:
        self.f, self.left, self.digest = f, limit, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        size = self.left if size < 0 else min(size, self.left)
        data = self.f.read(size)
        self.left -= len(data)
        self.digest.update(data)
        return data


def _content_length(f: IO[bytes], size: int) -> int:
    """Length of the file without its trailing zeros; holes are skipped without reading them."""
    end = _data_end(f.fileno(), size)
    while end > 0:
        start = max(0, end - _CHUNK)
        f.seek(start)
        kept = f.read(end - start).rstrip(b"\0")
        if kept:
            return start + len(kept)
        end = start
    return 0


def _data_end(fd: int, size: int) -> int:
    """End of the file's last data extent (its size where the filesystem cannot tell)."""
    if not hasattr(os, "SEEK_DATA"):
        return size
    end = offset = 0
    try:
        while offset < size:
            offset = os.lseek(fd, os.lseek(fd, offset, os.SEEK_DATA), os.SEEK_HOLE)
            end = offset
    except OSError as exc:
        if exc.errno != errno.ENXIO:  # ENXIO: no data after offset; else the filesystem cannot say
            return size
    return min(end, size)


def unpack(archive: Path, dest: Path) -> tuple[CollectionSpec, dict[str, Any]]:
    """Unpack `archive` into `dest` (which must not exist) and check it whole: every member a
    plain file or directory inside `dest`, every file as the manifest lists it. Returns the
    collection spec and the manifest; raises InvalidSnapshot naming the problem."""
    dest.mkdir(parents=True)
    seen: dict[str, tuple[int, str]] = {}
    try:
        with tarfile.open(archive, mode="r|") as tar:
            for member in tar:
                _extract(tar, member, dest, seen)
    except tarfile.TarError as exc:
        raise InvalidSnapshot(f"corrupt or truncated archive ({exc})") from None
    except EOFError:
        raise InvalidSnapshot("truncated archive") from None
    if MANIFEST_MEMBER not in seen:
        raise InvalidSnapshot(f"no {MANIFEST_MEMBER}: not a region store snapshot, or truncated")
    manifest = _manifest((dest / MANIFEST_MEMBER).read_bytes())
    del seen[MANIFEST_MEMBER]
    _check_files(manifest["files"], seen, dest)
    try:
        spec = CollectionSpec.parse(orjson.loads((dest / SPEC_MEMBER).read_bytes()))
    except (BadRequest, orjson.JSONDecodeError) as exc:
        raise InvalidSnapshot(f"{SPEC_MEMBER} is not a valid collection: {exc}") from None
    if not (dest / SHARD_MEMBER).is_dir():
        raise InvalidSnapshot(f"no {SHARD_MEMBER}/ directory")
    (dest / MANIFEST_MEMBER).unlink()
    return spec, manifest


def _extract(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, seen: dict[str, tuple[int, str]]) -> None:
    name = _member_path(member.name)
    target = dest / name
    if member.isdir():
        target.mkdir(parents=True, exist_ok=True)
        return
    if not member.isfile():
        raise InvalidSnapshot(f"member {member.name!r} is neither a file nor a directory")
    if name in seen:
        raise InvalidSnapshot(f"member {member.name!r} appears twice")
    source = tar.extractfile(member)
    assert source is not None  # a regular file always has data
    digest, size = hashlib.sha256(), 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("xb") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    if size != member.size:
        raise InvalidSnapshot(f"truncated archive (member {member.name!r} is short)")
    seen[name] = (size, digest.hexdigest())


def _member_path(name: str) -> str:
    """A member's path relative to the archive root, refusing anything that could land outside it."""
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or any(part in ("", ".", "..") for part in path.parts) or "\\" in name:
        raise InvalidSnapshot(f"member {name!r} has an unsafe path")
    top = path.parts[0]
    if top not in (SPEC_MEMBER, SHARD_MEMBER, MANIFEST_MEMBER) or (top != SHARD_MEMBER and len(path.parts) > 1):
        raise InvalidSnapshot(f"unexpected member {name!r}: not a region store snapshot")
    return path.as_posix()


def _manifest(raw: bytes) -> dict[str, Any]:
    try:
        manifest = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidSnapshot(f"{MANIFEST_MEMBER} is damaged ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidSnapshot(f"{MANIFEST_MEMBER} does not describe a region store snapshot")
    if manifest.get("version") != VERSION:
        raise InvalidSnapshot(f"format version {manifest.get('version')!r} is not supported (expected {VERSION})")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(
            isinstance(entry, dict) and isinstance(entry.get("size"), int) and isinstance(entry.get("sha256"), str)
            for entry in files.values()):
        raise InvalidSnapshot(f"{MANIFEST_MEMBER} is damaged (bad file list)")
    return manifest


def _check_files(listed: dict[str, dict[str, Any]], seen: dict[str, tuple[int, str]], dest: Path) -> None:
    """Every listed file present with its checksum, nothing unlisted; then restore full lengths."""
    if missing := sorted(set(listed) - set(seen)):
        raise InvalidSnapshot(f"truncated archive ({len(missing)} files missing, e.g. {missing[0]!r})")
    if extra := sorted(set(seen) - set(listed)):
        raise InvalidSnapshot(f"member {extra[0]!r} is not in the manifest")
    for name, (stored, sha) in seen.items():
        entry = listed[name]
        if sha != entry["sha256"]:
            raise InvalidSnapshot(f"checksum mismatch in {name!r}: the file is damaged")
        if entry["size"] < stored:
            raise InvalidSnapshot(f"{name!r} is longer than the manifest says")
        if entry["size"] > stored:
            os.truncate(dest / name, entry["size"])  # the trailing zeros left out when packing
