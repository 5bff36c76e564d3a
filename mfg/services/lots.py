"""Lots: registration (lot number + chain-of-identity code), reads, termination."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Integer, bindparam, cast, func
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from mfg.domain import dose, identity, ids
from mfg.domain.expansion import check_not_future, day0_for
from mfg.domain.lifecycle import (
    BEFORE_DISPOSITION,
    LotState,
    TerminationCause,
    check_transition,
    parse_source,
    parse_state,
)
from mfg.domain.reasons import require_reason
from mfg.domain.specs import Product
from mfg.errors import CellTrailError, NotFound, RuleViolation
from mfg.services import therapy
from mfg.services.pinned_specs import refusal_text
from mfg.services.release_read import current_harvest
from mfg.services.subjects import SUBJECT_FACTS, SubjectFacts, subject_facts
from mfg.services.uow import Actor, Database
from mfg.store import ahead as store_ahead
from mfg.store.tables import Alert, Lot, SpecPin, Subject
from mfg.store.types import UNREADABLE


@dataclass(frozen=True)
class RegisterLot:
    subject_id: str
    source: str
    apheresis_on: date | None = None
    thaw_on: date | None = None
    product_code: str = "BH002"


@dataclass(frozen=True)
class LotView:
    lot_number: str
    coi: str
    coi_eye_readable: str
    subject_id: str
    site: str
    indication: str
    weight_kg: float | None  # None: not read (a list's ``not_read`` lot only)
    dose_level: str
    product_code: str
    product_name: str
    spec_version: str
    source: str
    apheresis_on: date | None
    thaw_on: date | None
    day0: date | None  # None: not read (a list's ``not_read`` lot only)
    state: str
    termination_cause: str | None
    termination_reason: str | None
    registered_at: datetime | None  # None: not read (a list's ``not_read`` lot only)
    registered_by: str
    target_dose_cells: int | None  # None: not read, in a list only (``not_read``)
    alerts: tuple[str, ...] = ()
    historical: bool = False  # imported record of the past: never issued (mfg.domain.holds)
    not_read: str = ""  # in a list: its spec, dose or stored values refused (``list_lots``)


# A spec version's pinned hash, built once (building a statement and its cache key per call
# cost about a third of a short read's CPU): bound by name at each call.
_PIN_HASH = sa_select(col(SpecPin.sha256)).where(
    col(SpecPin.product_code) == bindparam("code"),
    col(SpecPin.spec_version) == bindparam("version"),
)


def _pinned(session: Session, code: str, version: str) -> str | None:
    return session.execute(_PIN_HASH, {"code": code, "version": version}).scalar_one_or_none()


def pin_spec(session: Session, product: Product, now: datetime) -> None:
    """Store the spec file's hash on first use; refuse a changed file for a version in use."""
    keep_pin(session, product, now, _pinned(session, product.code, product.spec_version))


def keep_pin(session: Session, product: Product, now: datetime, pinned: str | None) -> None:
    """``pin_spec`` once the pinned hash is read (None: the version's first use, pinned now)."""
    if pinned is None:
        session.add(
            SpecPin(
                product_code=product.code,
                spec_version=product.spec_version,
                sha256=product.sha256,
                first_used_at=now,
            )
        )
    elif pinned != product.sha256:
        raise_changed_spec(product, pinned)


def raise_changed_spec(product: Product, pinned: str) -> None:
    raise RuleViolation(
        "spec_version",
        "spec-version-changed",
        f"{product.source_file}: {product.code} spec version {product.spec_version} is in use "
        f"and its file changed (pinned sha256 {pinned[:12]}..., file {product.sha256[:12]}...); "
        "a changed specification must be a new version file",
    )


def product_for_lot(db: Database, session: Session, lot: Lot) -> Product:
    """The pinned specification version of a lot, checked against its stored hash."""
    product = db.product(lot.product_code, lot.spec_version)
    pinned = _pinned(session, lot.product_code, lot.spec_version)
    if pinned is not None and pinned != product.sha256:
        raise_changed_spec(product, pinned)
    return product


