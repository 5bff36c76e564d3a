"""What a bag's issue and infusion stand on, held to the keyed audit trail, not to columns.

Four hostile questions, answered in SQL (2026-12-05):
- a rejected lot whose ``lot.state`` was set to ``released``, whose disposition row's
  ``decision`` to ``released`` and whose signature's ``meaning`` to ``released`` had no hold
  left (``state-unsigned`` compares the state with the disposition table, which the same edit
  changed), and its bag was issued;
- a lot whose ``subject_pk`` was pointed at another subject had its bag issued, thawed and
  infused into that other patient: the bedside check compares the patient's id with the
  subject the lot's row points to;
- a bag discarded as cracked, its state set back to ``stored``, was issued;
- (2026-12-06) a bag thawed 40 minutes ago whose ``thawed_at`` was moved to a minute ago was
  infused as within its 30-minute thaw-to-infusion limit, with no overrun alert;
- a released lot whose harvest's ``expires_on`` was moved years ahead, and its signature's
  ``record_hash`` (an unkeyed SHA-256 of the signed record, which anyone can compute) computed
  again over the edited record, had no hold left, and an expired bag was issued.

Columns anyone with SQL access can write. The audit trail's events are not: each carries an
HMAC under the site's audit key, which is kept outside the database. So before a bag is issued,
thawed or infused, and when its label is scanned, the lot's ``lot.registered`` event and (for a
released lot) its ``lot.disposition`` events are read, and each one's keyed hash is recomputed
from its stored columns (the text ``mfg audit verify`` hashes, built by the database:
``audit.message_sql``). The step goes ahead only if the events are authentic, the registration
names the subject the bag is checked against, the last disposition's decision is the lot's
state, every signature of the lot carries a record hash a disposition event recorded, and the
bag's state is the one its last custody event left it in, and its time of thaw the time of its
last thaw event. A few indexed reads and HMACs; the
whole chain stays ``mfg audit verify``'s work (an event deleted from the middle of the trail,
under dropped triggers, is found there).
"""

from __future__ import annotations

import dataclasses
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from mfg import audit
from mfg.auditkey import Keyring
from mfg.domain import identity
from mfg.domain.canonical import decode_json
from mfg.domain.custody import BagState
from mfg.domain.holds import HoldReason
from mfg.domain.lifecycle import LotState
from mfg.errors import RuleViolation
from mfg.services.release_read.holds import HoldStatus
from mfg.store.tables import DoseBag, Lot, Signature, Subject
from mfg.store.types import UTCDateTime as StoredTime

_RELEASES = frozenset({LotState.RELEASED.value, LotState.CONDITIONALLY_RELEASED.value})
ADVICE = "changed outside CellTrail? QA: mfg audit verify"


@dataclass(frozen=True)
class _Event:
    seq: int
    keyed: bool  # its stored hash is the keyed hash of its stored columns
    old: Any  # its old and new values, decoded
    new: Any
    at: datetime | None  # when it was recorded (a custody step's time: the bag's thawed_at)


def _events(session: Session, ring: Keyring, where: str, **params: object) -> list[_Event]:
    """The audit events matching ``where`` (SQL over ``auditevent``'s columns, bound
    ``params``), oldest first, each with its keyed hash recomputed from the stored columns
    (the text ``mfg audit verify`` hashes, built by the database)."""
    conn = session.connection()
    rows = conn.execute(
        text(
            "SELECT seq, prev_hash, hash, key_id, old_values, new_values, "
            f"{audit.message_sql(conn.dialect.name)} AS message, at FROM auditevent "
            f"WHERE {where} ORDER BY seq"
        ).columns(at=StoredTime(lenient=True)),  # an edited one: not the bag's time of thaw
        params,
    ).all()
    out = []
    for seq, prev_hash, stored, key_id, old, new, message, at in rows:
        mac = ring.mac(key_id or "")
        keyed = mac is not None and hmac.compare_digest(
            audit.keyed_hash(mac, prev_hash or "", message or ""), stored or ""
        )
        when = at if isinstance(at, datetime) else None
        out.append(_Event(seq, keyed, decode_json(old or ""), decode_json(new or ""), when))
    return out


