"""SQLModel tables: the whole data model in one module (imported before the metadata is used).

Conventions: ``*_at`` are aware UTC datetimes, ``*_on`` dates; cell counts are BIGINT; rows that
can be corrected carry ``superseded_by_id`` and ``correction_reason`` (nothing is deleted: a
correction is a new row and the old one points at it); mutable rows carry ``row_version`` for
optimistic locking.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig  # the type of SQLModel.model_config

from mfg.store.partial import partial_index
from mfg.store.types import StoredBigInt, StoredDate, StoredFloat, StoredInt, UTCDateTime


class _Table(SQLModel):
    """Base of every table. Rows are built by SQLAlchemy and never validated by pydantic, so a
    table's pydantic validator is built the first time one is used (``defer_build``), not at
    import: building the 25 validators was about 25 of the 200 ms that importing this module took
    (`python -X importtime`; `mfg lot show` imports it in every fresh process)."""

    model_config = SQLModelConfig(defer_build=True)


def _ts(nullable: bool = False, index: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(UTCDateTime(), nullable=nullable, index=index)


def _big(what: str | None = None, nullable: bool = False) -> Column:  # type: ignore[type-arg]
    """A BIGINT; with ``what``, one whose stored value is checked when read (``StoredBigInt``)."""
    return Column(BigInteger if what is None else StoredBigInt(what), nullable=nullable)


def _fk(target: str, nullable: bool = False, index: bool = True) -> Column:  # type: ignore[type-arg]
    return Column(Integer, ForeignKey(target), nullable=nullable, index=index)


class User(_Table, table=True):
    __tablename__ = "app_user"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(unique=True, index=True, max_length=64)
    full_name: str = Field(max_length=200)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=255)
    failed_logins: int = 0
    locked: bool = False
    active: bool = True
    created_at: datetime = Field(sa_column=_ts())
    password_changed_at: datetime = Field(sa_column=_ts())
    row_version: int = 1


class UserSession(_Table, table=True):
    """An open log-in (CLI ``mfg login`` or a TUI session): only the SHA-256 of its token is
    stored; bound to the user and the host, ended by log-out, idle time or the account's change
    (21 CFR 11.300; opening and closing are audited)."""

    __tablename__ = "user_session"
    id: int | None = Field(default=None, primary_key=True)
    token_sha256: str = Field(unique=True, index=True, max_length=64)
    username: str = Field(index=True, max_length=64)
    kind: str = Field(max_length=8)
    host: str = Field(max_length=255)
    opened_at: datetime = Field(sa_column=_ts())
    last_seen_at: datetime = Field(sa_column=_ts())
    closed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    close_reason: str | None = Field(default=None, max_length=32)


class PasswordHistory(_Table, table=True):
    """Earlier password hashes of an account, so that the last N are not reused (11.300(b))."""

    __tablename__ = "password_history"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(index=True, max_length=64)
    password_hash: str = Field(max_length=255)
    retired_at: datetime = Field(sa_column=_ts())


class Subject(_Table, table=True):
    # the report's targets read the (dose level, weight) present from this index alone
    # (migration 0007)
    __table_args__ = (Index("ix_subject_dose", "dose_level", "weight_kg"),)
    id: int | None = Field(default=None, primary_key=True)
    subject_id: str = Field(unique=True, index=True, max_length=40)
    site: str = Field(max_length=40, index=True)
    indication: str = Field(max_length=8)
    weight_kg: float
    weight_on: date = Field(sa_type=StoredDate)
    dose_level: str = Field(max_length=8)
    initials: str | None = Field(default=None, max_length=8)
    dob: date | None = Field(default=None, sa_type=StoredDate)
    created_at: datetime = Field(sa_column=_ts())
    row_version: int = 1
    # the weight sets the dose: who entered it and who checked it (EU GMP Annex 11 section 6)
    weight_recorded_by: str | None = Field(default=None, max_length=64)
    weight_verified_by: str | None = Field(default=None, max_length=64)
    weight_verified_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class SpecPin(_Table, table=True):
    """The SHA-256 of a specification file version, stored when a lot first uses it."""

    __table_args__ = (UniqueConstraint("product_code", "spec_version"),)
    id: int | None = Field(default=None, primary_key=True)
    product_code: str = Field(max_length=10)
    spec_version: str = Field(max_length=16)
    sha256: str = Field(max_length=64)
    first_used_at: datetime = Field(sa_column=_ts())


class TherapyEvent(_Table, table=True):
    """One patient therapy event: its ISBT 128 Chain of Identity Identifier (data content)."""

    __tablename__ = "therapy_event"
    id: int | None = Field(default=None, primary_key=True)
    subject_pk: int = Field(sa_column=_fk("subject.id"))
    coi: str = Field(unique=True, index=True, max_length=15)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    started_by: str = Field(max_length=64)
    started_at: datetime = Field(sa_column=_ts())


_STATE_COLUMNS = ("state", "lot_number", "subject_pk", "day0", "product_code", "spec_version")


class Lot(_Table, table=True):
    __table_args__ = (
        # the report's targets read the specs present from this index alone (migration 0007)
        Index("ix_lot_spec", "product_code", "spec_version"),
        # the lots in a state, with what Today reads of each, from the index alone (0009)
        Index("ix_lot_state", *_STATE_COLUMNS),
    )
    id: int | None = Field(default=None, primary_key=True)
    lot_number: str = Field(unique=True, index=True, max_length=24)
    # the code given at registration: the therapy event's CoI (0.2 on) or a 0.1 lot COI code
    coi: str = Field(index=True, max_length=15)
    therapy_event_pk: int = Field(sa_column=_fk("therapy_event.id"))
    subject_pk: int = Field(sa_column=_fk("subject.id"))
    product_code: str = Field(max_length=10)
    spec_version: str = Field(max_length=16)
    source: str = Field(max_length=12)
    apheresis_on: date | None = Field(default=None, sa_type=StoredDate)
    thaw_on: date | None = Field(default=None, sa_type=StoredDate)
    day0: date = Field(index=True, sa_type=StoredDate)
    state: str = Field(max_length=24)
    termination_cause: str | None = Field(default=None, max_length=16)
    termination_reason: str | None = Field(default=None, sa_column=Column(Text))
    registered_at: datetime = Field(sa_column=_ts(index=True))
    registered_by: str = Field(max_length=64)
    state_changed_at: datetime = Field(sa_column=_ts())
    row_version: int = 1
    # imported from another system (mfg import lots): a record of the past, never issuable
    historical: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})
    import_pk: int | None = Field(
        default=None, sa_column=Column(Integer, nullable=True)
    )  # ImportBatch


class CellCount(_Table, table=True):
    # a lot's current counts by day and entry: its last count is one look-up (migration 0006)
    __table_args__ = (
        partial_index(
            "ix_cellcount_current",
            "lot_pk",
            "expansion_day",
            "id",
            where="superseded_by_id IS NULL",
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    lot_pk: int = Field(sa_column=_fk("lot.id"))
    expansion_day: int = Field(sa_type=StoredInt("expansion_day"))
    measured_on: date = Field(sa_type=StoredDate)
    total_cells: int = Field(sa_column=_big("total_cells"))
    viable_cells: int = Field(sa_column=_big("viable_cells"))
    volume_ml: float | None = Field(default=None, sa_type=StoredFloat("volume_ml"))
    method: str | None = Field(default=None, max_length=80)
    recorded_by: str = Field(max_length=64)
    recorded_at: datetime = Field(sa_column=_ts())
    supersedes_id: int | None = Field(default=None, sa_column=_fk("cellcount.id", True, False))
    superseded_by_id: int | None = Field(default=None, sa_column=_fk("cellcount.id", True, False))
    correction_reason: str | None = Field(default=None, sa_column=Column(Text))


class Harvest(_Table, table=True):
    id: int | None = Field(default=None, primary_key=True)
    lot_pk: int = Field(sa_column=_fk("lot.id"))
    harvested_on: date = Field(sa_type=StoredDate)
    harvest_day: int = Field(sa_type=StoredInt("harvest_day"))
    total_viable_cells: int = Field(sa_column=_big("total_viable_cells"))
    car_pct: float = Field(sa_type=StoredFloat("car_pct"))
    bag_count: int = Field(sa_type=StoredInt("bag_count"))
    bag_volume_ml: float = Field(sa_type=StoredFloat("bag_volume_ml"))
    cryopreserved_on: date | None = Field(default=None, sa_type=StoredDate)
    expires_on: date | None = Field(default=None, sa_type=StoredDate)
    window_reason: str | None = Field(default=None, sa_column=Column(Text))
    recorded_by: str = Field(max_length=64)
    recorded_at: datetime = Field(sa_column=_ts())
    verified_by: str | None = Field(default=None, max_length=64)
    verified_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    supersedes_id: int | None = Field(default=None, sa_column=_fk("harvest.id", True, False))
    superseded_by_id: int | None = Field(default=None, sa_column=_fk("harvest.id", True, False))
    correction_reason: str | None = Field(default=None, sa_column=Column(Text))


UNVERIFIED = "superseded_by_id IS NULL AND verified_by IS NULL"


class ReleaseResult(_Table, table=True):
    # Covers the success-rate report: current non-passing results without a table scan.
    __table_args__ = (
        Index("ix_releaseresult_open", "evaluation", "superseded_by_id", "lot_pk", "test_code"),
        # the current results nobody has verified yet, for Today's results to verify (0010)
        partial_index("ix_releaseresult_unverified", "lot_pk", where=UNVERIFIED),
    )
    id: int | None = Field(default=None, primary_key=True)
    lot_pk: int = Field(sa_column=_fk("lot.id"))
    test_code: str = Field(max_length=12)
    value_text: str = Field(sa_column=Column(Text, nullable=False))
    value_num: float | None = Field(default=None, sa_type=StoredFloat("value_num"))
    qualifier: str = Field(default="", max_length=2)  # "", "<" or ">" (beyond the assay range)
    unit: str = Field(default="", max_length=40)
    evaluation: str = Field(max_length=8)  # pass | fail | pending
    tested_on: date | None = Field(default=None, sa_type=StoredDate)
    method_ref: str | None = Field(default=None, max_length=80)
    entered_by: str = Field(max_length=64)
    entered_at: datetime = Field(sa_column=_ts())
    verified_by: str | None = Field(default=None, max_length=64)
    verified_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    after_disposition: bool = False
    supersedes_id: int | None = Field(default=None, sa_column=_fk("releaseresult.id", True, False))
    superseded_by_id: int | None = Field(
        default=None, sa_column=_fk("releaseresult.id", True, False)
    )
    correction_reason: str | None = Field(default=None, sa_column=Column(Text))
    row_version: int = 1


class Deviation(_Table, table=True):
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(unique=True, max_length=24)
    lot_pk: int = Field(sa_column=_fk("lot.id"))
    result_pk: int | None = Field(default=None, sa_column=_fk("releaseresult.id", True))
    kind: str = Field(max_length=16)  # OOS, harvest-window, process, ...
    classification: str = Field(default="unclassified", max_length=16)
    description: str = Field(sa_column=Column(Text, nullable=False))
    opened_by: str = Field(max_length=64)
    opened_at: datetime = Field(sa_column=_ts())
    closed_by: str | None = Field(default=None, max_length=64)
    closed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    closure_note: str | None = Field(default=None, sa_column=Column(Text))
    row_version: int = 1


class Signature(_Table, table=True):
    """An electronic signature (21 CFR 11.50/11.70): bound to the hash of what was signed."""

    id: int | None = Field(default=None, primary_key=True)
    lot_pk: int = Field(sa_column=_fk("lot.id"))
    username: str = Field(max_length=64)
    printed_name: str = Field(max_length=200)
    meaning: str = Field(max_length=40)
    signed_at: datetime = Field(sa_column=_ts())
    record_hash: str = Field(max_length=64)


class Disposition(_Table, table=True):
    id: int | None = Field(default=None, primary_key=True)
    lot_pk: int = Field(sa_column=_fk("lot.id"))
    decision: str = Field(max_length=24)  # released | conditionally_released | rejected
    reason: str = Field(sa_column=Column(Text, nullable=False))
    exception: bool = False  # released while out of specification, citing deviations
    deviation_numbers: str = Field(default="", sa_column=Column(Text, nullable=False))
    pending_tests: str = Field(default="", max_length=200)
    signature_pk: int = Field(sa_column=_fk("signature.id"))
    decided_at: datetime = Field(sa_column=_ts())


class CoaRevision(_Table, table=True):
    __table_args__ = (UniqueConstraint("lot_pk", "revision"),)
    id: int | None = Field(default=None, primary_key=True)
    lot_pk: int = Field(sa_column=_fk("lot.id"))
    revision: int
    document_id: str = Field(unique=True, max_length=40)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    content_sha256: str | None = Field(default=None, max_length=64)
    results_hash: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=_ts())
    created_by: str = Field(max_length=64)
    # the issued document, frozen: what it says (canonical JSON) and the PDF as issued
    content_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    pdf: bytes = Field(default=b"", sa_column=Column(LargeBinary, nullable=False))
    pdf_sha256: str = Field(default="", max_length=64)


class Alert(_Table, table=True):
    # the open alerts, for Today (migration 0009)
    __table_args__ = (partial_index("ix_alert_open", "lot_pk", where="acknowledged_at IS NULL"),)
    id: int | None = Field(default=None, primary_key=True)
    lot_pk: int = Field(sa_column=_fk("lot.id"))
    kind: str = Field(max_length=32)
    message: str = Field(sa_column=Column(Text, nullable=False))
    raised_at: datetime = Field(sa_column=_ts())
    raised_by: str = Field(max_length=64)
    acknowledged_by: str | None = Field(default=None, max_length=64)
    acknowledged_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))


class DoseBag(_Table, table=True):
    __table_args__ = (
        UniqueConstraint("lot_pk", "bag_no"),
        # the thawed bags waiting for infusion, for Today (migration 0009)
        partial_index("ix_dosebag_thawed", "thawed_at", where="state = 'thawed'"),
    )
    id: int | None = Field(default=None, primary_key=True)
    lot_pk: int = Field(sa_column=_fk("lot.id"))
    bag_no: int
    bag_count: int
    volume_ml: float
    car_viable_cells: int = Field(sa_column=_big())
    state: str = Field(default="created", max_length=16)
    location: str | None = Field(default=None, max_length=80)  # tank/rack/box/position
    thawed_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    infused_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    created_at: datetime = Field(sa_column=_ts())
    row_version: int = 1


class CustodyEvent(_Table, table=True):
    id: int | None = Field(default=None, primary_key=True)
    bag_pk: int = Field(sa_column=_fk("dosebag.id"))
    action: str = Field(max_length=16)
    from_state: str = Field(max_length=16)
    to_state: str = Field(max_length=16)
    details: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    by: str = Field(max_length=64)
    at: datetime = Field(sa_column=_ts())


class LabelPrint(_Table, table=True):
    id: int | None = Field(default=None, primary_key=True)
    lot_pk: int = Field(sa_column=_fk("lot.id"))
    kind: str = Field(max_length=16)
    object_ref: str = Field(max_length=40)  # lot number, or lot/bag n
    payload: str = Field(sa_column=Column(Text, nullable=False))
    output_format: str = Field(max_length=8)
    stock: str = Field(max_length=24)
    copies: int = 1
    reprint_reason: str | None = Field(default=None, sa_column=Column(Text))
    printed_by: str = Field(max_length=64)
    printed_at: datetime = Field(sa_column=_ts())
    layout_version: int | None = None  # None: printed before label layouts were versioned
    isbt128: str | None = Field(default=None, sa_column=Column(Text))  # the Data Matrix message
    printer: str | None = Field(default=None, sa_column=Column(Text))  # command it was sent to


class LabelEvent(_Table, table=True):
    """Copies of a print applied to their container (scanned after application) or voided."""

    id: int | None = Field(default=None, primary_key=True)
    print_pk: int = Field(sa_column=_fk("labelprint.id"))
    action: str = Field(max_length=16)  # applied | voided
    quantity: int = 1
    reason: str | None = Field(default=None, sa_column=Column(Text))
    by: str = Field(max_length=64)
    at: datetime = Field(sa_column=_ts())


class LabelLayoutApproval(_Table, table=True):
    """QA's electronic signature approving a label layout version (and definition) for use."""

    __table_args__ = (UniqueConstraint("kind", "version", "definition_sha256"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=16)
    version: int
    definition_sha256: str = Field(max_length=64)
    username: str = Field(max_length=64)
    printed_name: str = Field(max_length=200)
    meaning: str = Field(max_length=40)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    signed_at: datetime = Field(sa_column=_ts())


class LotHold(_Table, table=True):
    """A hold QA placed by hand, and its lifting; both e-signed (21 CFR 11.50/11.70)."""

    id: int | None = Field(default=None, primary_key=True)
    lot_pk: int = Field(sa_column=_fk("lot.id"))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    placed_by: str = Field(max_length=64)
    placed_name: str = Field(max_length=200)
    placed_at: datetime = Field(sa_column=_ts())
    placed_hash: str = Field(max_length=64)
    lifted_by: str | None = Field(default=None, max_length=64)
    lifted_name: str | None = Field(default=None, max_length=200)
    lifted_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    lift_reason: str | None = Field(default=None, sa_column=Column(Text))
    lifted_hash: str | None = Field(default=None, max_length=64)
    row_version: int = 1


class OosAdministration(_Table, table=True):
    """QA's signed decision to let an out-of-specification (held) product be administered at
    the treating physician's request. The lot stays a failure in the outcome."""

    id: int | None = Field(default=None, primary_key=True)
    lot_pk: int = Field(sa_column=_fk("lot.id"))
    physician: str = Field(max_length=200)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    holds_covered: str = Field(sa_column=Column(Text, nullable=False))  # JSON list of hold codes
    signed_by: str = Field(max_length=64)
    printed_name: str = Field(max_length=200)
    signed_at: datetime = Field(sa_column=_ts())
    record_hash: str = Field(max_length=64)


class SiteSetting(_Table, table=True):
    """Settings that belong to the site, not to a user's environment (e.g. the time zone)."""

    key: str = Field(primary_key=True, max_length=40)
    value: str = Field(sa_column=Column(Text, nullable=False))
    changed_by: str = Field(max_length=64)
    changed_at: datetime = Field(sa_column=_ts())
    row_version: int = 1


class ImportBatch(_Table, table=True):
    """An import file, validated and staged; it changes nothing until a second QA person
    approves it with an e-signature."""

    id: int | None = Field(default=None, primary_key=True)
    file_name: str = Field(max_length=200)
    sha256: str = Field(max_length=64, index=True)
    content: str = Field(sa_column=Column(Text, nullable=False))
    product_code: str = Field(max_length=10)
    lot_count: int
    state: str = Field(max_length=16)  # staged | approved | rejected
    staged_by: str = Field(max_length=64)
    staged_at: datetime = Field(sa_column=_ts())
    decided_by: str | None = Field(default=None, max_length=64)
    decided_name: str | None = Field(default=None, max_length=200)
    decided_at: datetime | None = Field(default=None, sa_column=_ts(nullable=True))
    decision_reason: str | None = Field(default=None, sa_column=Column(Text))
    record_hash: str | None = Field(default=None, max_length=64)
    row_version: int = 1


class AuditEvent(_Table, table=True):
    """Append-only, keyed hash chain (21 CFR 11.10(e); EU GMP Annex 11 section 9): triggers refuse
    UPDATE and DELETE (migration 0003), the key lives outside the database (mfg.audit)."""

    __table_args__ = (
        Index("ix_auditevent_lot", "lot_number"),
        # an account's events, for the log-in's check against the trail (migration 0008)
        partial_index("ix_auditevent_user", "entity_id", "seq", where="entity = 'user'"),
    )
    seq: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    at: datetime = Field(sa_column=_ts())
    username: str = Field(max_length=64)
    action: str = Field(max_length=48)
    entity: str = Field(max_length=32)
    entity_id: str = Field(max_length=64)
    lot_number: str | None = Field(default=None, max_length=24)
    old_values: str = Field(default="null", sa_column=Column(Text, nullable=False))
    new_values: str = Field(default="null", sa_column=Column(Text, nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    key_id: str = Field(default="", max_length=16)  # which site audit key chained it (mfg.auditkey)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
