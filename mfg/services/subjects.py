"""Trial subjects: pseudonymous id, site, indication, weight (with its date), dose level."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, type_coerce
from sqlalchemy import select as sa_select
from sqlalchemy.types import NullType
from sqlmodel import Session, col, select

from mfg.domain import dose, four_eyes, identity
from mfg.domain.indications import check_indication
from mfg.domain.reasons import require_reason
from mfg.errors import NotFound, RuleViolation
from mfg.services.uow import Actor, Database
from mfg.store.tables import Subject

INITIALS_RE = re.compile(r"[A-Z]{1,4}")


@dataclass(frozen=True)
class AddSubject:
    subject_id: str
    site: str
    indication: str
    weight_kg: float
    dose_level: str
    weight_on: date | None = None
    initials: str | None = None
    dob: date | None = None
    product_code: str = "BH002"


@dataclass(frozen=True)
class SubjectView:
    subject_id: str
    site: str
    indication: str
    weight_kg: float
    weight_on: date
    dose_level: str
    initials: str | None
    dob: date | None
    version: int = 1  # the row_version update_weight(expected_version=) takes
    weight_recorded_by: str | None = None
    weight_verified_by: str | None = None  # the second person who checked the weight

    @classmethod
    def of(cls, s: Subject) -> SubjectView:
        return cls(
            s.subject_id,
            s.site,
            s.indication,
            s.weight_kg,
            s.weight_on,
            s.dose_level,
            s.initials,
            s.dob,
            s.row_version,
            s.weight_recorded_by,
            s.weight_verified_by,
        )


def validate_subject(cmd: AddSubject, db: Database, today: date) -> AddSubject:
    subject_id = identity.subject_id(cmd.subject_id)
    site = identity.site(cmd.site)
    indication = check_indication(cmd.indication)
    dose.check_weight(cmd.weight_kg)
    level = dose.check_dose_level(db.product(cmd.product_code), cmd.dose_level)
    initials = None
    if cmd.initials is not None:
        initials = cmd.initials.strip().upper()
        if not INITIALS_RE.fullmatch(initials):
            # never echo the initials: personal data stays out of messages and logs
            raise RuleViolation("initials", "initials-format", "initials are 1-4 letters A-Z")
    if cmd.dob is not None and not date(1900, 1, 1) <= cmd.dob <= today:
        raise RuleViolation("dob", "dob-range", "the date of birth is not plausible")
    weight_on = cmd.weight_on or today
    if weight_on > today:
        raise RuleViolation("weight_on", "date-in-future", f"{weight_on} is after today ({today})")
    return AddSubject(
        subject_id,
        site,
        indication,
        cmd.weight_kg,
        level,
        weight_on,
        initials,
        cmd.dob,
        cmd.product_code,
    )


_SUBJECT_BY_ID = select(Subject).where(Subject.subject_id == bindparam("subject_id"))  # built once


class SubjectFacts(NamedTuple):
    """What a lot's registration uses of its subject, read as one row (``SUBJECT_FACTS``: on
    PostgreSQL sent ahead with the write lock, ``mfg.store.ahead``)."""

    id: int
    subject_id: str
    site: str
    indication: str
    weight_kg: float
    dose_level: str


_subject = Subject.__table__  # type: ignore[attr-defined]
# The weight as the driver reads it (a float in a FLOAT column on both backends; an ORM read
# processes nothing more): a column type that processes what is read is not sent ahead.
SUBJECT_FACTS = sa_select(
    *(_subject.c[k] for k in ("id", "subject_id", "site", "indication")),
    type_coerce(_subject.c.weight_kg, NullType()).label("weight_kg"),
    _subject.c.dose_level,
).where(_subject.c.subject_id == bindparam("subject_id"))


def subject_facts(row: Any, subject_id: str) -> SubjectFacts:
    """``SUBJECT_FACTS``'s row (None: no such subject, refused by its id)."""
    if row is None:
        raise NotFound("subject", subject_id)
    return SubjectFacts(*row)


def get_subject_row(session: Session, subject_id: str) -> Subject:
    key = identity.subject_id(subject_id)
    s = session.exec(_SUBJECT_BY_ID, params={"subject_id": key}).first()
    if s is None:
        raise NotFound("subject", key)
    return s


def check_not_lookalike(session: Session, subject_id: str) -> None:
    """Refuse a new subject id that is, or looks like, an existing one (naming that one)."""
    existing = identity.lookalike_of(subject_id, session.exec(select(Subject.subject_id)).all())
    if existing == subject_id:
        raise RuleViolation("subject_id", "subject-exists", f"subject {existing} exists")
    if existing is not None:
        raise RuleViolation(
            "subject_id",
            "subject-lookalike",
            f"{subject_id} looks like the existing subject {existing}: "
            "use that subject, or choose an id that cannot be mistaken for it",
        )


