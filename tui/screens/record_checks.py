"""The lot's Release table: the release results, then the second person's checks of the values
that set the dose (the harvest's cells and CAR+ %, the subject's body weight).

A release needs both (``mfg.domain.four_eyes``): without these rows a lot harvested in the TUI
could only be released after ``mfg verify harvest`` / ``mfg verify weight`` at a shell. ``v`` on
one of the rows asks for confirmation, showing what is checked and who entered it, then calls
``harvest.verify_harvest`` / ``subjects.verify_weight`` with the version shown (a change since is
refused, never verified unseen).
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable

from mfg.domain.numbers import format_cells, format_cells_short, format_pct
from mfg.domain.text import visible
from tui.messages import LotChanged
from tui.workers import app_worker

HARVEST_ROW = "@harvest"
WEIGHT_ROW = "@weight"
EVAL_STYLE = {"pass": "green", "fail": "bold red", "pending": "yellow"}


def release_rows(table: DataTable[Any], d: Any) -> None:
    """Fill the Release table: every test of the spec (keyed by its code), then the checks.

    The specification, the last column, gets the width the others leave and wraps within it (a
    row grows a line): at 80 columns it was cut ("<= 5.0 cop") and QA never saw the limit."""
    rows: list[tuple[str, tuple[Any, ...]]] = []
    for r in d.results:
        ev = r.evaluation if r.status != "not entered" else ""
        status = Text(
            "awaited" if r.status == "not entered" else ev, style=EVAL_STYLE.get(ev, "dim")
        )
        if r.corrected:
            status.append(" corr.", style="magenta")
        verified: Any = _verified(r.verified_by) if r.verified_by or r.status == "final" else ""
        result = Text(result_value(r)) if r.status != "not entered" else "-"
        # stored text as Text, escapes visible: a str cell is read as markup
        code, by = Text(visible(r.test_code)), Text(visible(r.entered_by or ""))
        cells = (code, status, result, by, verified, r.acceptance)
        rows.append((r.test_code, cells))
    rows += check_rows(d)
    _fill(table, rows)
    # the width left depends on the layout (laid out yet? a scrollbar once the rows are in?):
    # fitted again after the next refresh, so that the table ends the same however the fill and
    # the layout interleaved (a snapshot differed by a zero-width cell now and then)
    table.call_after_refresh(_refit, table, rows)


def _fill(table: DataTable[Any], rows: list[tuple[str, tuple[Any, ...]]]) -> None:
    table.clear()
    spec = list(table.columns.values())[-1]
    spec.width, spec.auto_width = _spec_width(table, [cells for _, cells in rows]), False
    for key, cells in rows:
        table.add_row(*cells[:-1], Text(visible(cells[-1])), key=key, height=None)


def _refit(table: DataTable[Any], rows: list[tuple[str, tuple[Any, ...]]]) -> None:
    if not table.is_attached:
        return
    spec = list(table.columns.values())[-1]
    if _spec_width(table, [cells for _, cells in rows]) != spec.width:
        _fill(table, rows)


SPEC_MIN_WIDTH = 16


def _spec_width(table: DataTable[Any], rows: list[tuple[Any, ...]]) -> int:
    """What is left of the table's width for the specification once the other columns have the
    width of their widest cell (never under ``SPEC_MIN_WIDTH``)."""
    labels = [c.label for c in table.columns.values()][:-1]
    used = sum(
        max([cell_len(str(label))] + [cell_len(str(cells[i])) for cells in rows])
        + 2 * table.cell_padding
        for i, label in enumerate(labels)
    )
    room = table.scrollable_content_region.width or table.app.size.width - 2
    return max(SPEC_MIN_WIDTH, room - used - 2 * table.cell_padding)


def result_value(r: Any) -> str:
    """The result as the table shows it: without its unit when the specification beside it ends
    with that unit (``2.1`` under ``<= 5.0 copies/transduced cell``): with the unit in both
    columns the specification was cut at 80 columns ("<= 5.0 cop"). ``v`` and ``x`` show the
    whole value with its unit."""
    shown = visible(r.display)
    tail = f" {r.unit}" if r.unit else ""
    if tail and shown.endswith(tail) and r.acceptance.endswith(tail):
        return shown[: -len(tail)]
    return shown


def _verified(by: str | None) -> Text:
    return Text(visible(by)) if by else Text("to verify", style="yellow")


def check_rows(d: Any) -> list[tuple[str, tuple[Any, ...]]]:
    """(row key, cells) for the Release table: test, status, result, by, verified, spec."""
    rows: list[tuple[str, tuple[Any, ...]]] = []
    h = d.harvest
    if h is not None:
        # like a result: the CAR+ viable cells against the target dose, pass or fail; short,
        # so that the table fits 80 columns (v shows every figure)
        met = Text("pass", style="green") if h.dose_met else Text("fail", style="bold red")
        rows.append(
            (
                HARVEST_ROW,
                (
                    "HARVEST",
                    met,
                    format_cells_short(h.car_viable_cells),
                    Text(visible(h.recorded_by)),
                    _verified(h.verified_by),
                    f">= {format_cells_short(d.lot.target_dose_cells)} CAR+ viable",
                ),
            )
        )
    s = d.subject
    if s is not None:
        rows.append(
            (
                WEIGHT_ROW,
                (
                    "WEIGHT",
                    "",
                    f"{s.weight_kg:g} kg",
                    Text(visible(s.weight_recorded_by or "")),
                    _verified(s.weight_verified_by),
                    "sets the dose",
                ),
            )
        )
    return rows


def signer_note(app: Any, state: str) -> str:
    """For QA before the final disposition: verifying makes them one who may not sign it
    (``mfg.domain.four_eyes``); walked at 80x24, QA verified the last result Today listed,
    then was refused the signature with no other QA person on shift."""
    from mfg.domain.permissions import allowed

    if state not in ("harvested", "in_release_testing", "conditionally_released"):
        return ""
    if app.actor is None or not allowed(app.actor.role, "lot.disposition"):
        return ""
    return "\nYou sign dispositions: after this check another QA person must sign this lot."


def first_to_verify(d: Any, username: str) -> str | None:
    """The key of the first Release row waiting for ``username``'s check (entered by someone
    else): where the cursor starts when Today opens the lot to verify something."""
    for r in d.results:
        if r.status == "final" and not r.verified_by and r.entered_by != username:
            return str(r.test_code)
    h, s = d.harvest, d.subject
    if h is not None and not h.verified_by and h.recorded_by != username:
        return HARVEST_ROW
    if s is not None and not s.weight_verified_by and s.weight_recorded_by != username:
        return WEIGHT_ROW
    return None


def verify_record(screen: Any, key: str) -> bool:
    """``v`` on a HARVEST or WEIGHT row (False: the row is not one of them)."""
    from tui.screens.confirm import ConfirmDialog

    d = screen.detail
    if d is None or key not in (HARVEST_ROW, WEIGHT_ROW):
        return False
    app = screen.app
    if key == HARVEST_ROW:
        h = d.harvest
        what, version = "the harvest", h.version
        body = (
            f"harvest of {d.lot.lot_number} on day {h.harvest_day} ({h.harvested_on})\n"
            f"total viable cells {format_cells(h.total_viable_cells)}, CAR+ "
            f"{format_pct(h.car_pct)} = {format_cells(h.car_viable_cells)} CAR+ viable\n"
            f"entered by {h.recorded_by}"
        )
        done_by = h.verified_by
    else:
        s = d.subject
        what, version = f"the body weight of {s.subject_id}", s.version
        body = (
            f"subject {s.subject_id}: {s.weight_kg:g} kg, weighed on {s.weight_on}\n"
            f"it sets the target dose of {d.lot.lot_number}\n"
            f"entered by {s.weight_recorded_by or 'not recorded'}"
        )
        done_by = s.weight_verified_by
    if done_by:
        app.notify(f"{what} was verified by {done_by}", markup=False)
        return True
    body += f"; you verify it against the source record as {app.actor.full_name}."
    body += signer_note(app, d.lot.state)

    def answered(yes: bool | None) -> None:
        if yes:
            _verify(screen, key, what, version)

    app.push_screen(ConfirmDialog(f"Verify {what}?", body), answered)
    return True


def _verify(screen: Any, key: str, what: str, version: int) -> None:
    app = screen.app
    lot_number = screen.detail.lot.lot_number
    subject_id = screen.detail.lot.subject_id

    def call() -> None:
        who = {"db": app.db, "actor": app.actor, "now": app.now(), "expected_version": version}
        if key == HARVEST_ROW:
            from mfg.services import harvest

            harvest.verify_harvest(lot_number, **who)
        else:
            from mfg.services import subjects

            subjects.verify_weight(subject_id, **who)

    def done(_: None) -> None:
        app.notify(f"{what} verified", markup=False)
        app.post_message(LotChanged(lot_number))

    app_worker(app, "verify", call, done)
