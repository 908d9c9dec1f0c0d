"""Coverage: the share of a collection's points a lexical search can find, kept as writes come in."""

from __future__ import annotations

from pathlib import Path

import pytest

from rgw.fallbacks.lexical import LexicalIndex
from tests.fallbacks.helpers import Collection


async def test_points_without_words_are_not_covered(docs: Collection, tmp_path: Path) -> None:
    await docs.catch_up()
    assert docs.index.coverage("docs") == 1.0  # nothing to miss
    await docs.upsert({1: {"text": "refund"}, 2: {"text": "parcel"}, 3: {"title": "no text"}, 4: None,
                       5: {"text": "?!"}, 6: {"text": ["a list", "of words"]}, 7: {"text": "z" * 41}})
    await docs.catch_up()
    assert docs.index.coverage("docs") == pytest.approx(3 / 7)

    await docs.write("set_payload", {"points": [3], "payload": {"text": "words at last"}})
    await docs.write("delete", {"points": [1]})
    await docs.write("clear_payload", {"points": [2]})
    await docs.catch_up()
    assert docs.index.coverage("docs") == pytest.approx(2 / 6)  # 3 and 6 of 2..7

    docs.index.close()
    reopened = LexicalIndex(tmp_path / "lexical", lambda collection: "text")
    try:
        assert reopened.coverage("docs") == pytest.approx(2 / 6)
        reopened.rebuild_from_points("docs", [(1, {"text": "one"}), (2, {})], as_of=docs.journal.head)
        assert reopened.coverage("docs") == 0.5
    finally:
        reopened.close()
