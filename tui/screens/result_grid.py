"""Result entry as a grid: every test of the lot's specification on one screen, each with its
specification and unit, judged (pass / fail / pending) as it is typed with the CLI's parser.

Tests already entered (final) are shown, not editable (correct them with ``x``); pending ones
can get their final value. ``ctrl+s`` checks everything and shows what will be saved; Enter then
saves each result (one audited service call each, in order); a refusal stops there, says which
were saved, and marks the refused row. Nothing moves the cursor but Tab, Enter and the arrows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from mfg.domain.text import visible
from mfg.errors import CellTrailError, RuleViolation
from tui.widgets.footer import footer
from tui.wording import without_flags
from tui.workers import service_worker, ui

if TYPE_CHECKING:
    from mfg.domain.specs import Product, TestSpec

VERDICT = {
    "pass": ("PASS", "green"),
    "fail": ("FAIL: OOS", "bold red"),
    "pending": ("pending", "yellow"),
}


class ResultGrid(ModalScreen[bool]):
    BINDINGS = [
        Binding("escape", "back", "Back/cancel"),
        Binding("ctrl+s", "submit", "Check & confirm"),
    ]

    def __init__(self, lot_number: str) -> None:
        super().__init__()
        self.lot_number = lot_number
        self.product: Product | None = None
        self.current: dict[str, Any] = {}  # test code -> ResultView
        self.confirming = False
        self.saved: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(classes="form-box", id="grid-box"):
            title = f"Release results of {visible(self.lot_number)}"
            yield Static(title, classes="form-title", markup=False)
            yield Static("loading the specification ...", id="grid-context", markup=False)
            yield VerticalScroll(id="grid-rows", can_focus=False)
            yield Static("", id="grid-confirm", classes="confirm", markup=False)
        yield footer()

    def on_mount(self) -> None:
        self.load()

    @service_worker(group="grid-load")
    def load(self) -> None:
        from mfg.services import lots, release

        app: Any = self.app
        lot = lots.show_lot(self.lot_number, db=app.db, actor=app.actor)
        product = app.db.product(lot.product_code, lot.spec_version)
        results = release.list_results(self.lot_number, db=app.db, actor=app.actor)
        ui(self, self.show, product, results)

    def show(self, product: Product, results: list[Any]) -> None:
        self.product = product
        self.current = {r.test_code: r for r in results}
        rows = self.query_one("#grid-rows", VerticalScroll)
        for test in product.tests:
            r = self.current.get(test.code)
            final = r is not None and r.status == "final"
            inp = Input(
                value=visible(r.display) if r is not None and final else "",  # stored text
                placeholder="pending" if test.may_be_pending else test.unit or "value",
                id=f"g-{test.code}",
                disabled=final,
            )
            row = Horizontal(
                Static(test.code, classes="grid-code"),
                inp,
                Static(test.acceptance, classes="grid-spec", markup=False),
                Static(self._status(r), id=f"ev-{test.code}", classes="grid-verdict"),
                classes="grid-row",
            )
            rows.mount(row)
        todo = [t.code for t in product.tests if self._open(t.code)]
        self.query_one("#grid-context", Static).update(
            f"{product.code} spec v{product.spec_version}: {len(todo)} to enter. Tab or Enter "
            "moves on, ctrl+s checks and shows what will be saved."
        )
        self.call_after_refresh(self._focus_first_open)

    def _open(self, code: str) -> bool:
        r = self.current.get(code)
        return r is None or r.status != "final"

    def _status(self, r: Any) -> Text:
        if r is None or r.status == "not entered":
            return Text("")
        who = visible(r.entered_by) + (
            f", verified {visible(r.verified_by)}" if r.verified_by else ""
        )
        label, style = VERDICT.get(r.evaluation, (r.evaluation, ""))
        return Text(f"{label} ({who})", style=style)

    def _focus_first_open(self) -> None:
        for inp in self.query(Input):
            if not inp.disabled:
                inp.focus()
                return

    def _test(self, inp: Input) -> TestSpec | None:
        code = (inp.id or "").removeprefix("g-")
        return self.product.test(code) if self.product is not None else None

    def on_input_changed(self, event: Input.Changed) -> None:
        test = self._test(event.input)
        if test is None or event.input.disabled:
            return
        if self.confirming:
            self._unconfirm()
        self.query_one(f"#ev-{test.code}", Static).update(self._judge(test, event.value))

    def _judge(self, test: TestSpec, text: str) -> Text:
        from mfg.domain.results import parse_result

        if not text.strip():
            return Text("")
        try:
            parsed = parse_result(test, text)
        except RuleViolation as e:
            return Text(f"{without_flags(e.message)} [{e.rule}]", style="red")
        label, style = VERDICT.get(str(parsed.evaluation), (str(parsed.evaluation), ""))
        return Text(label, style=style)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.confirming:
            self.action_submit()
            return
        self.focus_next()

    def entries(self) -> tuple[list[tuple[str, str, str]], list[str]]:
        """(code, value as typed, verdict) of every filled open row, and the refused codes."""
        from mfg.domain.results import parse_result

        good, bad = [], []
        for inp in self.query(Input):
            test = self._test(inp)
            if test is None or inp.disabled or not inp.value.strip():
                continue
            try:
                parsed = parse_result(test, inp.value)
            except RuleViolation:
                bad.append(test.code)
                continue
            good.append((test.code, inp.value.strip(), str(parsed.evaluation)))
        return good, bad

    def action_submit(self) -> None:
        good, bad = self.entries()
        confirm = self.query_one("#grid-confirm", Static)
        if bad:
            confirm.update(f"fix {', '.join(bad)} first")
            self.query_one(f"#g-{bad[0]}", Input).focus()  # the user asked: ctrl+s
            return
        if not good:
            confirm.update("type at least one result")
            return
        if self.confirming:
            confirm.update("saving ...")
            self.save_all(good)
            return
        self.confirming = True
        fails = [c for c, _v, ev in good if ev == "fail"]
        confirm.update(
            f"{len(good)} result(s) to save: {', '.join(c for c, _v, _e in good)}"
            + (f"; OUT OF SPEC: {', '.join(fails)} (an OOS deviation is opened)" if fails else "")
            + ". A second person verifies each. Enter saves, Esc goes back to edit."
        )

    def _unconfirm(self) -> None:
        self.confirming = False
        self.query_one("#grid-confirm", Static).update("")

    @service_worker(group="grid-save")
    def save_all(self, good: list[tuple[str, str, str]]) -> None:
        from mfg.services import release

        app: Any = self.app
        for code, value, _ev in good:
            release.add_result(
                release.AddResult(lot_number=self.lot_number, test_code=code, value=value),
                db=app.db,
                actor=app.actor,
                now=app.now(),
            )
            self.saved.append(code)
        ui(self, self._saved)

    def _saved(self) -> None:
        self.app.notify(
            f"{len(self.saved)} result(s) recorded for {self.lot_number}", title="Saved"
        )
        self.dismiss(True)

    def refused(self, e: CellTrailError) -> None:
        self._unconfirm()
        done = f"saved: {', '.join(self.saved)}; " if self.saved else "nothing saved; "
        self.query_one("#grid-confirm", Static).update(
            f"{done}refused: {visible(without_flags(e.message))} [{e.rule}]"
        )
        if self.saved:
            self.app.notify(f"{len(self.saved)} result(s) were saved before the refusal")

    def action_back(self) -> None:
        if self.confirming:
            self._unconfirm()
            return
        good, bad = self.entries()
        if self.saved or not (good or bad):
            self.dismiss(bool(self.saved))
            return
        from tui.screens.confirm import ConfirmDialog

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(False)

        self.app.push_screen(
            ConfirmDialog("Discard these results?", "Nothing typed here is saved yet."), answered
        )
