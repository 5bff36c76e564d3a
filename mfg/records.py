"""What every table records: ONE declaration, from which ``mfg.integrity`` checks each stored
row against the audit trail (21 CFR 11.10(a), (e); EU GMP Annex 11 section 9; ALCOA+).

Every column of every table is either covered by a rule or exempted with a reason;
``tests/robustness/test_records_declared.py`` fails for a table or column that is neither, and
says which line to add here. Rules (what the stored value must equal):

- ``val("k", ...)``: the newest value the record's events carried under key ``k`` of ``new``
  (dotted for nested: ``signature.username``); compared only where the trail recorded it.
- ``BY``, ``AT``, ``LOT``: user, time, lot number of the event that created the record
  (``LOT`` on a ``lot_pk`` column compares the referenced lot's number).
- ``REASON``: the reason of the event that created the record; ``CORRECTION``: that reason
  when the record was created by a correction, else nothing.
- ``last("by"|"at"|"reason", *actions)``: of the newest event among ``actions`` (None if none).
- ``ref(table, column, rule)``: the referenced row's ``column`` equals what ``rule`` expects.
- ``SUPERSEDES``, ``SUPERSEDED_BY``: the correction links the trail recorded.
- ``check(name, why)``: a computed check in ``mfg.integrity.CHECKS`` (content and file hashes).
- ``ev("by"|"at"|"action"|"new.k"|"old.k")``: for rows that each mirror one event of their
  parent (custody events), that event's field.
- ``exempt(why)``: not compared, and why that is safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class Rule:
    """How a column's stored value is checked (see the module docstring)."""


@dataclass(frozen=True)
class Val(Rule):
    keys: tuple[str, ...]
    via: str = ""  # transform of the STORED value before comparing: sha256 | list
    fallback: Rule | None = None  # when the trail did not record any of ``keys``


@dataclass(frozen=True)
class Meta(Rule):
    what: str  # by | at | lot | reason | correction | supersedes | superseded_by | reason_if:ACTION


@dataclass(frozen=True)
class Last(Rule):
    what: str  # by | at | reason
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Ref(Rule):
    table: str
    column: str
    rule: Rule


@dataclass(frozen=True)
class Check(Rule):
    name: str
    why: str


@dataclass(frozen=True)
class Ev(Rule):
    path: str


@dataclass(frozen=True)
class Exempt(Rule):
    why: str


def val(*keys: str, via: str = "", fallback: Rule | None = None) -> Val:
    return Val(keys, via, fallback)


def last(what: str, *actions: str) -> Last:
    return Last(what, actions)


def ref(table: str, column: str, rule: Rule) -> Ref:
    return Ref(table, column, rule)


def check(name: str, why: str) -> Check:
    return Check(name, why)


def ev(path: str) -> Ev:
    return Ev(path)


def exempt(why: str) -> Exempt:
    return Exempt(why)


BY, AT, LOT = Meta("by"), Meta("at"), Meta("lot")
REASON, CORRECTION = Meta("reason"), Meta("correction")
SUPERSEDES, SUPERSEDED_BY = Meta("supersedes"), Meta("superseded_by")
SURROGATE = exempt("surrogate key: records are matched by their natural key and links checked")
VERSION = exempt("optimistic-locking counter: bumped by every audited change, meaning nothing")


@dataclass(frozen=True)
class Record:
    """One table: which audit events describe its rows, and a rule for every column."""

    table: str
    entity: str  # AuditEvent.entity ("" when no event names these rows)
    key: str  # how a row is named in events: a column, or a key in mfg.integrity.KEYS
    columns: dict[str, Rule]
    creates: frozenset[str] = frozenset()
    label: str = ""
    # rows the trail does not create one by one (dose bags come with their harvest)
    untracked: dict[str, object] | None = None
    # each row mirrors one event of its parent, in order (custody events of a bag)
    per_event: str = ""  # prefix of those events' actions
    # results: a pending result replaced by its value is linked by the rows alone
    loose_links: bool = False
    exempt_why: str = ""  # the whole table is not checked, and why

    @property
    def name(self) -> str:
        return self.label or self.entity or self.table


