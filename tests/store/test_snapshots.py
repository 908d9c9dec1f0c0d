"""Collection snapshots on real store processes: create, list, download, delete, recover from a
file, a URL or an upload; consistency under concurrent writes; damaged files refused; kill -9."""

from __future__ import annotations

import asyncio
import hashlib
import tarfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import numpy as np
import pytest
from qdrant_client import QdrantClient
from qdrant_client import models as m

from rgw.procs import wait_until

if TYPE_CHECKING:
    from tests.store.conftest import RunningStore, StartStore

VECTORS = {"text": m.VectorParams(size=8, distance=m.Distance.COSINE),
           "image": m.VectorParams(size=3, distance=m.Distance.DOT)}


def _fill(client: QdrantClient, name: str, ids: range, tag: str = "v1") -> None:
    rng = np.random.default_rng(ids.start)
    points = [m.PointStruct(id=i, vector={"text": rng.standard_normal(8).tolist(), "image": [i, 1.0, -1.0]},
                            payload={"i": i, "tag": tag, "nested": {"even": i % 2 == 0}}) for i in ids]
    for start in range(0, len(points), 200):
        client.upsert(name, points[start:start + 200], wait=True)


def _contents(client: QdrantClient, name: str) -> dict[Any, tuple[Any, Any]]:
    """Every point of a collection: id -> (payload, vectors)."""
    found: dict[Any, tuple[Any, Any]] = {}
    offset = None
    while True:
        records, offset = client.scroll(name, limit=500, offset=offset, with_payload=True, with_vectors=True)
        found.update({r.id: (r.payload, r.vector) for r in records})
        if offset is None:
            return found


def _snapshot_path(store: RunningStore, collection: str, snapshot: str) -> Path:
    return store.data / "snapshots" / collection / snapshot


def _upload(url: str, data: bytes | Path, **params: str) -> tuple[int, Any]:
    """POST a snapshot as multipart/form-data (field `snapshot`), as qdrant-client and curl do."""

    async def go() -> tuple[int, Any]:
        form = aiohttp.FormData()
        payload = data.open("rb") if isinstance(data, Path) else data
        form.add_field("snapshot", payload, filename="upload.snapshot", content_type="application/octet-stream")
        timeout = aiohttp.ClientTimeout(total=120)
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.post(url, params=params, data=form) as resp:
            return resp.status, await resp.json()

    return asyncio.run(go())


def test_snapshot_round_trip(store: RunningStore, client: QdrantClient, name: str) -> None:
    client.create_collection(name, vectors_config=VECTORS)
    client.create_payload_index(name, "i", m.PayloadSchemaType.INTEGER, wait=True)
    _fill(client, name, range(300))
    client.delete(name, m.PointIdsList(points=[7, 8]), wait=True)
    expected = _contents(client, name)

    snapshot = client.create_snapshot(name)
    assert snapshot is not None and snapshot.name.startswith(f"{name}-") and snapshot.name.endswith(".snapshot")
    path = _snapshot_path(store, name, snapshot.name)
    assert snapshot.size == path.stat().st_size
    assert snapshot.checksum == hashlib.sha256(path.read_bytes()).hexdigest()
    assert [s.name for s in client.list_snapshots(name)] == [snapshot.name]

    copy = f"{name}_copy"
    assert client.recover_snapshot(copy, location=path.as_uri(), checksum=snapshot.checksum, wait=True)
    assert _contents(client, copy) == expected
    assert client.get_collection(copy).config.params.vectors == VECTORS
    assert "i" in client.get_collection(copy).payload_schema
    # The recovered collection takes writes.
    client.upsert(copy, [m.PointStruct(id=1000, vector={"text": [1.0] * 8, "image": [1, 2, 3]})], wait=True)
    assert client.count(copy).count == len(expected) + 1

    assert client.delete_snapshot(name, snapshot.name, wait=True)
    assert client.list_snapshots(name) == []
    assert not path.exists()


