"""Authentication and authorization end to end: real qdrant-client against the real gateway with [auth] on."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from rgw.procs import wait_until
from rgw.topology import Topology, local_topology
from tests.http.raw import read_response
from tests.proxy.helpers import DIM

KEY = "full-key-0123456789abcdef0123456789abcdef"
ALT = "alt-key-0123456789abcdef0123456789abcdef0"
RO = "read-only-key-0123456789abcdef"
METRICS = "metrics-token-0123456789abcdef"
ADMIN = "admin-token-0123456789"
REGION_KEY = "region-secret-never-shown"
AUTH = f"""
[auth]
api_key = "{KEY}"
alt_api_key = "{ALT}"
read_only_api_key = "{RO}"
jwt_rbac = true
metrics_token = "{METRICS}"

[auth.rate_limit.credentials."jwt:limited"]
requests_per_s = 2.0
burst = 3
"""


def token(claims: dict, secret: str = KEY, ttl: float = 600) -> str:
    return jwt.encode({"exp": int(time.time() + ttl), **claims}, secret, algorithm="HS256")


def client(url: str, **kwargs: object) -> QdrantClient:
    return QdrantClient(url=url, prefer_grpc=False, timeout=30, check_compatibility=False, **kwargs)


def status_of(call) -> int:
    with pytest.raises(UnexpectedResponse) as caught:
        call()
    return caught.value.status_code


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    topo = local_topology(tmp_path_factory.mktemp("auth"), extra_config=AUTH)
    topo.gateway.env["RGW_ADMIN_TOKEN"] = ADMIN
    topo.start()
    # The regions carry a key of their own in the config (the stores ignore it): it must never show.
    try:
        full = client(topo.gateway_url, api_key=KEY)
        for name, first in (("alpha", 0), ("beta", 100)):  # ids tell whose answer a client got
            full.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))
            full.upsert(name, wait=True, points=[
                models.PointStruct(id=first + i, vector=[float((i + j) % 5) + 0.5 for j in range(DIM)],
                                   payload={"owner": name, "n": i}) for i in range(20)])
        full.close()
        yield topo
    finally:
        topo.stop()


def journal_head(url: str) -> int:
    return httpx.get(f"{url}/gateway/status", headers={"api-key": RO}).json()["journal"]["head_lsn"]


QUERY = [0.5] * DIM


def test_no_key_and_a_wrong_key_are_401_in_qdrants_shape(gw: Topology) -> None:
    assert status_of(lambda: client(gw.gateway_url).get_collections()) == 401
    assert status_of(lambda: client(gw.gateway_url, api_key="not-the-key").get_collections()) == 401
    answer = httpx.post(f"{gw.gateway_url}/collections/alpha/points/query", json={"query": QUERY})
    assert answer.status_code == 401
    assert answer.json()["status"]["error"] == "Unauthorized: Must provide an API key or an Authorization bearer token"
    answer = httpx.get(f"{gw.gateway_url}/collections", headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401 and answer.json()["status"]["error"] == "Unauthorized: Invalid API key or JWT"


def test_root_and_probes_stay_open(gw: Topology) -> None:
    for path in ("/", "/healthz", "/livez", "/readyz"):
        assert httpx.get(gw.gateway_url + path).status_code == 200, path


def test_read_only_key_reads_and_cannot_write_nothing_journaled(gw: Topology) -> None:
    ro = client(gw.gateway_url, api_key=RO)
    assert {c.name for c in ro.get_collections().collections} >= {"alpha", "beta"}
    assert len(ro.query_points("alpha", query=QUERY, limit=3).points) == 3
    assert ro.count("alpha", exact=True).count == 20
    assert ro.retrieve("alpha", ids=[1])[0].payload["owner"] == "alpha"
    assert ro.scroll("alpha", limit=5)[0]
    head = journal_head(gw.gateway_url)
    assert status_of(lambda: ro.upsert("alpha", points=[models.PointStruct(id=99, vector=QUERY)])) == 403
    assert status_of(lambda: ro.delete_collection("alpha")) == 403
    assert status_of(lambda: ro.create_collection("gamma", vectors_config=models.VectorParams(
        size=DIM, distance=models.Distance.COSINE))) == 403
    assert journal_head(gw.gateway_url) == head  # nothing refused was journaled
    assert ro.count("alpha", exact=True).count == 20
    ro.close()


def test_full_key_and_the_alt_key_do_everything(gw: Topology, tmp_path: Path) -> None:
    for key, name in ((KEY, "full-made"), (ALT, "alt-made")):
        c = client(gw.gateway_url, api_key=key)
        c.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))
        c.upsert(name, wait=True, points=[models.PointStruct(id=1, vector=QUERY, payload={"k": key[:3]})])
        assert c.query_points(name, query=QUERY, limit=1).points[0].id == 1
        assert c.delete_collection(name)
        c.close()
    # The alt key exists for rotation: a client on the old key and one on the new both work at once.
    assert client(gw.gateway_url, api_key=ALT).count("alpha").count == 20
    log = (gw.base / "logs" / "gateway.log").read_text()
    lines = [json.loads(line.partition("rgw.audit: ")[2]) for line in log.splitlines() if "rgw.audit: " in line]
    upserts = [a for a in lines if a["op"] == "upsert_points" and a["collection"] in ("full-made", "alt-made")]
    assert {a["by"] for a in upserts} == {"api_key", "alt_api_key"}
    assert all(a["result"] == 200 and isinstance(a["lsn"], int) for a in upserts)
    assert any(a["by"] == "read_only_api_key" and a["result"] == 403 for a in lines)
    for secret in (KEY, ALT, RO, METRICS, ADMIN):
        assert secret not in log


def test_jwt_expired_and_wrongly_signed_are_refused_as_qdrant_does(gw: Topology) -> None:
    assert client(gw.gateway_url, api_key=token({"access": "r"})).count("alpha").count == 20
    assert client(gw.gateway_url, auth_token_provider=lambda: token({"access": "r"})).count("alpha").count == 20
    assert client(gw.gateway_url, api_key=token({"access": "m"}, ALT)).count("alpha").count == 20
    expired = token({"access": "m"}, ttl=-60)  # beyond the 30 s leeway
    assert status_of(lambda: client(gw.gateway_url, api_key=expired).count("alpha")) == 403
    within_leeway = token({"access": "r"}, ttl=-10)
    assert client(gw.gateway_url, api_key=within_leeway).count("alpha").count == 20
    forged = token({"access": "m"}, "some-other-secret-0123456789abcdef")
    assert status_of(lambda: client(gw.gateway_url, api_key=forged).count("alpha")) == 403
    no_exp = jwt.encode({"access": "m"}, KEY, algorithm="HS256")
    assert status_of(lambda: client(gw.gateway_url, api_key=no_exp).count("alpha")) == 401
    reader = client(gw.gateway_url, api_key=token({"access": "r"}))
    assert status_of(lambda: reader.upsert("alpha", points=[models.PointStruct(id=98, vector=QUERY)])) == 403


def test_scoped_token_reads_its_collection_only_and_lists_only_it(gw: Topology) -> None:
    scoped = client(gw.gateway_url, api_key=token({"access": [{"collection": "alpha", "access": "r"}],
                                                   "sub": "alice"}))
    assert len(scoped.query_points("alpha", query=QUERY, limit=2).points) == 2
    assert status_of(lambda: scoped.query_points("beta", query=QUERY, limit=2)) == 403
    assert status_of(lambda: scoped.get_collection("beta")) == 403
    assert [c.name for c in scoped.get_collections().collections] == ["alpha"]
    assert status_of(lambda: scoped.upsert("alpha", points=[models.PointStruct(id=97, vector=QUERY)])) == 403
    assert status_of(lambda: scoped.delete_collection("alpha")) == 403
    assert status_of(lambda: scoped.create_collection("alpha2", vectors_config=models.VectorParams(
        size=DIM, distance=models.Distance.COSINE))) == 403
    # The gateway's own search endpoint follows the same rules.
    body = {"vector": QUERY, "limit": 2}
    headers = {"api-key": token({"access": [{"collection": "alpha", "access": "r"}]})}
    search = f"{gw.gateway_url}/gateway/collections/{{}}/search"
    assert httpx.post(search.format("alpha"), json=body, headers=headers).status_code == 200
    assert httpx.post(search.format("beta"), json=body, headers=headers).status_code == 403
    writer = client(gw.gateway_url, api_key=token({"access": [{"collection": "alpha", "access": "rw"}]}))
    head = journal_head(gw.gateway_url)
    writer.upsert("alpha", wait=True, points=[models.PointStruct(id=96, vector=QUERY)])
    writer.delete("alpha", points_selector=models.PointIdsList(points=[96]), wait=True)
    assert journal_head(gw.gateway_url) == head + 2
    assert status_of(lambda: writer.upsert("beta", points=[models.PointStruct(id=96, vector=QUERY)])) == 403
    assert status_of(lambda: writer.delete_collection("alpha")) == 403
    aliases = httpx.get(f"{gw.gateway_url}/aliases", headers=headers)
    assert aliases.status_code == 200 and aliases.json()["result"]["aliases"] == []


def test_a_cached_answer_of_one_collection_never_reaches_a_token_scoped_to_another(gw: Topology) -> None:
    full = client(gw.gateway_url, api_key=KEY)
    body = {"query": QUERY, "limit": 3}
    admin = {"Authorization": f"Bearer {ADMIN}"}
    # A forced cache mode serves fresh entries only: give alpha's entries a freshness window.
    policy = httpx.put(f"{gw.gateway_url}/gateway/admin/policies/alpha", json={"cache_ttl_s": 120}, headers=admin)
    assert policy.status_code == 200, policy.text
    first = httpx.post(f"{gw.gateway_url}/collections/alpha/points/query", json=body, headers={"api-key": KEY})
    assert first.status_code == 200  # a full answer: now in the cache
    forced = httpx.post(f"{gw.gateway_url}/gateway/admin/collections/alpha/mode", json={"source": "cache"},
                        headers=admin)
    assert forced.status_code == 200, forced.text
    try:
        alpha_reader = {"api-key": token({"access": [{"collection": "alpha", "access": "r"}]})}
        beta_reader = {"api-key": token({"access": [{"collection": "beta", "access": "r"}]})}
        cached = httpx.post(f"{gw.gateway_url}/collections/alpha/points/query", json=body, headers=alpha_reader)
        assert cached.status_code == 200 and cached.headers["X-Gateway-Source"] == "cache"
        assert cached.json()["result"] == first.json()["result"]
        refused = httpx.post(f"{gw.gateway_url}/collections/alpha/points/query", json=body, headers=beta_reader)
        assert refused.status_code == 403 and "X-Gateway-Source" not in refused.headers
        assert "Access to collection alpha is required" in refused.json()["status"]["error"]
        # The same request on its own collection is answered by a region, never from alpha's entry.
        own = httpx.post(f"{gw.gateway_url}/collections/beta/points/query", json=body, headers=beta_reader)
        assert own.status_code == 200 and own.headers["X-Gateway-Source"] in ("primary", "secondary")
        ids = {p["id"] for p in own.json()["result"]["points"]}
        assert ids and all(100 <= i < 120 for i in ids), ids
    finally:
        httpx.post(f"{gw.gateway_url}/gateway/admin/collections/alpha/mode", json={"source": "auto"}, headers=admin)
        httpx.delete(f"{gw.gateway_url}/gateway/admin/policies/alpha", headers=admin)
        full.close()


def test_status_and_metrics_need_a_read_credential_or_the_metrics_token(gw: Topology) -> None:
    url = gw.gateway_url
    for path in ("/gateway/status", "/gateway/policies", "/metrics"):
        assert httpx.get(url + path).status_code == 401, path
        assert httpx.get(url + path, headers={"api-key": METRICS}).status_code in (200, 404), path
        assert httpx.get(url + path, headers={"api-key": RO}).status_code in (200, 404), path
        scoped = {"api-key": token({"access": [{"collection": "alpha", "access": "r"}]})}
        assert httpx.get(url + path, headers=scoped).status_code == 403, path  # it names every collection
    assert httpx.get(url + "/collections", headers={"api-key": METRICS}).status_code == 403
    status = httpx.get(url + "/gateway/status", headers={"Authorization": f"Bearer {METRICS}"})
    assert status.status_code == 200
    for secret in (KEY, ALT, RO, METRICS, ADMIN):
        assert secret not in status.text


def test_admin_api_takes_the_admin_token_or_a_global_manage_credential(gw: Topology) -> None:
    url = f"{gw.gateway_url}/gateway/admin/policies/alpha"
    body = {"cache_ttl_s": 1.0}
    for headers, expected in (({}, 401),
                              ({"Authorization": "Bearer nope"}, 401),
                              ({"Authorization": f"Bearer {ADMIN}"}, 200),
                              ({"Authorization": f"Bearer {token({'access': 'm', 'sub': 'ops'})}"}, 200),
                              ({"api-key": KEY}, 200),
                              ({"api-key": RO}, 403),
                              ({"api-key": token({"access": "r"})}, 403),
                              ({"api-key": token({"access": [{"collection": "alpha", "access": "rw"}]})}, 403)):
        answer = httpx.put(url, json=body, headers=headers)
        assert answer.status_code == expected, (headers, answer.text)
    assert httpx.delete(url, headers={"api-key": KEY}).status_code == 200
    log = (gw.base / "logs" / "gateway.log").read_text()
    audited = [json.loads(line.partition("rgw.audit: ")[2]) for line in log.splitlines() if "rgw.audit: " in line]
    assert any(a["op"] == "set_policy" and a["by"] == "jwt:ops" and a["result"] == 200 for a in audited)
    assert any(a["op"] == "set_policy" and a["by"] == "admin_token" for a in audited)
    assert any(a["op"] == "admin_set_policy" and a["result"] == 403 for a in audited)


def test_rate_limit_answers_429_with_retry_after_and_recovers(gw: Topology) -> None:
    limited = {"api-key": token({"access": "r", "sub": "limited"})}
    url = f"{gw.gateway_url}/collections/alpha/points/count"
    answers = [httpx.post(url, json={}, headers=limited) for _ in range(6)]
    refused = [a for a in answers if a.status_code == 429]
    assert refused and all(a.status_code in (200, 429) for a in answers)
    assert int(refused[0].headers["Retry-After"]) >= 1
    assert refused[0].json()["status"]["error"].startswith("Too many requests: ")
    # Other credentials are not held back by this one's budget.
    assert httpx.post(url, json={}, headers={"api-key": KEY}).status_code == 200
    wait_until(lambda: httpx.post(url, json={}, headers=limited).status_code == 200, timeout=5, interval=0.2,
               what="the rate-limited credential to be served again")


async def test_bytes_no_header_should_carry_get_a_401_not_a_500(gw: Topology) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.gateway_port)
    try:
        for value in (b"\xff\xfe\x80", b"\xc3\x28", "名前".encode(), b"Bearer \xff"):
            writer.write(b"GET /collections HTTP/1.1\r\nHost: t\r\napi-key: " + value + b"\r\n"
                         b"Authorization: Bearer " + value + b"\r\n\r\n")
            answer = await read_response(reader)
            assert answer is not None and answer.status == 401, value
    finally:
        writer.close()