def _authentic(
    session: Session, ring: Keyring, lot: Lot, action: str
) -> list[dict[str, Any]] | str:
    """The new values of every ``action`` event of the lot, oldest first, when each one's keyed
    hash holds; else why not, as the end of a sentence about the lot's audit trail."""
    events = _events(
        session, ring, "lot_number = :lot AND action = :action", lot=lot.lot_number, action=action
    )
    if not events:
        return f"its audit trail has no {action} event of it"
    bad = next((e for e in events if not e.keyed), None)
    if bad is not None:
        return f"its audit trail's {action} event {bad.seq} fails its keyed hash"
    return [e.new if isinstance(e.new, dict) else {} for e in events]


def disposition_problem(session: Session, ring: Keyring, lot: Lot) -> str | None:
    """Why the lot's (conditionally) released state is not what the dispositions in its keyed
    audit trail say: the last one's decision must be the state, and every signature of the lot
    must carry a record hash one of them recorded (a record edited in SQL, its signature's hash
    computed again to match, signs nothing). None when all hold, or when the lot is not released
    (nothing is issued from it then) or historical (never issued)."""
    if lot.state not in _RELEASES or lot.historical:
        return None
    said = _authentic(session, ring, lot, "lot.disposition")
    head = f"the lot is {lot.state}, but "
    if isinstance(said, str):  # no event, or one that fails its keyed hash
        return head + said
    decision = said[-1].get("decision")
    if decision != lot.state:
        return f"{head}its audit trail's last signed disposition of it says {decision or 'nothing'}"
    signed = {
        v["signature"].get("record_sha256") for v in said if isinstance(v.get("signature"), dict)
    }
    rows = session.exec(
        select(Signature.id, Signature.record_hash)
        .where(Signature.lot_pk == lot.id)
        .order_by(col(Signature.id))
    ).all()
    for sig_id, record_hash in rows:
        if record_hash not in signed:
            return (
                f"{head}its signature {sig_id} carries a record hash no signed disposition in its "
                "audit trail recorded (the record it signed rewritten, and the hash with it?)"
            )
    return None


def subject_problem(session: Session, ring: Keyring, lot: Lot, subject: Subject) -> str | None:
    """Why the subject the lot's row points to is not the one its keyed registration event
    names; None when it is, or for a historical lot (never issued: it was imported, not
    registered)."""
    if lot.historical:
        return None
    said = _authentic(session, ring, lot, "lot.registered")
    head = f"the lot's row names subject {subject.subject_id}, but "
    if isinstance(said, str):
        return head + said
    registered = said[-1].get("subject_id")
    if _canonical(registered) == subject.subject_id:
        return None
    if isinstance(registered, str) and registered in _renamed_from(session, ring, subject):
        return None
    return f"{head}it was registered for subject {registered or 'nobody'}"


def _renamed_from(session: Session, ring: Keyring, subject: Subject) -> set[str]:
    """The ids the subject had before migration 0002 renamed it (``s-003`` made ``S-003.DUP2``,
    `` s-004`` made ``S-004``), from that migration's keyed events: a lot registered under the
    old id is still the subject's. Read only when the ids differ (no index serves it)."""
    events = _events(
        session,
        ring,
        "action = 'identity.canonicalised' AND entity = 'subject' AND entity_id = :sid",
        sid=subject.subject_id,
    )
    return {
        e.old["subject_id"]
        for e in events
        if e.keyed and isinstance(e.old, dict) and isinstance(e.old.get("subject_id"), str)
    }


def _canonical(subject_id: object) -> str | None:
    """A registered subject id in today's canonical form (a lot of CellTrail 0.1 recorded
    ``s-003`` as typed; migration 0002 made the subject ``S-003``); None if it is none."""
    try:
        return identity.subject_id(subject_id) if isinstance(subject_id, str) else None
    except RuleViolation:
        return None