def test_download_and_recover_from_url(store: RunningStore, client: QdrantClient, name: str) -> None:
    client.create_collection(name, vectors_config=VECTORS)
    _fill(client, name, range(50))
    snapshot = client.create_snapshot(name)
    assert snapshot is not None
    url = f"{store.url}/collections/{name}/snapshots/{snapshot.name}"
    with urllib.request.urlopen(url, timeout=30) as resp:
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert hashlib.sha256(resp.read()).hexdigest() == snapshot.checksum

    assert client.recover_snapshot(f"{name}_web", location=url, wait=True)
    assert _contents(client, f"{name}_web") == _contents(client, name)


def test_wait_false_answers_accepted(store: RunningStore, client: QdrantClient, name: str) -> None:
    client.create_collection(name, vectors_config=VECTORS)
    _fill(client, name, range(20))
    status, body = store.http("POST", f"/collections/{name}/snapshots?wait=false")
    assert (status, body["status"]) == (202, "accepted")
    wait_until(lambda: len(client.list_snapshots(name)) == 1, 30, what="the background snapshot")
    [snapshot] = client.list_snapshots(name)
    location = _snapshot_path(store, name, snapshot.name).as_uri()
    status, body = store.http("PUT", f"/collections/{name}_bg/snapshots/recover?wait=false", {"location": location})
    assert (status, body["status"]) == (202, "accepted")
    wait_until(lambda: client.collection_exists(f"{name}_bg"), 30, what="the background recovery")
    assert client.count(f"{name}_bg").count == 20


def test_snapshot_holds_every_write_acknowledged_before_it(store: RunningStore, client: QdrantClient,
                                                           name: str) -> None:
    client.create_collection(name, vectors_config=VECTORS)
    acknowledged: list[tuple[float, int]] = []  # (time of the acknowledgement, last id of the batch)
    stop = threading.Event()

    def writer() -> None:
        own = store.client()
        next_id = 0
        while not stop.is_set():
            batch = [m.PointStruct(id=i, vector={"text": [1.0] * 8, "image": [i, 0, 0]}, payload={"i": i})
                     for i in range(next_id, next_id + 50)]
            own.upsert(name, batch, wait=True)
            acknowledged.append((time.monotonic(), next_id + 49))
            next_id += 50
        own.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_until(lambda: len(acknowledged) >= 20, 30, what="writes before the snapshot")
        asked = time.monotonic()
        snapshot = client.create_snapshot(name)
        wait_until(lambda: len(acknowledged) >= 20 + 10, 30, what="writes after the snapshot")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert snapshot is not None
    before = max(last for acked, last in acknowledged if acked < asked)

    client.recover_snapshot(f"{name}_at", location=_snapshot_path(store, name, snapshot.name).as_uri(), wait=True)
    recovered = _contents(client, f"{name}_at")
    assert set(range(before + 1)) <= set(recovered)
    assert all(recovered[i][0] == {"i": i} for i in range(before + 1))
    assert len(recovered) < len(_contents(client, name))  # writes went on during and after it


def test_recover_replaces_an_existing_collection_while_it_is_read(store: RunningStore, client: QdrantClient,
                                                                  name: str) -> None:
    client.create_collection(name, vectors_config=VECTORS)
    _fill(client, name, range(200))
    original = _contents(client, name)
    snapshot = client.create_snapshot(name)
    assert snapshot is not None
    location = _snapshot_path(store, name, snapshot.name).as_uri()

    client.delete(name, m.PointIdsList(points=list(range(0, 100))), wait=True)
    _fill(client, name, range(500, 700), tag="v2")
    client.set_payload(name, {"tag": "changed"}, points=[150], wait=True)

    failures: list[str] = []
    counts: set[int] = set()
    reads = 0
    reading, stop = threading.Event(), threading.Event()

    def reader() -> None:
        nonlocal reads
        own = store.client()
        while not stop.is_set():
            try:
                counts.add(own.count(name, exact=True).count)
                own.query_points(name, query=[1.0] * 8, using="text", limit=3)
                reads += 1
                reading.set()
            except Exception as exc:
                failures.append(repr(exc))
        own.close()

    thread = threading.Thread(target=reader)
    thread.start()
    reads_while_recovering = 0
    try:
        assert reading.wait(timeout=30), f"the reader never read: {failures[:3]}"
        for _ in range(3):
            before = reads
            assert client.recover_snapshot(name, location=location, wait=True)
            reads_while_recovering += reads - before
    finally:
        stop.set()
        thread.join(timeout=30)
    assert failures == []
    assert reads_while_recovering > 0, "no read overlapped a recovery: the test proved nothing"
    assert 300 in counts and counts <= {200, 300}  # the old collection or the new one, nothing else
    assert _contents(client, name) == original


