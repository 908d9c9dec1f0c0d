"""The audit log: one JSON line per write and per admin change, on the `rgw.audit` logger.

Who (a credential's id or a JWT's subject, never a secret), what, on which collection, at which journal
position, and how it ended. Route it to its own file with the logging configuration.
"""

from __future__ import annotations

import logging

import orjson

log = logging.getLogger("rgw.audit")


def audit(by: str, operation: str, collection: str | None, result: int | str, lsn: int | None = None,
          peer: str = "", detail: str | None = None) -> None:
    line: dict[str, object] = {"by": by, "op": operation, "collection": collection, "lsn": lsn, "result": result,
                               "peer": peer}
    if detail:
        line["detail"] = detail[:300]
    log.info("%s", orjson.dumps(line).decode())
