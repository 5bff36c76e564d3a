"""The specifications the lots of a list (Today, the board, the QA queue) are pinned to, each
loaded once per read; one that cannot be loaded is kept as its refusal.

A lot's ``product_code`` / ``spec_version`` names the spec file it was registered under. When
that file is gone or broken, or the version was edited in SQL, loading it is refused. A list
used to pass the refusal up: one edited lot emptied Today, the board and the QA queue for every
user. Now the list flags that lot ("not read", with the refusal: QA's record check names the
edit) and shows the others. Whatever acts on the lot (a count's projection, release, COA,
labels, its detail) loads the spec itself and stays refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, or_, select, true

from mfg.domain.specs import Product
from mfg.domain.text import visible
from mfg.errors import CellTrailError
from mfg.services.uow import Database
from mfg.store.tables import Lot

_LOT = Lot.__table__  # type: ignore[attr-defined]


def refusal_text(e: CellTrailError) -> str:
    """``not read [rule]: <message>`` (the rule first: a narrow column still shows it), the
    stored text it may quote written as visible escapes (a spec version edited to hold an escape
    sequence is shown, not sent)."""
    return f"not read [{e.rule}]: {visible(e.message)}"


class PinnedSpecs:
    """``get(code, version)``: the lot's spec, or None when loading it was refused
    (``refused(code, version)`` says why); each pair is loaded once."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._found: dict[tuple[str, str], Product | CellTrailError] = {}

    def get(self, code: str, version: str) -> Product | None:
        found = self._found.get((code, version))
        if found is None:
            try:
                found = self._db.product(code, version)
            except CellTrailError as e:
                found = e
            self._found[code, version] = found
        return found if isinstance(found, Product) else None

    def refused(self, code: str, version: str) -> CellTrailError | None:
        self.get(code, version)
        found = self._found[code, version]
        return found if isinstance(found, CellTrailError) else None

    def refused_pinned(self, conn: Any) -> dict[tuple[str, str], CellTrailError]:
        """Every (code, version) a lot is pinned to whose spec is refused, with the refusal:
        every lot's pair, not only the active lots' (SQLite reads them from ``ix_lot_spec``
        alone: 100,000 lots, 5 ms; by state, a temporary B-tree: 35 ms)."""
        lot = _LOT
        pinned = conn.execute(select(lot.c.product_code, lot.c.spec_version).distinct())
        found = ((pair, self.refused(*pair)) for pair in map(tuple, pinned.all()))
        return {pair: e for pair, e in found if e is not None}


def readable(lot: Any, refused: Iterable[tuple[str, str]]) -> Any:
    """SQL: the ``lot`` table's row is pinned to none of the ``refused`` (code, version)."""
    pinned = [and_(lot.c.product_code == c, lot.c.spec_version == v) for c, v in refused]
    return ~or_(*pinned) if pinned else true()