# Compared as numbers: lot numbers grow from 4 to 5 digits after 9999 ("10000" < "9999").
_LAST_LOT_SEQUENCE = sa_select(
    func.max(cast(func.substr(Lot.lot_number, bindparam("start"), 6), Integer))
).where(col(Lot.lot_number).like(bindparam("pattern")))


# Built once (every write reads its lot): building the statement and its cache key per call cost
# about a third of this read.
_LOT_BY_NUMBER = select(Lot).where(Lot.lot_number == bindparam("lot_number"))


def get_lot_row(session: Session, lot_number: str) -> Lot:
    key = identity.lot_number(lot_number)
    lot = session.exec(_LOT_BY_NUMBER, params={"lot_number": key}).first()
    if lot is None:
        raise NotFound("lot", key)
    return lot


def lot_view(
    db: Database,
    session: Session,
    lot: Lot,
    subject: Subject | SubjectFacts | None = None,
    *,
    in_list: bool = False,
    new: bool = False,
    coi: ids.Coi | None = None,
    product: Product | None = None,
) -> LotView:
    """The lot as users read it. Its spec, dose level or weight refused: refused, or
    ``in_list``, a view without the spec's name and the target dose, ``not_read`` saying why
    (one edited lot takes no list of others with it: ``pinned_specs``). ``new``: the lot was
    inserted in this transaction, so no alert can name it yet (its alerts are not read);
    ``coi``: its therapy event's, and ``product``: its spec, when the caller has them (not read
    again)."""
    subject = subject or session.get(Subject, lot.subject_pk)
    assert subject is not None
    try:
        spec = product or db.product(lot.product_code, lot.spec_version)
        name, not_read = spec.name, ""
        target = dose.target_dose_cells(spec, subject.dose_level, subject.weight_kg)
    except CellTrailError as e:
        if not in_list:
            raise
        name, target, not_read = "", None, refusal_text(e)
    alerts = (
        []
        if new
        else session.exec(
            select(Alert.message).where(
                Alert.lot_pk == lot.id, col(Alert.acknowledged_at).is_(None)
            )
        ).all()
    )
    coi = coi or therapy.lot_coi(session, lot)
    return LotView(
        lot_number=lot.lot_number,
        coi=coi.content,
        coi_eye_readable=coi.eye_readable,
        subject_id=subject.subject_id,
        site=subject.site,
        indication=subject.indication,
        weight_kg=subject.weight_kg,
        dose_level=subject.dose_level,
        product_code=lot.product_code,
        product_name=name,
        spec_version=lot.spec_version,
        source=lot.source,
        apheresis_on=lot.apheresis_on,
        thaw_on=lot.thaw_on,
        day0=lot.day0,
        state=lot.state,
        termination_cause=lot.termination_cause,
        termination_reason=lot.termination_reason,
        registered_at=lot.registered_at,
        registered_by=lot.registered_by,
        target_dose_cells=target,
        alerts=tuple(alerts),
        historical=lot.historical,
        not_read=not_read,
    )


