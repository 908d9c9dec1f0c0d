"""Taking a backup: one region's snapshot of a collection, at a known journal LSN, into a bundle.

The snapshot and its LSN agree because the collection is held on the region (see
`rgw.journal.holds`) while the snapshot is taken and its points are counted and digested:
the region's copy then holds exactly the writes up to the hold's LSN, whatever clients write
meanwhile (those are journaled, and replayed onto the region when the hold is released).
Other collections on the region, and reads of this one, carry on as usual.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict
from typing import Any

from rgw.auth.rules import access_rules
from rgw.backup import transfer
from rgw.backup.bundle import SNAPSHOT, Bundle, FileRecord, Manifest, new_bundle_id
from rgw.backup.jobs import Job
from rgw.backup.parts import JobFailed, Parts, call, exact_count
from rgw.journal.scan import ordered_ids, scan
from rgw.qdrant.names import collection_path


def content_digest(points: dict[Any, bytes]) -> str:
    """One sha256 over every point's id and digest, in id order."""
    h = hashlib.sha256()
    for point in ordered_ids(points):
        h.update(str(point).encode() + b"\x00" + points[point])
    return h.hexdigest()


def pick_source(parts: Parts, collection: str, region: str | None) -> str:
    if region is not None:
        parts.client(region)
        return region
    fresh = parts.fresh_regions(collection)
    if not fresh:
        raise JobFailed(f"no region serves {collection} with every write applied; name one with --region")
    return fresh[0].name


async def _refuse_if_diverged(parts: Parts, collection: str, region: str) -> None:
    """A region that dead-lettered a write to the collection lacks it: its snapshot would too."""
    letters = await parts.replication.dead_letters_for(region, collection)
    if letters:
        first = letters[0]
        raise JobFailed(f"{region} rejected {len(letters)} write(s) to {collection} (first: lsn {first.lsn}, "
                        f"{first.error}); its copy is incomplete: back up from another region, or restore it first")


async def take_backup(parts: Parts, job: Job, collection: str, region: str) -> Bundle:
    client = parts.client(region)
    region_config = client.region
    await _refuse_if_diverged(parts, collection, region)
    info = await call(client, "GET", collection_path(collection))
    started = time.monotonic()
    bundle_id = new_bundle_id(collection)
    staging = parts.bundles.staging(collection, bundle_id)
    job.enter("holding the collection")
    lsn = await parts.replication.holds.hold(region, collection)
    try:
        job.enter("taking the snapshot")
        description = await transfer.create_snapshot(region_config, collection)
        job.enter("counting and digesting points", total=int(info.get("points_count") or 0), unit="points")
        count = await exact_count(client, collection)
        points = await scan(client, collection, job.counter())
        if points is None:
            raise JobFailed(f"{collection} disappeared from {region} during the backup")
    finally:
        job.enter("releasing the collection")
        await parts.replication.holds.catch_up_and_release(region, collection)
    try:
        job.enter("downloading the snapshot", total=int(description.get("size") or 0) or None, unit="bytes")
        sha256 = await transfer.download_snapshot(region_config, collection, description["name"],
                                                  staging / SNAPSHOT, job.counter())
    finally:
        await transfer.delete_snapshot(region_config, collection, description["name"])
    expected = description.get("checksum")
    if expected and expected != sha256:
        raise JobFailed(f"the snapshot downloaded from {region} has sha256 {sha256}, the region said {expected}")
    manifest = Manifest(
        id=bundle_id, collection=collection, region=region, created_at=time.time(), lsn=lsn,
        points_count=count, content_digest=content_digest(points),
        collection_config=info.get("config") or {}, payload_schema=info.get("payload_schema") or {},
        policy=asdict(parts.operator.policy(collection)),
        files={SNAPSHOT: FileRecord((staging / SNAPSHOT).stat().st_size, sha256)},
        seconds=round(time.monotonic() - started, 3), access=access_rules(parts.auth, collection))
    if len(points) != count:
        raise JobFailed(f"{region} counted {count} points in {collection} but scrolled {len(points)}")
    return parts.bundles.publish(staging, manifest)


async def run_backup(parts: Parts, job: Job, collection: str, region: str) -> dict[str, Any]:
    bundle = await take_backup(parts, job, collection, region)
    _, keep = parts.operator.policy(collection).backup_schedule()
    pruned = parts.bundles.prune(collection, keep)
    job.enter("done")
    return {**bundle.summary(), "seconds": bundle.manifest.seconds, "pruned": pruned,
            "content_digest": bundle.manifest.content_digest}