def bag_problem(session: Session, ring: Keyring, lot: Lot, bag: DoseBag) -> str | None:
    """Why the bag's state is not the one its keyed custody events leave it in (a bag with
    none is as the harvest created it); None when it is. A bag discarded as cracked and set
    back to ``stored`` in SQL was issued."""
    ref = f"{lot.lot_number}/B{bag.bag_no}"
    events = _events(
        session,
        ring,
        "lot_number = :lot AND entity = 'dosebag' AND entity_id = :ref",
        lot=lot.lot_number,
        ref=ref,
    )
    head = f"bag {ref} is {bag.state}, but its audit trail's last custody event"
    expected: object = BagState.CREATED.value
    if events:
        last = events[-1]
        if not last.keyed:
            return f"{head} ({last.seq}) fails its keyed hash"
        expected = last.new.get("state") if isinstance(last.new, dict) else None
    if expected != bag.state:
        return f"{head} leaves it {expected or 'in no state'}"
    return _thaw_problem(ref, bag, events)


def _thaw_problem(ref: str, bag: DoseBag, events: list[_Event]) -> str | None:
    """Why the bag's time of thaw (which the infusion's 30-minute limit counts from) is not
    the time of its last keyed thaw event (none: never thawed); None when it is."""
    thaws = [e for e in events if isinstance(e.new, dict) and e.new.get("state") == THAWED]
    last = thaws[-1] if thaws else None
    if last is not None and not last.keyed:
        return f"bag {ref}'s audit trail's thaw event ({last.seq}) fails its keyed hash"
    recorded = None if last is None else last.at
    if bag.thawed_at == recorded:
        return None
    said = "records no thaw" if last is None else f"says it was thawed at {_when(recorded)}"
    return f"bag {ref} was thawed at {_when(bag.thawed_at)}, but its audit trail {said}"


THAWED = BagState.THAWED.value


def _when(at: datetime | None) -> str:
    return "no time" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def check_bag(session: Session, ring: Keyring, lot: Lot, bag: DoseBag, doing: str) -> None:
    """Refuse a custody step (``doing``) of a bag whose state its trail does not give."""
    why = bag_problem(session, ring, lot, bag)
    if why is not None:
        raise RuleViolation(
            "bag",
            "bag-not-in-trail",
            f"STOP: do not {doing} this bag; return it to QA ({why}: {ADVICE})",
        )


def problems(
    session: Session, ring: Keyring, lot: Lot, subject: Subject, disposition: bool = True
) -> tuple[str, ...]:
    """Every way the lot's row differs from what its keyed audit trail recorded, as stop lines
    (``disposition``: the released state checked too)."""
    found = (
        subject_problem(session, ring, lot, subject),
        disposition_problem(session, ring, lot) if disposition else None,
    )
    return tuple(f"{p}: {ADVICE}" for p in found if p is not None)


def with_trail(
    session: Session, ring: Keyring, lot: Lot, subject: Subject, st: HoldStatus
) -> HoldStatus:
    """The lot's hold status ``st`` with a ``trail-mismatch`` reason for each line ``problems``
    names: what ``mfg hold show``, the lot's screen and the board show."""
    # a state-only edit is already state-unsigned: its trail line would say it again
    unsigned = any(r.code == "state-unsigned" for r in st.reasons)
    found = problems(session, ring, lot, subject, not unsigned)
    extra = tuple(HoldReason("trail-mismatch", why, None) for why in found)
    return dataclasses.replace(st, reasons=st.reasons + extra) if extra else st


def check(session: Session, ring: Keyring, lot: Lot, subject: Subject, doing: str) -> None:
    """Refuse a custody step (``doing``: issue, thaw, infuse) when ``problems`` names one."""
    found = problems(session, ring, lot, subject)
    if found:
        raise RuleViolation(
            "lot",
            "lot-on-hold",
            f"HOLD: lot {lot.lot_number}: do not {doing} its bags; return them to QA "
            f"({'; '.join(found)})",
        )
