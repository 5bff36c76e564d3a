"""Seeded synthetic lots for the report benchmarks: 10^4 to 10^6 lots in every state, with
harvests, 12 release results per tested lot, signatures and dispositions.

A FAST PATH for timing reads: rows go straight into the tables with executemany, in chunks of
``CHUNK`` lots (memory stays flat at a million lots), bypassing the services: no validation and
NO audit events (``mfg audit verify`` reports them missing). Never an example of data entry.

    from benchmarks.synth_report import report_lots
    report_lots(db, 1_000_000, seed=7)        # ~1.2 lots per subject

Command line: ``.venv/bin/python benchmarks/synth.py --report-lots 1000000 --home DIR``.
Deterministic for a given ``seed`` and ``n_lots`` (the chunking does not change the values).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mfg.services.uow import Database

SITES = ("BJ01", "SH02", "GZ03", "CD04", "WH05", "XA06")
INDICATIONS = ("SLE", "LN", "SSc", "SjS", "AAV", "IIM")
LEVELS = ("DL1", "DL2", "DL3")
TESTS = {
    "APPEAR": ("Conforms", "Does not conform"),
    "VIAB": ("92.5", "61.0"),
    "CD3": ("96.1", "72.0"),
    "CAR": ("31.0", "6.0"),
    "VCN": ("2.1", "6.3"),
    "POT": ("410", "22"),
    "ENDO": ("<0.5", "7.5"),
    "GRAM": ("No organisms seen", "Organisms seen"),
    "MYCO": ("Negative", "Positive"),
    "STER": ("No growth", "Growth"),
    "RCL": ("Not detected", "Detected"),
    "BEADS": ("12", "140"),
}
NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
CHUNK = 20_000


def _pick_state(rng: random.Random) -> str:
    x = rng.random()
    if x < 0.72:
        return "released"
    if x < 0.78:
        return "conditionally_released"
    if x < 0.83:
        return "rejected"
    if x < 0.88:
        return "terminated"
    return rng.choice(("registered", "in_expansion", "harvested", "in_release_testing"))


def _subjects(rng: random.Random, n: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for i in range(n):
        chunk.append(
            {
                "id": i + 1,
                "subject_id": f"S-{i + 1:06d}",
                "site": rng.choice(SITES),
                "indication": rng.choice(INDICATIONS),
                "weight_kg": round(rng.uniform(45, 125), 1),
                "weight_on": date(2024, 1, 1),
                "dose_level": rng.choice(LEVELS),
                "created_at": NOW,
                "row_version": 1,
            }
        )
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Rows:
    """The rows of one chunk of lots, per table."""

    def __init__(self) -> None:
        self.lots: list[dict[str, Any]] = []
        self.harvests: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []
        self.signatures: list[dict[str, Any]] = []
        self.dispositions: list[dict[str, Any]] = []


def _coi(subject_pk: int) -> str:
    """The subject's therapy event CoI (validation FIN A9990; 999,999 a year, then next year)."""
    from mfg.domain import ids

    year, seq = divmod(subject_pk - 1, 999_999)
    return ids.coi("A9990", 24 + year, seq + 1).content