def register_lot(cmd: RegisterLot, *, db: Database, actor: Actor, now: datetime) -> LotView:
    # The account: checked by db.write under the lock, before the first read of a record (before
    # it only the site's time zone setting and the spec files on disk are read). A logged-out
    # account meets a refusal of its input first, if any, then the log-out: nothing is written.
    actor.require_role("lot.register")
    source = parse_source(cmd.source)
    today = db.today(now)
    if cmd.apheresis_on is not None:
        check_not_future(cmd.apheresis_on, today, "apheresis_date")
    if cmd.thaw_on is not None:
        check_not_future(cmd.thaw_on, today, "thaw_date")
    day0 = day0_for(source.value, cmd.apheresis_on, cmd.thaw_on)
    if (today - day0).days > 60:
        raise RuleViolation(
            "day0",
            "day0-too-old",
            f"day 0 ({day0}) is more than 60 days ago; import historical lots "
            "with `mfg import lots` instead",
        )
    product = db.product(cmd.product_code)
    subject_key = identity.subject_id(cmd.subject_id)
    yy = today.year % 100
    lot_prefix = f"{product.code}-{yy:02d}-"
    reads = _registration_ahead(subject_key, product, lot_prefix)
    with db.write(actor, now, ahead=reads) as tx:
        s = tx.session
        facts, pin, current, last, new_id = tx.ahead
        subject = subject_facts(facts.first(), subject_key)
        pinned = pin.first()
        keep_pin(s, product, now, pinned[0] if pinned is not None else None)
        event = current.first()  # the subject's therapy event: (id, CoI), or a new one
        if event is None:
            opened = therapy.open_event(
                tx, subject, db.settings.facility_id, today.year, "first lot of the subject"
            )
            event = (opened.id, opened.coi)
        last_seq = last.first()[0]
        lot = Lot(
            lot_number=ids.lot_number(product.code, yy, int(last_seq) + 1 if last_seq else 1),
            coi=event[1],
            therapy_event_pk=event[0],
            subject_pk=subject.id,
            product_code=product.code,
            spec_version=product.spec_version,
            source=source.value,
            apheresis_on=cmd.apheresis_on,
            thaw_on=cmd.thaw_on,
            day0=day0,
            state=LotState.REGISTERED.value,
            registered_at=now,
            registered_by=actor.username,
            state_changed_at=now,
        )
        # on PostgreSQL with its id taken ahead: it goes with the event and the COMMIT
        row = {c.name: getattr(lot, c.name) for c in _lot_table.c if c.name != "id"}
        lot.id = store_ahead.insert_row(s.connection(), _lot_table, row, new_id)
        coi = ids.coi_from_content(event[1])
        view = lot_view(db, s, lot, subject, new=True, coi=coi, product=product)
        tx.audit(
            "lot.registered",
            "lot",
            lot.lot_number,
            lot_number=lot.lot_number,
            new={
                "lot_number": lot.lot_number,
                "coi": lot.coi,
                "subject_id": subject.subject_id,
                "source": lot.source,
                "apheresis_on": lot.apheresis_on,
                "thaw_on": lot.thaw_on,
                "day0": lot.day0,
                "product": product.code,
                "spec_version": product.spec_version,
                "spec_sha256": product.sha256,
            },
        )
        tx.commit()
        return view


# What a registration reads, known before its write starts (``Database.write(ahead=...)``: on
# PostgreSQL in the write lock's round trip): its subject's facts, the spec version's pin, the
# subject's therapy event, the last lot number of the year, and (PostgreSQL) the new lot's id.
_lot_table = Lot.__table__  # type: ignore[attr-defined]


def _registration_ahead(subject_key: str, product: Product, lot_prefix: str) -> Any:
    def ahead(conn: Connection) -> tuple[Any, ...]:
        return (
            store_ahead.Ahead(conn, SUBJECT_FACTS, {"subject_id": subject_key}),
            store_ahead.Ahead(
                conn, _PIN_HASH, {"code": product.code, "version": product.spec_version}
            ),
            store_ahead.Ahead(conn, therapy.CURRENT_EVENT, {"subject_id": subject_key}),
            store_ahead.Ahead(
                conn,
                _LAST_LOT_SEQUENCE,
                {"start": len(lot_prefix) + 1, "pattern": lot_prefix + "%"},
            ),
            store_ahead.next_id(conn, _lot_table),
        )

    return ahead


def set_state(tx, lot: Lot, target: LotState, **audit_new: object) -> None:  # type: ignore[no-untyped-def]
    """Move a lot to ``target`` if the lifecycle allows it, auditing the change."""
    old = lot.state
    check_transition(lot.state, target)
    lot.state = target.value
    lot.state_changed_at = tx.now
    lot.row_version += 1
    tx.session.add(lot)
    tx.audit(
        "lot.state_changed",
        "lot",
        lot.lot_number,
        lot_number=lot.lot_number,
        old={"state": old},
        new={"state": target.value, **audit_new},
    )


