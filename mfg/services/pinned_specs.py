"""The specifications the lots of a list (Today, the board, the QA queue) are pinned to, each
loaded once per read; one that cannot be loaded is kept as its refusal.

A lot's ``product_code`` / ``spec_version`` names the spec file it was registered under. When
that file is gone or broken, or the version was edited in SQL, loading it is refused. A list
used to pass the refusal up: one edited lot emptied Today, the board and the QA queue for every
user. Now the list flags that lot ("not read", with the refusal: QA's record check names the
edit) and shows the others. Whatever acts on the lot (a count, release, a COA, labels, its
detail) loads the spec itself and stays refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, not_, or_, select, true

from mfg.domain import dose
from mfg.domain.lifecycle import ACTIVE
from mfg.domain.specs import Product
from mfg.domain.text import visible
from mfg.errors import CellTrailError
from mfg.services.uow import Database
from mfg.store.tables import Lot, Subject

_LOT = Lot.__table__  # type: ignore[attr-defined]
_SUBJECT = Subject.__table__  # type: ignore[attr-defined]
Pinned = dict[tuple[str, str], Product | CellTrailError]


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

    def pinned(self, conn: Any) -> Pinned:
        """Every (code, version) a lot is pinned to, with its spec or the refusal: every lot's
        pair, not only the active lots' (SQLite reads them from ``ix_lot_spec`` alone: 100,000
        lots, 5 ms; by state, a temporary B-tree: 35 ms)."""
        lot = _LOT
        pairs = conn.execute(select(lot.c.product_code, lot.c.spec_version).distinct()).all()
        for code, version in pairs:
            self.get(code, version)
        return {(code, version): self._found[code, version] for code, version in pairs}

    def refused_pinned(self, conn: Any) -> dict[tuple[str, str], CellTrailError]:
        """Every (code, version) a lot is pinned to whose spec is refused, with the refusal."""
        found = self.pinned(conn).items()
        return {pair: e for pair, e in found if isinstance(e, CellTrailError)}


def readable(lot: Any, refused: Iterable[tuple[str, str]]) -> Any:
    """SQL: the ``lot`` table's row is pinned to none of the ``refused`` (code, version)."""
    pinned = [and_(lot.c.product_code == c, lot.c.spec_version == v) for c, v in refused]
    return ~or_(*pinned) if pinned else true()


def _odd_level(specs: Iterable[Product], level: object) -> bool:
    if not isinstance(level, str):
        return True
    try:
        for p in specs:
            dose.check_dose_level(p, level)
    except CellTrailError:
        return True
    return False


def refused_doses(conn: Any, pinned: Pinned) -> list[tuple[str, CellTrailError]]:
    """The active lots whose spec is read but whose target dose is refused: their subject's dose
    level is none of the spec's, or the weight is no body weight (an SQL edit: text, NaN, 0),
    each with the refusal, in lot-number order. Whatever doses from the lot stays refused; the
    lists flag it. The subjects are looked for first, by ``ix_subject_dose`` alone (83,333
    subjects: 2 + 4 ms); only when one is odd are its active lots read and checked each."""
    subject, lot = _SUBJECT, _LOT
    specs = [p for p in pinned.values() if isinstance(p, Product)]
    levels = conn.execute(select(subject.c.dose_level).distinct()).scalars().all()
    weight = subject.c.weight_kg
    odd = or_(weight.is_(None), not_(weight.between(dose.MIN_WEIGHT_KG, dose.MAX_WEIGHT_KG)))
    odd_levels = [level for level in levels if _odd_level(specs, level)]
    if odd_levels:
        odd = or_(odd, subject.c.dose_level.in_(odd_levels))
    if conn.execute(select(subject.c.id).where(odd).limit(1)).first() is None:
        return []
    rows = conn.execute(
        select(lot.c.lot_number, lot.c.product_code, lot.c.spec_version)
        .add_columns(subject.c.dose_level, weight)
        .join(subject, subject.c.id == lot.c.subject_pk)
        .where(odd, lot.c.state.in_(sorted(s.value for s in ACTIVE)))
        .order_by(lot.c.lot_number)
    ).all()
    out = []
    for number, code, version, level, weight_kg in rows:
        p = pinned.get((code, version))
        if isinstance(p, Product):  # a refused spec is listed for itself
            try:
                dose.target_dose_cells(p, level, weight_kg)
            except CellTrailError as e:
                out.append((number, e))
    return out
