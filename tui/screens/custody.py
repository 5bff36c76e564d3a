"""A custody step on a dose bag, confirmed by scanning the bag's label.

The user picks the step (store, issue, thaw, infuse, discard) and its details, then scans the
label. The scan is checked against the bag chosen on screen: a match is confirmed in green and
the step is recorded by the custody service (which verifies the label again, in the same
transaction); a different bag, lot or subject is refused loudly (bell, red banner) and nothing is
written.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from mfg.domain.text import visible
from mfg.errors import CellTrailError, RuleViolation
from tui.messages import ScanTarget
from tui.screens.scan import canonical_code
from tui.widgets.footer import footer
from tui.wording import without_flags
from tui.workers import service_worker, ui

STEPS = ("store", "issue", "thaw", "infuse", "discard")


class CustodyDialog(ScanTarget, ModalScreen[bool]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "#cu-step"

    def __init__(self, lot_number: str, bag: Any) -> None:
        super().__init__()
        self.lot_number = lot_number
        self.bag = bag

    def compose(self) -> ComposeResult:
        b = self.bag
        with Vertical(classes="form-box"):
            yield Static(
                visible(f"Custody: bag {b.bag_no}/{b.bag_count} of {self.lot_number} ({b.state})"),
                classes="form-title",
                markup=False,
            )
            yield Label("Step: " + ", ".join(STEPS))
            yield Input(id="cu-step", placeholder="thaw")
            # one line inside the 80-column dialog (the longer wording was cut at "infuse),")
            yield Label("Details: location (store), subject id (issue, infuse), reason (discard)")
            yield Input(id="cu-detail", placeholder="LN2-1/R3/B07/A4")
            yield Label("Now scan the bag's label (or type its payload and Enter)")
            yield Input(id="cu-payload", placeholder="CT2:D:... (the QR code)")
            yield Static("", id="cu-verdict", markup=False)
        yield footer()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "cu-payload":
            self.handle_scan(event.value)
        else:
            self.focus_next()

    def handle_scan(self, payload: str) -> bool:
        """Called by the app for a scan while this dialog is open: check it, then record."""
        payload = canonical_code(payload)  # a Caps Lock scan is the same code
        step = self.query_one("#cu-step", Input).value.strip().lower()
        if step not in STEPS:
            self._verdict(f"choose a step first: {', '.join(STEPS)}", ok=False)
            return True
        self.query_one("#cu-payload", Input).value = payload.strip()
        self._verdict("checking the label ...", ok=None)
        self.record(step, self.query_one("#cu-detail", Input).value.strip(), payload.strip())
        return True

    @service_worker(group="custody")
    def record(self, step: str, detail: str, payload: str) -> None:
        from mfg.services import custody, labels

        app: Any = self.app
        db, actor, now = app.db, app.actor, app.now()
        seen = labels.scan(payload, db=db, actor=actor, expect_lot=self.lot_number)
        if seen.bag_no != self.bag.bag_no:
            raise RuleViolation(
                "payload",
                "wrong-bag",
                f"STOP: this is bag {seen.bag_no}/{seen.bag_count} ({seen.object_ref}), "
                f"not bag {self.bag.bag_no}: nothing was recorded",
            )
        if step == "store":
            from mfg.domain.custody import parse_location

            parts = [p.strip() for p in detail.split("/")]
            if len(parts) != 4:
                raise RuleViolation("location", "location-format", "write tank/rack/box/position")
            view = custody.store_bag(payload, parse_location(*parts), db=db, actor=actor, now=now)
        elif step == "issue":
            view = custody.issue_bag(
                payload, db=db, actor=actor, now=now, subject_id=detail or None
            )
        elif step == "thaw":
            view = custody.thaw_bag(payload, db=db, actor=actor, now=now)
        elif step == "infuse":
            view = custody.infuse_bag(payload, detail, db=db, actor=actor, now=now)
        else:
            view = custody.discard_bag(payload, detail, db=db, actor=actor, now=now)
        ui(self, self._done, view)

    def _done(self, view: Any) -> None:
        self._verdict(f"MATCH: bag {view.bag_no}/{view.bag_count} is now {view.state}", ok=True)
        self.app.notify(
            f"bag {view.bag_no} of {self.lot_number}: {view.state}", title="Custody", markup=False
        )
        self.dismiss(True)

    def refused(self, e: CellTrailError) -> None:
        self.app.bell()
        self._verdict(f"{without_flags(e.message)} [{e.rule}]", ok=False)
        self.query_one("#cu-payload", Input).value = ""

    def _verdict(self, text: str, ok: bool | None) -> None:
        style = {True: "bold black on green", False: "bold white on red", None: "dim"}[ok]
        # a refusal may quote stored or scanned text: its escapes shown as text
        self.query_one("#cu-verdict", Static).update(Text(visible(text), style=style))

    def action_cancel(self) -> None:
        self.dismiss(False)