_WEIGHT_CHECK = ("weight_recorded_by", "weight_verified_by", "weight_verified_at")


def _todo(table: str, what: str) -> Record:
    return Record(table, "", "id", {}, exempt_why=f"{what}: not yet compared with the trail, to do")


def _c(*actions: str) -> frozenset[str]:
    return frozenset(actions)


RECORDS: list[Record] = [
    Record(
        "app_user",
        "user",
        "username",
        {
            "id": SURROGATE,
            "username": val("username"),
            "full_name": val("full_name"),
            "role": val("role"),
            "password_hash": val("password_sha256", via="sha256"),
            "failed_logins": val("failed_logins"),
            "locked": val("locked"),
            "active": val("active"),
            "created_at": AT,
            "password_changed_at": last("at", "user.added", "user.password_changed"),
            "row_version": VERSION,
        },
        _c("user.added"),
    ),
    Record(
        "subject",
        "subject",
        "subject_id",
        {
            "id": SURROGATE,
            **{k: val(k) for k in ("subject_id", "site", "indication", "weight_kg")},
            **{k: val(k) for k in ("weight_on", "dose_level", "initials", "dob")},
            "created_at": AT,
            **{k: exempt("weight four-eyes (issue 10): to do") for k in _WEIGHT_CHECK},
            "row_version": VERSION,
        },
        _c("subject.added", "subject.imported"),
    ),
    Record(
        "specpin",
        "",
        "spec",
        {
            "id": SURROGATE,
            "product_code": check("pin_recorded", "the pin is the hash its lots recorded"),
            "spec_version": check("pin_recorded", "the pin is the hash its lots recorded"),
            "sha256": check("pin_file", "the lots' recorded hash and the product file in use"),
            "first_used_at": exempt("informational: when the first lot used the version"),
        },
    ),
    Record(
        "lot",
        "lot",
        "lot_number",
        {
            "id": SURROGATE,
            **{k: val(k) for k in ("lot_number", "coi", "source", "apheresis_on", "thaw_on")},
            **{k: val(k) for k in ("day0", "spec_version", "state")},
            "subject_pk": ref("subject", "subject_id", val("subject_id")),
            "product_code": val("product"),
            "termination_cause": val("termination_cause", "cause"),
            "termination_reason": val(
                "termination_reason", fallback=last("reason", "lot.terminated")
            ),
            "historical": val("historical"),
            "import_pk": exempt("which import batch made it (issue 10): not yet compared, to do"),
            "registered_at": AT,
            "registered_by": BY,
            "state_changed_at": last(
                "at", "lot.registered", "lot.imported", "lot.state_changed", "lot.terminated"
            ),
            "row_version": VERSION,
        },
        _c("lot.registered", "lot.imported"),
    ),
    Record(
        "cellcount",
        "count",
        "id",
        {
            "id": SURROGATE,
            "lot_pk": LOT,
            "expansion_day": val("day"),
            **{k: val(k) for k in ("measured_on", "total_cells", "viable_cells", "volume_ml")},
            "method": val("method"),
            "recorded_by": BY,
            "recorded_at": AT,
            "supersedes_id": SUPERSEDES,
            "superseded_by_id": SUPERSEDED_BY,
            "correction_reason": CORRECTION,
        },
        _c("count.recorded", "count.imported"),
    ),
    Record(
        "harvest",
        "harvest",
        "id",
        {
            "id": SURROGATE,
            "lot_pk": LOT,
            "harvested_on": val("harvested_on"),
            "harvest_day": val("day"),
            **{k: val(k) for k in ("total_viable_cells", "car_pct", "bag_volume_ml")},
            "bag_count": val("bags"),
            **{k: val(k) for k in ("cryopreserved_on", "expires_on")},
            # 0.1 events carried it as the harvest event's reason
            "window_reason": val("window_reason", fallback=Meta("reason_if:harvest.recorded")),
            "verified_by": exempt("harvest verification (issue 10): not yet compared, to do"),
            "verified_at": exempt("harvest verification (issue 10): not yet compared, to do"),
            "recorded_by": BY,
            "recorded_at": AT,
            "supersedes_id": SUPERSEDES,
            "superseded_by_id": SUPERSEDED_BY,
            "correction_reason": CORRECTION,
        },
        _c("harvest.recorded", "harvest.imported"),
    ),
    Record(
        "releaseresult",
        "release_result",
        "id",
        {
            "id": SURROGATE,
            "lot_pk": LOT,
            **{k: val(k) for k in ("test_code", "value_num", "qualifier", "unit", "evaluation")},
            "value_text": val("value"),
            **{k: val(k) for k in ("tested_on", "method_ref", "verified_by")},
            "entered_by": BY,
            "entered_at": AT,
            "verified_at": last("at", "result.verified"),
            "after_disposition": val("late"),
            "supersedes_id": SUPERSEDES,
            "superseded_by_id": SUPERSEDED_BY,
            "correction_reason": CORRECTION,
            "row_version": VERSION,
        },
        _c("result.added", "result.imported"),
        label="result",
        loose_links=True,
    ),
    Record(
        "deviation",
        "deviation",
        "number",
        {
            "id": SURROGATE,
            **{k: val(k) for k in ("number", "kind", "classification", "description")},
            "lot_pk": LOT,
            "result_pk": ref("releaseresult", "test_code", val("test_code")),
            "opened_by": BY,
            "opened_at": AT,
            "closed_by": last("by", "deviation.closed"),
            "closed_at": last("at", "deviation.closed"),
            "closure_note": last("reason", "deviation.closed"),
            "row_version": VERSION,
        },
        _c("deviation.opened"),
    ),
    Record(
        "signature",
        "disposition",
        "signature",
        {
            "id": SURROGATE,
            "lot_pk": LOT,
            "username": val("signature.username"),
            "printed_name": val("signature.printed_name"),
            "meaning": val("signature.meaning"),
            "signed_at": val("signature.signed_at"),
            "record_hash": val("signature.record_sha256"),
        },
        _c("lot.disposition"),
        label="signature",
    ),
    Record(
        "disposition",
        "disposition",
        "id",
        {
            "id": SURROGATE,
            "lot_pk": LOT,
            "decision": val("decision"),
            "reason": REASON,
            "exception": val("exception"),
            "deviation_numbers": val("deviations", via="list"),
            "pending_tests": val("pending_tests", via="list"),
            "signature_pk": ref("signature", "record_hash", val("signature.record_sha256")),
            "decided_at": AT,
        },
        _c("lot.disposition"),
    ),
    Record(
        "coarevision",
        "coa_revision",
        "document_id",
        {
            "id": SURROGATE,
            "lot_pk": LOT,
            "revision": val("revision"),
            "document_id": exempt("the key: events name the revision by it"),
            "reason": REASON,
            "content_sha256": val("content_sha256"),
            "results_hash": exempt("derived from content_json (which is checked) to see change"),
            "created_at": AT,
            "created_by": BY,
            "content_json": check("coa_content", "what the COA says hashes to coa.issued's"),
            "pdf": check("coa_pdf", "the issued PDF hashes to coa.issued's pdf_sha256"),
            "pdf_sha256": val("pdf_sha256"),
        },
        _c("coa.issued"),
        label="COA",
    ),
    Record(
        "alert",
        "alert",
        "id",
        {
            "id": SURROGATE,
            "lot_pk": LOT,
            "kind": val("kind"),
            "message": val("message"),
            "raised_at": AT,
            "raised_by": BY,
            "acknowledged_by": last("by", "alert.acknowledged"),
            "acknowledged_at": last("at", "alert.acknowledged"),
        },
        _c("alert.raised"),
    ),
    Record(
        "dosebag",
        "dosebag",
        "bag",
        {
            "id": SURROGATE,
            "lot_pk": exempt("part of the key (LOT/Bn) the events name the bag by"),
            "bag_no": exempt("part of the key (LOT/Bn) the events name the bag by"),
            "bag_count": check("bag_from_harvest", "the lot's current harvest"),
            "volume_ml": check("bag_from_harvest", "the lot's current harvest"),
            "car_viable_cells": check("bag_from_harvest", "the lot's current harvest"),
            "state": val("state"),
            "location": val("location"),
            "thawed_at": last("at", "bag.thawed"),
            "infused_at": last("at", "bag.infused"),
            "created_at": exempt("made with the harvest; its existence is checked against it"),
            "row_version": VERSION,
        },
        label="dose bag",
        untracked={"state": "created", "location": None},
    ),
    Record(
        "custodyevent",
        "dosebag",
        "bag_of_event",
        {
            "id": SURROGATE,
            "bag_pk": exempt("names the bag whose events these rows mirror, in order"),
            "action": ev("action"),
            "from_state": ev("old.state"),
            "to_state": ev("new.state"),
            "details": check("custody_details", "the details its bag event recorded"),
            "by": ev("by"),
            "at": ev("at"),
        },
        label="custody event",
        per_event="bag.",
    ),
    Record(
        "labelprint",
        "labelprint",
        "id",
        {
            "id": SURROGATE,
            "lot_pk": LOT,
            "kind": val("kind"),
            "object_ref": val("object"),
            "payload": val("payload"),
            "output_format": val("format"),
            "stock": val("stock"),
            "copies": val("copies"),
            "reprint_reason": REASON,
            "printed_by": BY,
            "printed_at": AT,
        },
        _c("label.printed", "label.reprinted"),
        label="label print",
    ),
    _todo("importbatch", "import batches (issue 10)"),
    _todo("lothold", "lot holds (issue 10)"),
    _todo("oosadministration", "OOS administration records (issue 10)"),
    _todo("sitesetting", "site settings (issue 10)"),
    Record(
        "user_session",
        "",
        "id",
        {},
        exempt_why="login sessions (issue 12): who is logged in where; not yet compared with "
        "the trail (issue 11 landed after 12: to do)",
    ),
    Record(
        "password_history",
        "",
        "id",
        {},
        exempt_why="retired password hashes (issue 12), kept only to refuse reuse; not yet "
        "compared with the trail (to do)",
    ),
    Record(
        "auditevent",
        "",
        "seq",
        {},
        exempt_why="the trail itself: its keyed chain (mfg.audit) covers every column",
    ),
]

BY_TABLE: dict[str, Record] = {r.table: r for r in RECORDS}


@dataclass
class Coverage:
    """What the declaration misses for the tables in the schema (tested)."""

    missing: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.missing.append(text)


def coverage(schema: dict[str, list[str]]) -> Coverage:
    """``schema``: table -> its columns. Each table and column not declared, with what to add."""
    out = Coverage()
    for table, columns in sorted(schema.items()):
        rec = BY_TABLE.get(table)
        if rec is None:
            out.add(
                f"table {table} is not declared: add Record({table!r}, <audit entity>, <key>, "
                f"{{...a rule or exempt('why') for each column...}}) to RECORDS in "
                "mfg/records.py"
            )
            continue
        if rec.exempt_why:
            continue
        for column in columns:
            if column not in rec.columns:
                out.add(
                    f"column {table}.{column} is neither checked nor exempted: add "
                    f'"{column}": val("<event key>") or exempt("<why>") to the '
                    f"{table!r} Record in mfg/records.py"
                )
        for column in rec.columns:
            if column not in columns:
                out.add(f"mfg/records.py declares {table}.{column}, which the table lacks")
    return out