def test_upload_larger_than_the_request_limit(start_store: StartStore) -> None:
    store = start_store(env={"RGW_STORE_INDEX_THRESHOLD": "100000000"})
    client = store.client()
    client.create_collection("big", vectors_config=m.VectorParams(size=768, distance=m.Distance.DOT))
    rng = np.random.default_rng(1)
    for start in range(0, 11_500, 500):
        vectors = rng.standard_normal((500, 768), dtype=np.float32)
        client.upsert("big", [m.PointStruct(id=start + i, vector=vectors[i].tolist(), payload={"n": start + i})
                              for i in range(500)], wait=True)
    snapshot = client.create_snapshot("big")
    assert snapshot is not None and snapshot.size > 32 * 1024 * 1024  # Qdrant's request size limit
    path = _snapshot_path(store, "big", snapshot.name)

    status, body = _upload(f"{store.url}/collections/restored/snapshots/upload", path,
                           wait="true", priority="snapshot", checksum=snapshot.checksum)
    assert (status, body["result"]) == (200, True), body
    assert client.count("restored").count == 11_500
    [original] = client.retrieve("big", [4321], with_vectors=True)
    [restored] = client.retrieve("restored", [4321], with_vectors=True)
    assert (restored.payload, restored.vector) == (original.payload, original.vector)


