"""An import file's subjects against each other and the database's (pure rules): the same
subject with other attributes is a conflict; a new subject id or site that looks like another
is refused, as ``mfg subject add`` refuses it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from mfg.domain import identity
from mfg.domain.import_rows import Errors, ImportRow, RowError

SUBJECT_FIELDS = ("site", "indication", "weight_kg", "dose_level")


def check_subjects(
    rows: list[ImportRow], existing: Mapping[str, Any], errors: Errors
) -> dict[str, ImportRow]:
    """First row of each new subject; conflicting attributes (file or database) are errors."""
    first: dict[str, ImportRow] = {}
    for r in rows:
        known = existing.get(r.subject_id)
        for name in SUBJECT_FIELDS:
            mine = getattr(r, name)
            other = known if known is not None else first.get(r.subject_id)
            if other is None or _same_value(name, getattr(other, name), mine):
                continue
            where = "exists with" if known is not None else "has"
            row = "" if known is not None else f" in row {first[r.subject_id].line}"
            errors.items.append(
                RowError(
                    r.line,
                    r.lot_id,
                    name,
                    "subject-conflict",
                    f"subject {r.subject_id} {where} {name} {getattr(other, name)!r}{row}, "
                    f"not {mine!r}",
                )
            )
        if known is None:
            first.setdefault(r.subject_id, r)
    return first


def _same_value(name: str, stored: Any, mine: Any) -> bool:
    """A subject's attribute in the file is the stored one; a site compared in its canonical
    form (a subject stored at ``bj01`` before site codes were canonical is at ``BJ01``)."""
    if name == "site" and isinstance(stored, str):
        return bool(" ".join(stored.split()).upper() == mine)
    return bool(stored == mine)


def check_lookalikes(
    new: Mapping[str, ImportRow],
    known_subjects: Iterable[str],
    known_sites: Iterable[str],
    errors: Errors,
) -> None:
    """The file's new subjects and new sites, held to the rules ``mfg subject add`` keeps: a new
    subject id that looks like an existing subject's or another new one's (S-0O1 beside S-001)
    is an error, and so is a new site that looks like an existing or another new site (BJO1
    beside BJ01: one site under two codes splits the report's strata). A new subject at an
    existing site takes that site's stored spelling (``row.site`` is set to it)."""
    ids: dict[str, str] = {identity.lookalike_key(s): s for s in known_subjects}
    first_row: dict[str, int] = {}
    stored: dict[str, str] = {}  # a site's canonical form -> its code as stored
    sites: dict[str, str] = {}  # lookalike key -> canonical form
    for code in known_sites:
        canonical = " ".join(code.split()).upper()
        stored.setdefault(canonical, code)
        sites.setdefault(identity.lookalike_key(canonical), canonical)
    for sid, r in new.items():
        key = identity.lookalike_key(sid)
        other = ids.setdefault(key, sid)
        first_row.setdefault(sid, r.line)
        if other != sid:
            where = f" in row {first_row[other]}" if other in first_row else ""
            errors.items.append(
                RowError(
                    r.line,
                    r.lot_id,
                    "subject_id",
                    "subject-lookalike",
                    f"{identity.shown(sid)} looks like subject {identity.shown(other)}{where}: "
                    "use that subject, or an id that cannot be mistaken for it",
                )
            )
        if r.site in stored:
            r.site = stored[r.site]
            continue
        near = sites.setdefault(identity.lookalike_key(r.site), r.site)
        if near != r.site:
            errors.items.append(
                RowError(
                    r.line,
                    r.lot_id,
                    "site",
                    "site-lookalike",
                    f"{identity.shown(r.site)} looks like the site {identity.shown(near)}: "
                    "use that site code, or one that cannot be mistaken for it",
                )
            )


__all__ = ["SUBJECT_FIELDS", "check_lookalikes", "check_subjects"]
