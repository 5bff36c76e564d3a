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

from sqlalchemy import and_, literal_column, not_, or_, select, true

from mfg.domain import dose
from mfg.domain.lifecycle import ACTIVE
from mfg.domain.specs import Product
from mfg.domain.text import visible
from mfg.errors import CellTrailError
from mfg.services.uow import Database
from mfg.store.distinct import distinct_values
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
        pair, not only the active lots' (skipped through in ``ix_lot_spec``, one look-up per
        pair: 100,000 lots, under 1 ms; its every entry read by ``SELECT DISTINCT``, 5 ms; by
        state, a temporary B-tree: 35 ms)."""
        pairs = [
            (code, version)
            for code in distinct_values(conn, "lot", "product_code")
            for version in distinct_values(conn, "lot", "spec_version", *_of_code(code))
        ]
        for code, version in pairs:
            self.get(code, version)
        return {(code, version): self._found[code, version] for code, version in pairs}

    def refused_pinned(self, conn: Any) -> dict[tuple[str, str], CellTrailError]:
        """Every (code, version) a lot is pinned to whose spec is refused, with the refusal."""
        found = self.pinned(conn).items()
        return {pair: e for pair, e in found if isinstance(e, CellTrailError)}


def _of_code(code: str | None) -> tuple[str, dict[str, Any]]:
    """The condition, with its parameters, that picks the lots of product ``code``."""
    if code is None:
        return "product_code IS NULL", {}
    return "product_code = :code", {"code": code}


def _no_weight(weight: Any) -> Any:
    """SQL: the stored weight is no body weight (NULL, or outside the bounds)."""
    return or_(weight.is_(None), not_(weight.between(dose.MIN_WEIGHT_KG, dose.MAX_WEIGHT_KG)))


# Levels sought by ranges at most; past it (hundreds of levels: only SQL edits make them) one
# scan of every subject, as SQLite refuses an expression deeper than 1,000 terms.
SEEK_LEVELS = 32


def _odd_weight(conn: Any, levels: list[Any]) -> bool:
    """Whether a subject of one of ``levels`` (every level there is) has no body weight: NULL,
    or outside the bounds, as three ranges of ``ix_subject_dose`` per level (NOT BETWEEN is no
    range SQLite seeks; a weight stored as text sorts, and compares, above every number, so
    the upper range holds it as NOT BETWEEN does)."""
    subject = _SUBJECT
    weight, level_of = subject.c.weight_kg, subject.c.dose_level
    if not levels:
        return False
    if len(levels) > SEEK_LEVELS:
        seek = [_no_weight(weight)]
    else:
        bad = (weight.is_(None), weight < dose.MIN_WEIGHT_KG, weight > dose.MAX_WEIGHT_KG)
        seek = [and_(level_of == level, w) for level in levels for w in bad]
    return conn.execute(select(subject.c.id).where(or_(*seek)).limit(1)).first() is not None


def readable(lot: Any, refused: Iterable[tuple[str, str]]) -> Any:
    """SQL: the ``lot`` table's row is pinned to none of the ``refused`` (code, version)."""
    code, version = lot.c.product_code, lot.c.spec_version
    pinned = [and_(code == _stored(c), version == _stored(v)) for c, v in refused]
    return ~or_(*pinned) if pinned else true()


def _stored(value: object) -> Any:
    """A refused code or version as SQL can compare it, also written out as a literal (the
    reads of many rows render their SQL): a blob, which SQLite keeps in a text column after
    an SQL edit, as SQLite's blob literal (hex digits only); any other value as it is."""
    if isinstance(value, bytes):
        return literal_column(f"X'{value.hex()}'")
    return value


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
    subjects: under 1 ms, the levels skipped through and the weights sought per level); only
    when one is odd are its active lots read and checked each."""
    subject, lot = _SUBJECT, _LOT
    specs = [p for p in pinned.values() if isinstance(p, Product)]
    levels = distinct_values(conn, "subject", "dose_level")
    odd_levels = [level for level in levels if _odd_level(specs, level)]
    if not odd_levels and not _odd_weight(conn, levels):
        return []  # every subject's level is a spec's, with a body weight
    weight = subject.c.weight_kg
    odd = _no_weight(weight)
    if odd_levels:
        odd = or_(odd, subject.c.dose_level.in_(odd_levels))
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