def terminate_lot(
    lot_number: str, cause: str, reason: str, *, db: Database, actor: Actor, now: datetime
) -> LotView:
    actor.require("lot.terminate")
    try:
        c = TerminationCause(cause.strip().lower().replace("-", "_"))
    except ValueError:
        raise RuleViolation(
            "cause", "unknown-termination-cause", f"{cause!r} is not manufacturing or not_evaluable"
        ) from None
    require_reason(reason, "termination needs a reason")
    with db.write(actor, now) as tx:
        lot = get_lot_row(tx.session, lot_number)
        if lot.state not in BEFORE_DISPOSITION:
            raise RuleViolation(
                "state",
                "illegal-transition",
                f"lot {lot.lot_number} is {lot.state}: only lots before "
                "disposition can be terminated",
            )
        set_state(tx, lot, LotState.TERMINATED, termination_cause=c.value)
        lot.termination_cause, lot.termination_reason = c.value, reason.strip()
        tx.audit(
            "lot.terminated",
            "lot",
            lot.lot_number,
            lot_number=lot.lot_number,
            new={"cause": c.value},
            reason=reason.strip(),
        )
        tx.commit()
        return lot_view(db, tx.session, lot)


def show_lot(lot_number: str, *, db: Database, actor: Actor) -> LotView:
    actor.require("lot.read")
    with db.read() as s:
        return lot_view(db, s, get_lot_row(s, lot_number))


def list_lots(
    *,
    db: Database,
    actor: Actor,
    state: str | None = None,
    site: str | None = None,
    limit: int | None = None,
) -> list[LotView]:
    actor.require("lot.read")
    if state is not None:
        parse_state(state)
    with db.read() as s:
        q = select(Lot, Subject).join(Subject, col(Subject.id) == col(Lot.subject_pk))
        if state:
            q = q.where(Lot.state == state)
        if site:
            q = q.where(func.upper(Subject.site) == identity.site(site))  # bj01 of old too
        q = q.order_by(col(Lot.lot_number))
        if limit:
            q = q.limit(limit)
        try:
            return [lot_view(db, s, lot, subj, in_list=True) for lot, subj in s.exec(q).all()]
        except RuleViolation as e:
            if e.rule != UNREADABLE:
                raise
        # one by one in the same read: the lot whose stored value cannot be read, and only it
        lot_ids = s.execute(q.with_only_columns(col(Lot.id))).scalars().all()
        return [_listed(db, s, lot_pk) for lot_pk in lot_ids]


def _listed(db: Database, s: Session, lot_pk: int) -> LotView:
    """The lot's entry in a list one of whose lots has a stored value that cannot be read (an
    SQL edit): its view, or for that lot its text columns, NOT READ with the refusal, and no
    dates, weight or dose (one edited lot takes no list of others with it)."""
    both = select(Lot, Subject).join(Subject, col(Subject.id) == col(Lot.subject_pk))
    try:
        lot, subject = s.exec(both.where(col(Lot.id) == lot_pk)).one()
        return lot_view(db, s, lot, subject, in_list=True)
    except RuleViolation as e:
        if e.rule != UNREADABLE:
            raise
        said = refusal_text(e)
    lt, sj = Lot.__table__, Subject.__table__  # type: ignore[attr-defined]
    text = sa_select(
        *(lt.c[n] for n in ("lot_number", "coi", "product_code", "spec_version", "source")),
        *(sj.c[n] for n in ("subject_id", "site", "indication", "dose_level")),
        *(lt.c[n] for n in ("state", "termination_cause", "termination_reason", "registered_by")),
        lt.c.historical,
    ).select_from(lt.join(sj, sj.c.id == lt.c.subject_pk))
    r = s.connection().execute(text.where(lt.c.id == lot_pk)).one()
    return LotView(
        **{k: v for k, v in r._mapping.items()},
        coi_eye_readable="",
        weight_kg=None,
        product_name="",
        apheresis_on=None,
        thaw_on=None,
        day0=None,
        registered_at=None,
        target_dose_cells=None,
        not_read=said,
    )


__all__ = [
    "LotView",
    "RegisterLot",
    "current_harvest",
    "get_lot_row",
    "list_lots",
    "lot_view",
    "parse_source",
    "pin_spec",
    "product_for_lot",
    "register_lot",
    "set_state",
    "show_lot",
    "terminate_lot",
]