def site_code(session: Session, site: str) -> str:
    """The code to store for a canonical ``site``: an existing site's as stored (one written
    before codes were canonical, ``bj01``, stays one stratum with ``BJ01``). A code that looks
    like another site's (BJO1, BJ 01 beside BJ01) is refused: one site under two codes splits
    the success rate's strata."""
    sites = session.exec(select(Subject.site).distinct()).all()
    same = next((x for x in sites if " ".join(x.split()).upper() == site), None)
    if same is not None:
        return same
    existing = identity.lookalike_of(site, sites)
    if existing is not None:
        raise RuleViolation(
            "site",
            "site-lookalike",
            f"{identity.shown(site)} looks like the existing site {identity.shown(existing)}: "
            "use that site code, or one that cannot be mistaken for it",
        )
    return site


def add_subject(cmd: AddSubject, *, db: Database, actor: Actor, now: datetime) -> SubjectView:
    actor.require("subject.add")
    v = validate_subject(cmd, db, db.today(now))
    with db.write(actor, now) as tx:
        check_not_lookalike(tx.session, v.subject_id)
        site = site_code(tx.session, v.site)
        row = Subject(
            subject_id=v.subject_id,
            site=site,
            indication=v.indication,
            weight_kg=v.weight_kg,
            weight_on=v.weight_on or db.today(now),
            dose_level=v.dose_level,
            initials=v.initials,
            dob=v.dob,
            created_at=now,
            weight_recorded_by=actor.username,
        )
        tx.session.add(row)
        tx.session.flush()
        view = SubjectView.of(row)
        tx.audit("subject.added", "subject", v.subject_id, new=asdict(view))
        tx.commit()
        return view


def _check_version(session: Session, s: Subject, expected_version: int | None) -> None:
    """``Conflict`` if the subject changed since the editor read its ``row_version``."""
    if expected_version is None:
        return
    from mfg import integrity

    integrity.check_version(
        session, "subject", s.subject_id, expected=expected_version, current=s.row_version
    )


def update_weight(
    subject_id: str,
    weight_kg: float,
    weight_on: date,
    reason: str,
    *,
    db: Database,
    actor: Actor,
    now: datetime,
    expected_version: int | None = None,
) -> SubjectView:
    """A new body weight (with the date it was taken); the old one stays in the audit trail.

    ``expected_version``: the subject's ``row_version`` the editor read (optimistic locking).
    """
    actor.require("subject.update")
    dose.check_weight(weight_kg)
    require_reason(reason, "changing a weight needs a reason")
    if weight_on > db.today(now):
        raise RuleViolation("weight_on", "date-in-future", f"{weight_on} is after today")
    with db.write(actor, now) as tx:
        s = get_subject_row(tx.session, subject_id)
        _check_version(tx.session, s, expected_version)
        old = {"weight_kg": s.weight_kg, "weight_on": s.weight_on}
        s.weight_kg, s.weight_on = weight_kg, weight_on
        # a new weight sets a new dose: it needs a second person's check again
        s.weight_recorded_by, s.weight_verified_by, s.weight_verified_at = (
            actor.username,
            None,
            None,
        )
        s.row_version += 1
        tx.session.add(s)
        tx.audit(
            "subject.weight_changed",
            "subject",
            s.subject_id,
            old=old,
            new={
                "weight_kg": weight_kg,
                "weight_on": weight_on,
                "weight_recorded_by": actor.username,
            },
            reason=reason,
        )
        tx.commit()
        return SubjectView.of(s)


def verify_weight(
    subject_id: str,
    *,
    db: Database,
    actor: Actor,
    now: datetime,
    expected_version: int | None = None,
) -> SubjectView:
    """A second person checks the body weight (it sets the target dose; EU GMP Annex 11
    section 6): never the person who entered it. Needed before a release of the subject's lot."""
    actor.require("weight.verify")
    with db.write(actor, now) as tx:
        s = get_subject_row(tx.session, subject_id)
        _check_version(tx.session, s, expected_version)
        four_eyes.check_verifier(actor.username, s.weight_recorded_by or "", "body weight")
        dose.stored_weight(s.weight_kg)  # not a weight (an SQL edit): nothing to verify
        if s.weight_verified_by is not None:
            raise RuleViolation(
                "weight", "already-verified", f"the weight was verified by {s.weight_verified_by}"
            )
        s.weight_verified_by, s.weight_verified_at = actor.username, now
        s.row_version += 1
        tx.session.add(s)
        tx.audit(
            "subject.weight_verified",
            "subject",
            s.subject_id,
            new={"weight_kg": s.weight_kg, "weight_on": s.weight_on, "verified_by": actor.username},
        )
        tx.commit()
        return SubjectView.of(s)


def subject_keys(*, db: Database, actor: Actor) -> dict[str, str]:
    """Every subject id by its ``lookalike_key``: a form checks a typed id against them as the
    user types, without a query per key (the save checks again, in its transaction)."""
    actor.require("lot.read")
    with db.read() as s:
        ids = s.exec(select(Subject.subject_id).order_by(col(Subject.id))).all()
    keys: dict[str, str] = {}
    for sid in ids:
        keys.setdefault(identity.lookalike_key(sid), sid)
    return keys


def show_subject(subject_id: str, *, db: Database, actor: Actor) -> SubjectView:
    actor.require("lot.read")
    with db.read() as s:
        return SubjectView.of(get_subject_row(s, subject_id))
