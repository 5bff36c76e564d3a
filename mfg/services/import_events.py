"""An approved import's audit events: one a record, chained in bulk inside the approver's
write transaction (``AuditBatch``), and the text of the values of its results' events, built
once per distinct result (``ResultJson``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mfg import audit
from mfg.store import bulk
from mfg.store.tables import AuditEvent

CHUNK = 5000
_NULL = audit.canonical_json(None)  # every imported record is new: no old values


class AuditBatch:
    """Per-record audit events appended to the chain in bulk, inside the write transaction.

    Same fields, sequence and keyed hash as ``mfg.audit.append`` (both use ``audit.Chainer``),
    but one read of the chain head and one multi-row insert instead of a query per event. The
    batch's time, user, (no) old values and key are every event's: bound once (``fixed``).
    """

    KEYS = (
        "seq",
        "action",
        "entity",
        "entity_id",
        "lot_number",
        "new_values",
        "reason",
        "prev_hash",
        "hash",
    )

    def __init__(self, tx: Any, username: str, now: datetime) -> None:
        seq, prev = audit.head(tx.session.connection())
        self.chain = audit.Chainer(tx.keyring(seq == 0), seq, prev)
        self.tx = tx
        self.at_user = self.chain.fixed(now, username)
        self.fixed = {
            "at": now.astimezone(UTC),
            "username": username,
            "old_values": _NULL,
            "key_id": self.chain.key_id,
        }
        self.rows: list[tuple[Any, ...]] = []
        self.trail = ""

    def add(
        self,
        action: str,
        entity: str,
        entity_id: str | int,
        *,
        lot_number: str | None = None,
        new: Any = None,
        reason: str | None = None,
        new_text: str | None = None,
    ) -> None:
        """One event; ``new_text``: ``canonical_json(new)``, when the caller has it."""
        chain, eid = self.chain, str(entity_id)
        new_values = audit.canonical_json(new) if new_text is None else new_text
        prev = chain.prev
        hash_ = chain.link(self.at_user, action, entity, eid, lot_number, _NULL, new_values, reason)
        if chain.seq == 1:
            self.trail = hash_
        self.rows.append(
            (chain.seq, action, entity, eid, lot_number, new_values, reason, prev, hash_)
        )

    def flush(self, session: Any) -> None:
        table = AuditEvent.__table__  # type: ignore[attr-defined]
        conn = session.connection()
        for k in range(0, len(self.rows), CHUNK):
            bulk.insert_tuples(conn, table, self.KEYS, self.rows[k : k + CHUNK], self.fixed)
        if self.rows:  # the transaction's head moves once the events are in (Tx)
            seq, *_, prev, hash_ = self.rows[-1]
            self.tx.appended_in_bulk(audit.Appended(seq, hash_, prev), self.trail)
        self.rows.clear()


def result_event_values(v: dict[str, Any], line: int) -> dict[str, Any]:
    """A ``result.imported`` event's values: the result row ``v`` as imported, its file row."""
    return {
        "test_code": v["test_code"],
        "value_num": v["value_num"],
        "qualifier": v["qualifier"],
        "unit": v["unit"],
        "evaluation": v["evaluation"],
        "value": v["value_text"],
        "tested_on": None,
        "method_ref": None,
        "verified_by": None,
        "file_row": line,
    }


class ResultJson:
    """``canonical_json(result_event_values(v, line))``, built once per distinct result: an
    import's 120,000 results are a few hundred texts (a lab's No growth, < 0.5, 92.5), so its
    events' values differ only by the file row. The text is made with a marker row, whose
    digits (``"file_row":`` then a number no file has) occur once in it: a quote inside a text
    value is escaped, so no value can hold them. The row goes in the marker's place; an int is
    its digits in canonical JSON. A test compares the two over varied results."""

    MARK = -7291054003

    def __init__(self) -> None:
        self._parts: dict[tuple[str, int], tuple[str, str]] = {}

    def text(self, code: str, parsed: Any, v: dict[str, Any], line: int) -> str:
        """The text for result row ``v``, parsed as ``parsed`` (kept by identity: the rows hold
        every parsed result while the import is written, and the validation gives one object
        to each distinct text of a test)."""
        key = (code, id(parsed))
        parts = self._parts.get(key)
        if parts is None:
            whole = audit.canonical_json(result_event_values(v, self.MARK))
            head, mark, tail = whole.partition(f'"file_row":{self.MARK}')
            assert mark, "the marker row is in the text"
            parts = self._parts[key] = (head + '"file_row":', tail)
        return f"{parts[0]}{line}{parts[1]}"
