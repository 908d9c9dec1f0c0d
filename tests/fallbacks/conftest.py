"""A real journal and a real lexical index per test, in tmp_path; a real region store per session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from rgw.fallbacks.lexical import LexicalIndex
from rgw.fallbacks.lexical_feed import LexicalFeeder
from rgw.journal.log import SqliteJournal, journal_path
from tests.fallbacks.helpers import Collection
from tests.qdrant.conftest import reference  # noqa: F401 - a real region store, shared by the session


@pytest.fixture
async def journal(tmp_path: Path) -> AsyncIterator[SqliteJournal]:
    opened = SqliteJournal(journal_path(tmp_path / "gateway"))
    yield opened
    await opened.close()


@pytest.fixture
def lexical(tmp_path: Path) -> Iterator[LexicalIndex]:
    index = LexicalIndex(tmp_path / "lexical", lambda collection: "text")
    yield index
    index.close()


@pytest.fixture
async def docs(journal: SqliteJournal, lexical: LexicalIndex) -> Collection:
    collection = Collection(journal, lexical)
    await collection.create()
    return collection


@pytest.fixture
async def fed(docs: Collection) -> AsyncIterator[LexicalFeeder]:
    """A running feeder for `docs`' journal and index."""
    feeder = LexicalFeeder(docs.journal, docs.index)
    feeder.start()
    yield feeder
    await feeder.stop()
