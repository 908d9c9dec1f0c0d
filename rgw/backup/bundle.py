"""Backup bundles on disk: a region's snapshot of one collection plus a manifest that says what it holds.

    <backups>/<collection>/<bundle id>/
        snapshot              the region's snapshot file, as Qdrant's snapshot API gave it
        manifest.json         see `Manifest`; `manifest_sha256` covers every other field

The manifest names the journal LSN the snapshot holds (every write to the collection at or
below it, none after: the collection was held on the region while the snapshot was taken),
the point count and a content digest taken at that same LSN, the collection's configuration,
policy and access rules (which credentials may read, write and manage it; no secrets), and the
size and sha256 of every file. A bundle is written to `<id>.partial` and
renamed into place when complete, so a listed bundle is a whole one.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from rgw.durable import atomic_write, fsync_dir, sha256_file

FORMAT = 1
MANIFEST = "manifest.json"
SNAPSHOT = "snapshot"
PARTIAL = ".partial"


class BundleError(Exception):
    """A bundle is missing, unreadable or damaged; the message says exactly what is wrong."""


@dataclass(frozen=True)
class FileRecord:
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    id: str
    collection: str
    region: str
    created_at: float  # wall clock, when the snapshot was taken
    lsn: int  # the snapshot holds every journaled write to the collection with LSN <= lsn
    points_count: int
    content_digest: str  # sha256 over every point's id and digest (payload and vectors) at `lsn`
    collection_config: dict[str, Any]  # the region's `config` for the collection (vectors, hnsw...)
    payload_schema: dict[str, Any]  # payload indexes
    policy: dict[str, Any]
    files: dict[str, FileRecord]
    seconds: float = 0.0  # how long taking the backup took
    access: dict[str, Any] = field(default_factory=dict)  # rgw.auth.rules.access_rules; {} in older bundles
    format: int = FORMAT
    manifest_sha256: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def sealed(self) -> Manifest:
        return Manifest(**{**self.__dict__, "manifest_sha256": _manifest_digest(self.as_dict())})


def _manifest_digest(raw: dict[str, Any]) -> str:
    content = {k: v for k, v in raw.items() if k != "manifest_sha256"}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def new_bundle_id(collection: str, now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now or time.time()))
    return f"{collection}-{stamp}-{int((now or time.time()) * 1000) % 1000:03d}"


@dataclass
class Bundle:
    path: Path
    manifest: Manifest

    @property
    def snapshot(self) -> Path:
        return self.path / SNAPSHOT

    def summary(self) -> dict[str, Any]:
        m = self.manifest
        return {"id": m.id, "collection": m.collection, "region": m.region, "created_at": m.created_at,
                "lsn": m.lsn, "points_count": m.points_count, "size_bytes": sum(f.size for f in m.files.values()),
                "path": str(self.path)}


@dataclass
class BundleStore:
    """The bundles under one directory (the gateway's `data_dir/backups`)."""

    root: Path
    _cache: dict[Path, tuple[int, Bundle]] = field(default_factory=dict)  # manifest mtime, bundle

    def staging(self, collection: str, bundle_id: str) -> Path:
        path = self.root / collection / (bundle_id + PARTIAL)
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def publish(self, staging: Path, manifest: Manifest) -> Bundle:
        sealed = manifest.sealed()
        atomic_write(staging / MANIFEST, orjson.dumps(sealed.as_dict(), option=orjson.OPT_INDENT_2))
        final = staging.with_name(staging.name.removesuffix(PARTIAL))
        staging.rename(final)
        fsync_dir(final.parent)
        return Bundle(final, sealed)

    def list(self, collection: str | None = None) -> list[Bundle]:
        """Complete bundles, oldest first; unreadable ones are left out (`verify` names what is wrong)."""
        out = []
        dirs = [self.root / collection] if collection else sorted(p for p in self.root.glob("*") if p.is_dir())
        for directory in dirs:
            for path in directory.glob("*"):
                if path.is_dir() and not path.name.endswith(PARTIAL):
                    try:
                        out.append(self._load(path))
                    except BundleError:
                        continue
        return sorted(out, key=lambda b: (b.manifest.created_at, b.manifest.id))

    def latest(self, collection: str) -> Bundle:
        bundles = self.list(collection)
        if not bundles:
            raise BundleError(f"no backup of {collection} under {self.root}")
        return bundles[-1]

    def find(self, ref: str) -> Bundle:
        """A bundle by id, or by path."""
        path = Path(ref)
        if path.is_dir():
            return read_bundle(path)
        for bundle in self.list():
            if bundle.manifest.id == ref:
                return bundle
        raise BundleError(f"no bundle {ref!r} under {self.root}")

    def oldest_lsn(self) -> int | None:
        """The lowest LSN any kept bundle restores from: the journal must keep what follows it."""
        bundles = self.list()
        return min(b.manifest.lsn for b in bundles) if bundles else None

    def prune(self, collection: str, keep: int) -> list[str]:
        """Remove all but the newest `keep` bundles of a collection; returns the removed ids."""
        bundles = self.list(collection)
        doomed = bundles[:-keep] if keep > 0 else bundles
        for bundle in doomed:
            shutil.rmtree(bundle.path)
            self._cache.pop(bundle.path, None)
        return [b.manifest.id for b in doomed]

    def _load(self, path: Path) -> Bundle:
        """Read a bundle's manifest once, again only when the file changed."""
        try:
            stamp = (path / MANIFEST).stat().st_mtime_ns
        except FileNotFoundError:
            raise BundleError(f"{path}: no {MANIFEST} (not a bundle, or an incomplete one)") from None
        cached = self._cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        bundle = read_bundle(path)
        self._cache[path] = (stamp, bundle)
        return bundle


def read_bundle(path: Path) -> Bundle:
    """Load a bundle's manifest, checking its own checksum and shape (not the files: see `verify_bundle`)."""
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BundleError(f"{path}: no {MANIFEST} (not a bundle, or an incomplete one)")
    try:
        raw = orjson.loads(manifest_path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise BundleError(f"{manifest_path}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise BundleError(f"{manifest_path}: not a JSON object")
    if raw.get("format") != FORMAT:
        raise BundleError(f"{manifest_path}: format {raw.get('format')!r}, this gateway reads format {FORMAT}")
    if raw.get("manifest_sha256") != _manifest_digest(raw):
        raise BundleError(f"{manifest_path}: manifest checksum mismatch (the manifest was altered or damaged)")
    try:
        files = {name: FileRecord(**record) for name, record in raw["files"].items()}
        manifest = Manifest(**{**raw, "files": files})
    except (KeyError, TypeError) as exc:
        raise BundleError(f"{manifest_path}: malformed manifest ({exc})") from None
    return Bundle(path, manifest)


@dataclass
class Verdict:
    bundle: str
    ok: bool
    problems: list[str]
    checked_bytes: int
    manifest: dict[str, Any] | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify_bundle(path: Path) -> Verdict:
    """Recompute every checksum and check the snapshot archive reads whole; list every problem found."""
    try:
        bundle = read_bundle(path)
    except BundleError as exc:
        return Verdict(str(path), False, [str(exc)], 0, None)
    problems, checked = [], 0
    for name, record in sorted(bundle.manifest.files.items()):
        file = path / name
        if not file.is_file():
            problems.append(f"{name}: missing")
            continue
        size = file.stat().st_size
        if size != record.size:
            problems.append(f"{name}: {size} bytes, the manifest says {record.size} (truncated or replaced)")
            continue
        actual = sha256_file(file)
        checked += size
        if actual != record.sha256:
            problems.append(f"{name}: sha256 {actual[:16]}..., the manifest says {record.sha256[:16]}... "
                            "(the file is damaged)")
    snapshot = path / SNAPSHOT
    if not problems and snapshot.is_file():
        try:
            with tarfile.open(snapshot) as archive:
                if not archive.getmembers():
                    problems.append(f"{SNAPSHOT}: an empty archive")
        except (tarfile.TarError, OSError, EOFError) as exc:
            problems.append(f"{SNAPSHOT}: not a readable snapshot archive ({exc})")
    return Verdict(str(path), not problems, problems, checked, bundle.manifest.as_dict())
