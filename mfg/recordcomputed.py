"""The computed checks ``mfg.records`` names (content and file hashes, bags against their
harvest) and the rows that mirror their parent's events one by one (custody events)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from mfg.domain.canonical import canonical_json
from mfg.domain.coa_body import body_hash
from mfg.recordrows import Tables, _key, _norm, _same, _show
from mfg.recordrules import Record
from mfg.trailfold import MISSING, Folded, RecordProblem, Trail


def check_per_event(rec_: Record, trail: Trail, t: Tables) -> tuple[list[RecordProblem], int]:
    """Rows that each mirror one event of their parent, in order (custody events of a bag)."""
    from mfg.domain.custody import STEPS

    leads_to = {a.value: target.value for a, (_from, target) in STEPS.items()}
    problems: list[RecordProblem] = []
    rows = sorted(t.rows[rec_.table], key=lambda r: r["id"])
    groups: dict[str, list[Any]] = {}
    for r in rows:
        groups.setdefault(_key(rec_, r, t), []).append(r)
    parents = {k for k, f in trail.of_entity(rec_.entity) if f.events}
    for bag in sorted(set(groups) | parents):
        folded = trail.records.get((rec_.entity, bag))
        events = (folded.events if folded else None) or []
        mine = groups.get(bag, [])
        for n, (row, evt) in enumerate(zip(mine, events, strict=False), 1):
            action, by, at, old, new, seq = evt
            want = {
                "action": action.removeprefix(rec_.per_event),
                # values an edit outside CellTrail made not an object (``NotJSON``, a list):
                # no state recorded, so the row's differs and is named
                "from_state": old.get("state") if isinstance(old, dict) else None,
                "to_state": new.get("state") if isinstance(new, dict) else None,
                "by": by,
                "at": at,
            }
            got = {
                **{k: row[k] for k in want},
                "action": leads_to.get(row["action"], row["action"]),
            }
            got["at"] = _norm(got["at"])
            details = _details_problem(row["details"], new, action)
            where = f"{row['id']} ({bag} step {n})"
            for k in want:
                if not _same(got[k], want[k]):
                    problems.append(
                        RecordProblem(
                            rec_.name,
                            where,
                            f"{k} is {_show(got[k])} but the audit trail recorded {_show(want[k])} (event {seq}): changed outside CellTrail",
                        )
                    )
            if details:
                problems.append(RecordProblem(rec_.name, where, f"{details} (event {seq})"))
        for row in mine[len(events) :]:
            problems.append(
                RecordProblem(
                    rec_.name,
                    str(row["id"]),
                    f"of {bag} exists but no audit event created it (inserted outside CellTrail)",
                )
            )
        for evt in events[len(mine) :]:
            problems.append(
                RecordProblem(
                    rec_.name,
                    f"{bag} step {events.index(evt) + 1}",
                    f"the audit trail recorded it (event {evt[5]}) but it no longer exists (deleted outside CellTrail)",
                )
            )
    return problems, len(rows)


def _details_problem(details: str, new: Any, action: str) -> str:
    """The custody row's details against its bag event: the same JSON object, every key the
    event recorded (but the bag's state and location, which the event adds) present with its
    value, and no other key; where the bag was stored is part of a store step's details.
    (Only keys present were compared: details emptied in SQL -- the subject infused, an
    infusion overrun, a discard reason -- verified clean.)"""
    try:
        stored = json.loads(details)
    except (TypeError, ValueError, RecursionError):  # deeper than json recurses: edited too
        return "details are not the JSON CellTrail wrote: changed outside CellTrail"
    if not isinstance(stored, dict):
        return f"details are {_show(stored)}, not the JSON object CellTrail wrote: changed outside CellTrail"
    if not isinstance(new, dict):
        return ""
    for k, v in stored.items():
        if k not in new:
            return f"details.{k} is not in the audit trail: changed outside CellTrail"
        w = new[k]
        if isinstance(v, (dict, list)) or isinstance(w, (dict, list)):
            same = v == w
        else:
            same = str(v) == str(w) or (isinstance(w, (int, float)) and _same(v, w))
        if not same:
            return f"details.{k} is {_show(v)} but the audit trail recorded {_show(w)}: changed outside CellTrail"
    added = {"state", "location"} if action != "bag.stored" else {"state"}
    for k, w in new.items():
        if k not in stored and k not in added:
            return f"details.{k} is missing but the audit trail recorded {_show(w)}: changed outside CellTrail"
    return ""


# -- computed checks (named in mfg.records) ------------------------------------------------------


def _coa_content(row: Any, rec: Folded, t: Tables) -> list[str]:
    want = rec.values.get("content_sha256")
    try:
        got = hashlib.sha256(
            canonical_json(json.loads(row["content_json"])).encode("utf-8")
        ).hexdigest()
    except (ValueError, RecursionError):
        got = "(not JSON)"
    if want is None or got == want:
        return []
    return [
        f"content_json hashes to {got[:16]}... but coa.issued recorded content_sha256 "
        f"{str(want)[:16]}... (event {rec.created_seq}): the issued COA was rewritten"
    ]


def _coa_pdf(row: Any, rec: Folded, t: Tables) -> list[str]:
    want = rec.values.get("pdf_sha256")
    got = hashlib.sha256(bytes(row["pdf"] or b"")).hexdigest()
    if want is None or got == want:
        return []
    return [
        f"pdf hashes to {got[:16]}... but coa.issued recorded pdf_sha256 {str(want)[:16]}... "
        f"(event {rec.created_seq}): the issued PDF was replaced"
    ]


def _import_content(row: Any, rec: Folded, t: Tables) -> list[str]:
    """The staged file (kept as text, a UTF-8 byte-order mark dropped) is the one whose SHA-256
    import.staged recorded: what the approver approves is what was staged."""
    want = rec.values.get("sha256")
    data = str(row["content"]).encode("utf-8")
    if want is None or want in (
        hashlib.sha256(data).hexdigest(),
        hashlib.sha256(b"\xef\xbb\xbf" + data).hexdigest(),
    ):
        return []
    return [
        f"content does not hash to the sha256 {str(want)[:16]}... import.staged recorded "
        f"(event {rec.created_seq}): the staged file was changed"
    ]


def _pin_recorded(row: Any, rec: Folded, t: Tables) -> list[str]:
    spec = (row["product_code"], row["spec_version"])
    recorded = t.__dict__.get("_spec_hashes", {}).get(spec)
    if recorded is None or recorded[0] == row["sha256"]:
        return []
    return [
        f"sha256 is {row['sha256'][:16]}... but the lots registered on it recorded spec_sha256 "
        f"{recorded[0][:16]}... (event {recorded[1]}): the pinned specification was changed"
    ]


def _pin_file(row: Any, rec: Folded, t: Tables) -> list[str]:
    if t.product_hash is None:
        return []
    now = t.product_hash(row["product_code"], row["spec_version"])
    if now is None or now == row["sha256"]:
        return []
    return [
        f"the product file in use for {row['product_code']} spec version {row['spec_version']} "
        f"has sha256 {now[:16]}..., the pin {row['sha256'][:16]}...: the specification file "
        "was changed after lots used it"
    ]


def _current_harvests(t: Tables) -> dict[Any, Any]:
    """Lot primary key -> its current harvest row."""
    return t.__dict__.setdefault(  # type: ignore[no-any-return]
        "_current_harvest",
        {
            h["lot_pk"]: h
            for h in sorted(t.rows.get("harvest", []), key=lambda h: h["id"])
            if h["superseded_by_id"] is None
        },
    )


def _bag_from_harvest(row: Any, rec: Folded, t: Tables) -> list[str]:
    h = _current_harvests(t).get(row["lot_pk"])
    if h is None:
        return ["exists but the lot has no harvest that made it (inserted outside CellTrail)"]
    bags = h["bag_count"] or 1
    want = {
        "bag_count": h["bag_count"],
        "volume_ml": h["bag_volume_ml"],
        "car_viable_cells": int(h["total_viable_cells"] * h["car_pct"] / 100) // bags,
    }
    out = []
    for k, v in want.items():
        number = isinstance(row[k], (int, float)) and not isinstance(row[k], bool)
        if k == "car_viable_cells" and number and abs(row[k] - v) <= 1:
            continue
        if not _same(row[k], v):
            out.append(
                f"{k} is {_show(row[k])} but its harvest {h['id']} makes it {_show(v)}: changed outside CellTrail"
            )
    if row["bag_no"] > h["bag_count"]:
        out.append(f"bag_no {row['bag_no']} is beyond the harvest's {h['bag_count']} bags")
    return out


def _bags_of_harvests(
    rec_: Record, rows: list[Any], trail: Trail, t: Tables
) -> list[RecordProblem]:
    """Every harvest recorded in CellTrail made bags 1..N (N its bag count: fixed from then
    on) and an imported one made none: a bag deleted, renumbered or doubled in SQL, which no
    single row shows (the harvest said N, the database tracked fewer), is named here."""
    from collections import Counter

    made: dict[Any, Counter[Any]] = {}
    for r in rows:
        made.setdefault(r["lot_pk"], Counter())[r["bag_no"]] += 1
    lots = t.lot_numbers()
    out = []
    for lot_pk, h in sorted(_current_harvests(t).items(), key=lambda kv: kv[1]["id"]):
        first = trail.records.get(("harvest", str(h["id"])))
        walked: set[int] = set()  # a loop of replacements (only an edit of the trail makes one)
        while first is not None and first.correction and first.supersedes is not MISSING:
            if id(first) in walked:
                first = None
                break
            walked.add(id(first))
            first = trail.records.get(("harvest", str(first.supersedes)))
        if first is None or first.created is None:
            continue  # the harvest row itself is reported (inserted outside CellTrail)
        lot = lots.get(lot_pk)
        have = made.get(lot_pk, Counter())
        imported = first.created[3] == "harvest.imported"
        want = set() if imported else set(range(1, int(h["bag_count"] or 0) + 1))
        for n in sorted(want - set(have)):
            out.append(
                RecordProblem(
                    rec_.name,
                    f"{lot}/B{n}",
                    f"harvest {h['id']} made it (event {first.created_seq}) but it no longer "
                    "exists (deleted or renumbered outside CellTrail)",
                )
            )
        for n, k in sorted(have.items(), key=lambda kv: str(kv[0])):
            if k > 1:
                out.append(RecordProblem(rec_.name, f"{lot}/B{n}", f"exists {k} times"))
            if imported:
                out.append(
                    RecordProblem(
                        rec_.name,
                        f"{lot}/B{n}",
                        f"exists but its harvest was imported (event {first.created_seq}), "
                        "which makes no bags: inserted outside CellTrail",
                    )
                )
            elif n not in want:
                out.append(
                    RecordProblem(
                        rec_.name,
                        f"{lot}/B{n}",
                        f"no harvest makes a bag {n} (harvest {h['id']} made bags 1 to "
                        f"{h['bag_count']}): changed outside CellTrail",
                    )
                )
    return out


def _pins_of_lots(rec_: Record, rows: list[Any], trail: Trail, t: Tables) -> list[RecordProblem]:
    """Every specification version a lot recorded (``spec_sha256`` at registration or import)
    keeps its pin: a pin deleted or re-keyed in SQL turned off the guard against a product
    file changed for a version in use, and nothing compared that file any more."""
    pinned = {(r["product_code"], r["spec_version"]) for r in rows}
    out = []
    for (code, version), (sha, seq) in sorted(trail.spec_hashes.items()):
        if (code, version) in pinned:
            continue
        now = t.product_hash(code, version) if t.product_hash is not None else None
        changed = (
            f"; the product file in use has sha256 {now[:16]}..., not the recorded {sha[:16]}..."
            if now is not None and now != sha
            else ""
        )
        out.append(
            RecordProblem(
                rec_.name,
                f"{code}/{version}",
                f"lots recorded it (event {seq}) but it no longer exists (deleted or re-keyed "
                f"outside CellTrail){changed}",
            )
        )
    return out


TABLE_CHECKS: dict[str, Callable[[Record, list[Any], Trail, Tables], list[RecordProblem]]] = {
    "bags_of_harvests": _bags_of_harvests,
    "pins_of_lots": _pins_of_lots,
}


def _coa_body(row: Any, rec: Folded, t: Tables) -> list[str]:
    """``results_hash`` is the hash of what the COA says (its content but the revision
    bookkeeping): a new revision is issued only when that changes, so a hash set in SQL to the
    next content's could hold back a needed revision."""
    try:
        want = body_hash(json.loads(row["content_json"]))
    except (TypeError, ValueError, AttributeError, RecursionError):
        return []  # content_json itself is reported (coa_content)
    got = row["results_hash"]
    if got == want:
        return []
    return [
        f"results_hash is {str(got)[:16]}... but its content makes it {want[:16]}...: changed "
        "outside CellTrail (a new revision is issued only when it changes)"
    ]


CHECKS: dict[str, Callable[[Any, Folded, Tables], list[str]]] = {
    "coa_body": _coa_body,
    "coa_content": _coa_content,
    "coa_pdf": _coa_pdf,
    "import_content": _import_content,
    "pin_recorded": _pin_recorded,
    "pin_file": _pin_file,
    "bag_from_harvest": _bag_from_harvest,
    "custody_details": lambda row, rec, t: [],
}