def _events(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One therapy event per subject (the subject's id), CoI from the validation FIN."""
    return [
        {
            "id": s["id"],
            "subject_pk": s["id"],
            "coi": _coi(s["id"]),
            "reason": "synthetic",
            "started_by": "bench",
            "started_at": NOW,
        }
        for s in chunk
    ]


def _lot_row(
    i: int, subject_pk: int, rng: random.Random, per_year: dict[int, int]
) -> tuple[dict[str, Any], str]:
    from mfg.domain import ids

    source = "apheresis" if rng.random() < 0.7 else "cryo-pbmc"
    day0 = date(2024, 1, 1) + timedelta(days=rng.randrange(0, 1000))
    # lot numbers and COIs count per year (at most 999,999 a year, as on a real site)
    seq = per_year[day0.year] = per_year.get(day0.year, 0) + 1
    state = _pick_state(rng)
    cause = None
    if state == "terminated":
        cause = "manufacturing" if rng.random() < 0.6 else "not_evaluable"
    row = {
        "id": i + 1,
        "lot_number": ids.lot_number("BH002", day0.year, seq),
        "coi": _coi(subject_pk),
        "therapy_event_pk": subject_pk,  # one therapy event (CoI) per subject, same id
        "subject_pk": subject_pk,
        "product_code": "BH002",
        "spec_version": "1",
        "source": source,
        "apheresis_on": day0 if source == "apheresis" else day0 - timedelta(days=40),
        "thaw_on": None if source == "apheresis" else day0,
        "day0": day0,
        "state": state,
        "termination_cause": cause,
        "termination_reason": "synthetic" if cause else None,
        "registered_at": NOW,
        "registered_by": "bench",
        "state_changed_at": NOW,
        "row_version": 1,
    }
    return row, state


def _results(out: _Rows, lot_id: int, state: str, rng: random.Random) -> bool:
    bad = rng.random() < 0.04
    for code, (good, fail) in TESTS.items():
        value, evaluation = good, "pass"
        if bad and code == rng.choice(("VIAB", "CD3", "ENDO", "STER")):
            value, evaluation = fail, "fail"
        if state == "conditionally_released" and code == "STER":
            value, evaluation = "pending", "pending"
        out.results.append(
            {
                "lot_pk": lot_id,
                "test_code": code,
                "value_text": value,
                "qualifier": "",
                "unit": "",
                "evaluation": evaluation,
                "entered_by": "bench",
                "entered_at": NOW,
                "after_disposition": False,
                "row_version": 1,
            }
        )
    return bad


def _after_harvest(
    out: _Rows, lot: dict[str, Any], state: str, rng: random.Random, signatures: int
) -> int:
    """Harvest, results, signature and disposition of one lot; returns the signature count."""
    lot_id, day0 = lot["id"], lot["day0"]
    day = rng.choice((9, 10, 11, 12, 12, 13, 13, 14, 15)) if rng.random() < 0.1 else 12
    out.harvests.append(
        {
            "lot_pk": lot_id,
            "harvested_on": day0 + timedelta(days=day),
            "harvest_day": day,
            "total_viable_cells": int(rng.uniform(0.5e9, 6e9)),
            "car_pct": round(rng.uniform(12, 45), 1),
            "bag_count": 2,
            "bag_volume_ml": 50.0,
            "recorded_by": "bench",
            "recorded_at": NOW,
        }
    )
    if state == "harvested":
        return signatures
    bad = _results(out, lot_id, state, rng)
    if state not in ("released", "conditionally_released", "rejected"):
        return signatures
    signatures += 1
    out.signatures.append(
        {
            "id": signatures,
            "lot_pk": lot_id,
            "username": "qa",
            "printed_name": "Quinn Quality",
            "meaning": "released",
            "signed_at": NOW,
            "record_hash": "0" * 64,
        }
    )
    decided = datetime.combine(day0, datetime.min.time(), UTC) + timedelta(
        days=day + rng.randrange(3, 15)
    )
    out.dispositions.append(
        {
            "lot_pk": lot_id,
            "decision": state,
            "reason": "synthetic",
            "exception": bad and state == "released",
            "deviation_numbers": "",
            "pending_tests": "STER" if state == "conditionally_released" else "",
            "signature_pk": signatures,
            "decided_at": decided,
        }
    )
    return signatures


def _insert(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    from sqlalchemy import insert

    if rows:
        conn.execute(insert(table.__table__), rows)


def report_lots(db: Database, n_lots: int, seed: int = 7) -> None:
    """Bulk-insert ``n_lots`` lots (about 1.2 per subject) with harvests, results, dispositions."""
    from mfg.store.tables import (
        Disposition,
        Harvest,
        Lot,
        ReleaseResult,
        Signature,
        Subject,
        TherapyEvent,
    )

    rng = random.Random(seed)
    n_subjects = max(1, int(n_lots / 1.2))
    with db.engine.begin() as conn:
        for chunk in _subjects(rng, n_subjects):
            _insert(conn, Subject, chunk)
            _insert(conn, TherapyEvent, _events(chunk))
        signatures = 0
        per_year: dict[int, int] = {}
        for start in range(0, n_lots, CHUNK):
            out = _Rows()
            for i in range(start, min(start + CHUNK, n_lots)):
                lot, state = _lot_row(i, i % n_subjects + 1, rng, per_year)
                out.lots.append(lot)
                terminated_early = state == "terminated" and rng.random() < 0.7
                if state in ("registered", "in_expansion") or terminated_early:
                    continue
                signatures = _after_harvest(out, lot, state, rng, signatures)
            for table, rows in (
                (Lot, out.lots),
                (Harvest, out.harvests),
                (ReleaseResult, out.results),
                (Signature, out.signatures),
                (Disposition, out.dispositions),
            ):
                _insert(conn, table, rows)
        if db.dialect == "postgresql":
            for t in ("subject", "therapy_event", "lot", "signature"):
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{t}', 'id'), (SELECT max(id) FROM {t}))"
                )
