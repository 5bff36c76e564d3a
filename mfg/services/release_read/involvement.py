"""Who took part in a lot's signed record (read for the four-eyes check of a disposition)."""

from __future__ import annotations

from sqlmodel import Session, select

from mfg.domain.four_eyes import Involvement
from mfg.store.tables import CellCount, Harvest, Lot, ReleaseResult, Subject


def involvement(session: Session, lot: Lot) -> list[Involvement]:
    """Everyone who entered, corrected or verified the harvest, counts, weight or results."""
    out: list[Involvement] = []
    for r in session.exec(select(ReleaseResult).where(ReleaseResult.lot_pk == lot.id)):
        how = "corrected" if r.supersedes_id is not None else "entered"
        out.append(Involvement(f"result {r.test_code}", how, r.entered_by))
        if r.verified_by:
            out.append(Involvement(f"result {r.test_code}", "verified", r.verified_by))
    for h in session.exec(select(Harvest).where(Harvest.lot_pk == lot.id)):
        how = "corrected" if h.supersedes_id is not None else "entered"
        out.append(Involvement("harvest", how, h.recorded_by))
        if h.verified_by:
            out.append(Involvement("harvest", "verified", h.verified_by))
    for c in session.exec(select(CellCount).where(CellCount.lot_pk == lot.id)):
        how = "corrected" if c.supersedes_id is not None else "entered"
        out.append(Involvement(f"count of day {c.expansion_day}", how, c.recorded_by))
    subject = session.get(Subject, lot.subject_pk)
    if subject is not None:
        what = f"weight of {subject.subject_id}"
        if subject.weight_recorded_by:
            out.append(Involvement(what, "entered", subject.weight_recorded_by))
        if subject.weight_verified_by:
            out.append(Involvement(what, "verified", subject.weight_verified_by))
    return out


def record_verified(session: Session, lot: Lot) -> tuple[bool | None, bool]:
    """(harvest verified: None before harvest, weight verified) for the release blockers."""
    h = session.exec(
        select(Harvest).where(Harvest.lot_pk == lot.id, Harvest.superseded_by_id == None)  # noqa: E711
    ).first()
    subject = session.get(Subject, lot.subject_pk)
    harvest_ok = None if h is None else h.verified_by is not None
    return harvest_ok, bool(subject is not None and subject.weight_verified_by)