def test_damaged_snapshots_are_refused_and_change_nothing(store: RunningStore, client: QdrantClient,
                                                          name: str, tmp_path: Path) -> None:
    client.create_collection(name, vectors_config=VECTORS)
    _fill(client, name, range(100))
    snapshot = client.create_snapshot(name)
    assert snapshot is not None
    good = _snapshot_path(store, name, snapshot.name).read_bytes()
    client.delete(name, m.PointIdsList(points=[1]), wait=True)  # so that a recovery would show
    before = _contents(client, name)

    with tarfile.open(_snapshot_path(store, name, snapshot.name)) as tar:
        biggest = max(tar.getmembers(), key=lambda member: member.size)
    flipped = bytearray(good)
    flipped[biggest.offset_data + biggest.size // 2] ^= 0x01
    not_ours = tmp_path / "plain.tar"
    with tarfile.open(not_ours, "w") as tar:
        tar.add(__file__, arcname="README")
    damaged = {
        "flipped": (bytes(flipped), "damaged"),
        "truncated": (good[: len(good) // 2], "truncated"),
        "garbage": (b"this is not a tar file" * 100, "corrupt"),
        "empty": (b"", "corrupt"),
        "not_ours": (not_ours.read_bytes(), "not a region store snapshot"),
    }
    for label, (data, why) in damaged.items():
        file = tmp_path / f"{label}.snapshot"
        file.write_bytes(data)
        status, body = store.http("PUT", f"/collections/{name}/snapshots/recover", {"location": file.as_uri()})
        assert status == 400 and why in body["status"]["error"], (label, body)
        status, body = _upload(f"{store.url}/collections/{name}/snapshots/upload", data)
        assert status == 400 and why in body["status"]["error"], (label, body)

    status, body = store.http("PUT", f"/collections/{name}/snapshots/recover",
                              {"location": _snapshot_path(store, name, snapshot.name).as_uri(), "checksum": "ab" * 32})
    assert status == 400 and "checksum mismatch" in body["status"]["error"]
    status, body = _upload(f"{store.url}/collections/{name}/snapshots/upload", good, checksum="cd" * 32)
    assert status == 400 and "checksum mismatch" in body["status"]["error"]

    assert _contents(client, name) == before
    assert not client.collection_exists(f"{name}_never")
    status, _ = store.http("PUT", f"/collections/{name}_never/snapshots/recover",
                           {"location": (tmp_path / "truncated.snapshot").as_uri()})
    assert status == 400 and not client.collection_exists(f"{name}_never")
    assert list((store.data / "staging").iterdir()) == []


def test_refusals(store: RunningStore, client: QdrantClient, name: str) -> None:
    missing = f"{name}_missing"
    for method, path in [("POST", f"/collections/{missing}/snapshots"), ("GET", f"/collections/{missing}/snapshots"),
                         ("GET", f"/collections/{missing}/snapshots/x.snapshot"),
                         ("DELETE", f"/collections/{missing}/snapshots/x.snapshot")]:
        status, body = store.http(method, path)
        assert status == 404 and f"Collection `{missing}` doesn't exist!" in body["status"]["error"], (method, path)

    client.create_collection(name, vectors_config=VECTORS)
    status, body = store.http("GET", f"/collections/{name}/snapshots/nope.snapshot")
    assert status == 404 and "nope.snapshot" in body["status"]["error"]
    status, _ = store.http("DELETE", f"/collections/{name}/snapshots/nope.snapshot")
    assert status == 404
    for sneaky in ["..%2F..%2Fcollections%2F" + name + "%2FCURRENT", "..%2F..%2Fx.snapshot", ".hidden.snapshot"]:
        status, body = store.http("GET", f"/collections/{name}/snapshots/{sneaky}")
        assert status in (400, 404) and isinstance(body, dict), sneaky

    status, body = store.http("PUT", f"/collections/{name}/snapshots/recover", {"location": "file:///no/such.snapshot"})
    assert status == 404 and "/no/such.snapshot" in body["status"]["error"]
    status, body = store.http("PUT", f"/collections/{name}/snapshots/recover", {"location": "ftp://host/x.snapshot"})
    assert status == 400 and "file://, http:// or https://" in body["status"]["error"]
    status, body = store.http("PUT", f"/collections/{name}/snapshots/recover", {"checksum": "x"})
    assert status == 400 and "location" in body["status"]["error"]
    status, body = store.http("PUT", f"/collections/{name}/snapshots/recover",
                              {"location": "file:///x", "priority": "sometimes"})
    assert status == 400 and "priority" in body["status"]["error"]
    status, body = store.http("POST", f"/collections/{name}/snapshots?wait=maybe")
    assert status == 400 and "wait" in body["status"]["error"]
    status, body = store.http("POST", f"/collections/{name}/snapshots/upload", b"{}")
    assert status == 400 and "multipart/form-data" in body["status"]["error"]
    assert client.list_snapshots(name) == []


@pytest.mark.timeout(120)
def test_recovered_collection_survives_kill_9(start_store: StartStore) -> None:
    store = start_store()
    client = store.client()
    client.create_collection("kept", vectors_config=VECTORS)
    _fill(client, "kept", range(150))
    expected = _contents(client, "kept")
    snapshot = client.create_snapshot("kept")
    assert snapshot is not None
    location = _snapshot_path(store, "kept", snapshot.name).as_uri()
    client.delete("kept", m.PointIdsList(points=list(range(100))), wait=True)
    _fill(client, "kept", range(1000, 1100), tag="later")

    assert client.recover_snapshot("kept", location=location, wait=True)
    assert client.recover_snapshot("fresh", location=location, wait=True)
    store.proc.kill()  # SIGKILL right after the acknowledgements: no flush, no clean shutdown

    restarted = start_store(data=store.data)
    client = restarted.client()
    assert _contents(client, "kept") == expected
    assert _contents(client, "fresh") == expected
    assert list((store.data / "replacing").iterdir()) == []
