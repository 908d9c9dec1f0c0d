"""The read race and outlier detection on virtual time: hedges, per-try timeouts, retry order, ejections.

Each test scripts two regions (tests/regions/virtual.py) and reads through the real ReadRouter
and HealthBook; the clock is the loop's, so every timing is asserted exactly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from rgw.regions.attempts import Mode, NoSourceAvailable, Outcome
from rgw.regions.health import HealthBook
from rgw.regions.routing import Answer, ReadRouter
from rgw.settings.config import HealthCheck, OutlierDetection, Routing
from tests.regions.virtual import Caught, FakeRegion, Script, virtual_loop

ROUTING = Routing(per_try_timeout_s=1.0, request_timeout_s=5.0, hedging=True, hedge_delay_ms=50.0)
OUTLIER = OutlierDetection(consecutive_errors=3, base_ejection_s=1.0, max_ejection_s=30.0)


class World:
    def __init__(self, loop: Any, routing: Routing = ROUTING) -> None:
        self.loop = loop
        self.primary = FakeRegion("primary", loop)
        self.secondary = FakeRegion("secondary", loop)
        self.book = HealthBook(["primary", "secondary"], OUTLIER, clock=loop.time)
        self.freshness = Caught()
        self.router = ReadRouter([self.primary, self.secondary], self.book, routing,  # type: ignore[list-item]
                                 self.freshness)

    def read(self, collection: str | None = "docs") -> Answer:
        return self.loop.run_until_complete(self.router.read("POST", "/collections/docs/points/query", b"{}",
                                                             collection))

    def failing_read(self) -> NoSourceAvailable:
        with pytest.raises(NoSourceAvailable) as raised:
            self.read()
        return raised.value

    def at(self, when: float, action: Callable[[], object]) -> None:
        self.loop.call_at(when, action)


def test_a_fast_primary_answers_alone() -> None:
    with virtual_loop() as loop:
        world = World(loop)
        started = loop.time()
        answer = world.read()
        assert (answer.source, answer.mode, answer.reply.status) == ("primary", Mode.NORMAL, 200)
        assert loop.time() - started == pytest.approx(0.01)
        assert world.secondary.exchanges == []


def test_a_slow_primary_is_hedged_at_exactly_the_hedge_delay_and_the_first_answer_wins() -> None:
    with virtual_loop() as loop:
        world = World(loop)
        world.primary.script = Script(delay=0.200)
        world.secondary.script = Script(delay=0.010)
        started = loop.time()
        answer = world.read()
        assert (answer.source, answer.mode) == ("secondary", Mode.FAILOVER)
        [hedge] = world.secondary.exchanges
        assert hedge.started_at - started == pytest.approx(0.050)
        assert loop.time() - started == pytest.approx(0.060)
        [first] = world.primary.exchanges
        assert first.cancelled  # the loser is abandoned
        assert world.book.regions["primary"].consecutive_errors == 0  # losing a hedge is not a failure


def test_the_derived_hedge_delay_follows_the_observed_p99() -> None:
    with virtual_loop() as loop:
        world = World(loop, replace(ROUTING, hedge_delay_ms=None, hedge_latency_factor=2.0, hedge_min_delay_ms=5.0,
                                    hedge_max_delay_ms=250.0))
        assert world.router.hedge_delay(world.primary) == pytest.approx(0.250)  # too little history: hedge late
        world.primary.script = Script(delay=0.020)
        for _ in range(30):
            world.read()
        assert world.router.hedge_delay(world.primary) == pytest.approx(0.040)  # 2 x p99 of 20 ms
        world.primary.script = Script(delay=0.300)
        world.secondary.script = Script(delay=0.001)
        started = loop.time()
        world.read()
        assert world.secondary.exchanges[-1].started_at - started == pytest.approx(0.040)


def test_a_hung_region_times_out_per_try_and_the_next_answers() -> None:
    with virtual_loop() as loop:
        world = World(loop, replace(ROUTING, hedging=False))
        world.primary.script = Script(status=None)  # never answers
        started = loop.time()
        answer = world.read()
        assert answer.source == "secondary"
        assert world.secondary.exchanges[0].started_at - started == pytest.approx(1.0)
        assert [(a.source, a.outcome) for a in answer.attempts] == [("primary", Outcome.TIMEOUT),
                                                                     ("secondary", Outcome.OK)]
        assert world.primary.exchanges[0].cancelled


def test_the_request_deadline_ends_a_read_nobody_answers() -> None:
    with virtual_loop() as loop:
        world = World(loop, replace(ROUTING, hedging=False, per_try_timeout_s=2.0, request_timeout_s=3.0))
        world.primary.script = world.secondary.script = Script(status=None)
        started = loop.time()
        failure = world.failing_read()
        assert loop.time() - started == pytest.approx(3.0)
        assert [(a.source, a.outcome) for a in failure.attempts] == [("primary", Outcome.TIMEOUT),
                                                                      ("secondary", Outcome.TIMEOUT)]


@pytest.mark.parametrize(("status", "outcome", "counted"), [
    (503, Outcome.UNAVAILABLE, True), (502, Outcome.UNAVAILABLE, True), (504, Outcome.UNAVAILABLE, True),
    (500, Outcome.SERVER_ERROR, False), (429, Outcome.OVERLOADED, False)])
def test_retriable_answers_go_to_the_next_region_and_only_gateway_failures_count(status: int, outcome: Outcome,
                                                                                  counted: bool) -> None:
    with virtual_loop() as loop:
        world = World(loop)
        world.primary.script = Script(status=status, body=b'{"status": {"error": "no"}}')
        answer = world.read()
        assert answer.source == "secondary" and answer.attempts[0].outcome is outcome
        assert world.book.regions["primary"].consecutive_errors == (1 if counted else 0)


@pytest.mark.parametrize("status", [400, 403, 409, 422, 501])
def test_a_definitive_answer_is_relayed_and_says_nothing_about_the_region(status: int) -> None:
    with virtual_loop() as loop:
        world = World(loop)
        world.primary.script = Script(status=status, body=b'{"status": {"error": "the request is wrong"}}')
        for _ in range(10):  # far more than consecutive_errors
            answer = world.read()
            assert (answer.source, answer.reply.status) == ("primary", status)
        assert world.secondary.exchanges == []
        health = world.book.regions["primary"]
        assert (health.consecutive_errors, health.ejections, health.requests_failed) == (0, 0, 0)


def test_a_missing_collection_is_asked_elsewhere_and_a_404_only_when_every_region_says_so() -> None:
    missing = b'{"status": {"error": "Not found: Collection `docs` doesn\'t exist!"}}'
    with virtual_loop() as loop:
        world = World(loop)
        world.primary.script = Script(status=404, body=missing)
        assert world.read().source == "secondary"
        world.secondary.script = Script(status=404, body=missing)
        answer = world.read()
        assert answer.reply.status == 404
        assert {a.outcome for a in answer.attempts} == {Outcome.MISSING}


def test_consecutive_failures_eject_for_longer_each_time_and_an_active_check_puts_the_region_on_probation() -> None:
    with virtual_loop() as loop:
        world = World(loop)
        world.primary.script = Script(fails=True)
        health = world.book.regions["primary"]
        for _ in range(3):
            assert world.read().source == "secondary"
        assert health.ejected(loop.time()) and health.ejections == 1
        assert health.ejected_until - loop.time() == pytest.approx(1.0, abs=0.05)
        tried = len(world.primary.exchanges)
        world.read()  # ejected: the secondary first, the primary not asked
        assert len(world.primary.exchanges) == tried
        loop.run_until_complete(asyncio.sleep(1.1))
        for _ in range(3):
            world.read()
        assert health.ejections == 2 and health.ejected_until - loop.time() == pytest.approx(2.0, abs=0.05)
        # A passing active check un-ejects on probation; the next failure ejects again at once.
        world.book.record_check("primary", True, None, HealthCheck())
        assert not health.ejected(loop.time()) and health.half_open
        world.read()
        assert health.ejections == 3 and health.ejected(loop.time())
        # On probation, a success puts it back for good.
        loop.run_until_complete(asyncio.sleep(3.1))
        world.book.record_check("primary", True, None, HealthCheck())
        world.primary.script = Script()
        assert world.read().source == "primary" and not health.half_open


def test_when_every_region_looks_down_each_is_still_tried_in_order() -> None:
    with virtual_loop() as loop:
        world = World(loop)
        for name in ("primary", "secondary"):
            world.book.record_check(name, False, "down", HealthCheck())
            world.book.record_check(name, False, "down", HealthCheck())
            assert world.book.regions[name].active_healthy is False
        answer = world.read()  # panic mode: a stale belief never fails a read
        assert (answer.source, answer.mode) == ("primary", Mode.NORMAL)


def test_a_caught_up_region_is_asked_before_one_that_lags() -> None:
    with virtual_loop() as loop:
        world = World(loop, replace(ROUTING, freshness_wait_s=0.5))
        world.freshness.head = 10
        world.freshness.positions = {"primary": 7, "secondary": 10}
        answer = world.read()
        assert (answer.source, answer.mode) == ("secondary", Mode.FAILOVER)
        assert world.primary.exchanges == []


def test_when_no_region_has_caught_up_the_read_waits_then_takes_a_labelled_stale_answer() -> None:
    with virtual_loop() as loop:
        world = World(loop, replace(ROUTING, freshness_wait_s=0.5))
        world.freshness.head = 10
        world.freshness.positions = {"primary": 7, "secondary": 7}
        started = loop.time()
        answer = world.read()
        assert answer.source == "primary" and answer.staleness_s == 5.0
        assert world.primary.exchanges[0].started_at - started == pytest.approx(0.5)
