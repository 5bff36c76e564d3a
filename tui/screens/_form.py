"""The entry-form pattern shared by registration, count, harvest and result forms.

Each input is checked as it is typed with the domain parser the CLI uses, so the message under
the field is the message ``mfg`` prints. Submitting (Enter on the last field, or ctrl+s) shows a
confirmation with the derived values; Enter there saves (in a thread worker); a refusal from the
service is shown under the input its ``RuleViolation.field`` names, or as a toast otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Generic, TypeVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, Label, Static

from mfg.domain.text import visible
from mfg.errors import CellTrailError, RuleViolation
from tui.widgets.footer import footer
from tui.wording import without_flags
from tui.workers import service_worker, ui

R = TypeVar("R")
WARNING = "CHECK: "  # a derived line that asks the user to look again (not a refusal)


def _message(e: RuleViolation, labels: dict[str, str] | None = None) -> str:
    """The CLI's wording: the message and the rule's name (``required`` needs no name), with
    the form's field labels where the CLI names its flags."""
    text = visible(without_flags(e.message, labels))  # it may quote stored text
    return text if e.rule == "required" else f"{text} [{e.rule}]"


@dataclass(frozen=True)
class FormField:
    name: str  # the domain's field name (RuleViolation.field)
    label: str
    placeholder: str = ""
    parse: Callable[[str, date], Any] | None = None  # None: free text
    required: bool = True
    value: str = ""
    aliases: tuple[str, ...] = ()  # other RuleViolation.field names that belong here


class EntryForm(ModalScreen[R], Generic[R]):
    """A modal form typed by what it returns on save (``None`` when cancelled)."""

    BINDINGS = [
        Binding("escape", "back", "Back/cancel"),
        Binding("ctrl+s", "submit", "Check & confirm"),
    ]
    form_title = "Entry"
    AUTO_FOCUS = ".form-row Input"  # the first field, not the scroll container

    def __init__(self) -> None:
        super().__init__()
        self.confirming = False
        self.values: dict[str, Any] = {}
        self.today: date | None = None
        self._cross_errors: set[str] = set()  # fields showing a cross-field refusal

    # -- to implement -----------------------------------------------------------------------
    def fields(self) -> list[FormField]:
        raise NotImplementedError

    def check(self, values: dict[str, Any]) -> list[str]:
        """Cross-field checks (raise RuleViolation) and the derived values to confirm."""
        return []

    def save(self, values: dict[str, Any]) -> R:
        """Call the service (runs in a thread worker)."""
        raise NotImplementedError

    def record_or_correct(
        self,
        cmd: Any,
        replaces: Any,
        reason: str | None,
        record: Callable[..., Any],
        correct: Callable[..., Any],
    ) -> bool:
        """For ``save``: ``record(cmd)``, or, when the form ``replaces`` a record,
        ``correct(cmd, reason)`` with the version the form showed (a change since is refused)."""
        app: Any = self.app
        who = {"db": app.db, "actor": app.actor, "now": app.now()}
        if replaces is None:
            record(cmd, **who)
        else:
            correct(cmd, reason, **who, expected_version=getattr(replaces, "version", None))
        return True

    def load_context(self) -> None:
        """Runs in a worker at mount: fetch what the derived values need (lot, growth)."""

    # -- layout -----------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        # titles, labels, values and context quote stored text (a lot number, a deviation's
        # number, a count's method): its escapes are shown as text, never sent to the terminal
        with Vertical(classes="form-box"):
            yield Static(visible(self.form_title), classes="form-title", markup=False)
            yield Static("", id="form-context", classes="form-context", markup=False)
            with VerticalScroll(classes="form-fields", can_focus=False):
                for f in self.fields():
                    with Vertical(classes="form-row"):
                        label = visible(f.label) + ("" if f.required else " (optional)")
                        yield Label(label, markup=False)
                        value, hint = visible(f.value), visible(f.placeholder)
                        yield Input(value=value, placeholder=hint, id=f"in-{f.name}")
                        yield Static("", id=f"err-{f.name}", classes="error", markup=False)
            yield Static("", id="form-derived", classes="derived", markup=False)
            yield Static("", id="form-confirm", classes="confirm", markup=False)
        yield footer()

    def on_mount(self) -> None:
        self._fetch()

    @service_worker(group="form-load")
    def _fetch(self) -> None:
        app: Any = self.app
        today = app.db.today(app.now())
        ui(self, self._set_today, today)
        self.load_context()

    def _set_today(self, today: date) -> None:
        self.today = today
        self._revalidate_all(quiet=True)

    def set_context(self, text: str) -> None:
        self.query_one("#form-context", Static).update(visible(text, newline_ok=True))

    # -- validation as you type -------------------------------------------------------------
    def _field(self, name: str) -> FormField | None:
        return next((f for f in self.fields() if f.name == name), None)

    def _parse(self, f: FormField, text: str) -> Any:
        if not text.strip():
            if f.required:
                raise RuleViolation(f.name, "required", "required")
            return None
        if f.parse is None:
            return text.strip()
        return f.parse(text, self.today or date.today())

    def _set_error(self, name: str, message: str) -> None:
        try:
            err = self.query_one(f"#err-{name}", Static)
            inp = self.query_one(f"#in-{name}", Input)
        except Exception:
            return
        err.update(message)
        inp.set_class(bool(message), "-invalid")

    def on_input_changed(self, event: Input.Changed) -> None:
        name = (event.input.id or "").removeprefix("in-")
        f = self._field(name)
        if f is None:
            return
        if self.confirming:
            self._unconfirm()
        try:
            self.values[name] = self._parse(f, event.value)
            self._set_error(name, "")
        except RuleViolation as e:
            self.values.pop(name, None)
            # "required" is only shown on submit, not while the user has not typed yet
            self._set_error(name, "" if e.rule == "required" else _message(e, self._labels()))
        self._derive(quiet=True)

    def _revalidate_all(self, quiet: bool) -> bool:
        ok = True
        for f in self.fields():
            try:
                inp = self.query_one(f"#in-{f.name}", Input)
            except Exception:
                continue
            try:
                self.values[f.name] = self._parse(f, inp.value)
                self._set_error(f.name, "")
            except RuleViolation as e:
                ok = False
                self.values.pop(f.name, None)
                if not (quiet and e.rule == "required"):
                    self._set_error(f.name, _message(e, self._labels()))
        return ok

    def _derive(self, quiet: bool) -> list[str] | None:
        derived = self.query_one("#form-derived", Static)
        try:
            lines = self.check(dict(self.values))
        except RuleViolation as e:
            # while typing: the message goes under its field, the cursor stays where it is
            name = self._input_for(e.field)
            self._clear_cross_errors(keep=name)
            if not quiet or self._field(name) is not None:
                self.mark(e, focus=not quiet)
                self._cross_errors.add(name)
            derived.update("")
            return None
        except (KeyError, TypeError):
            derived.update("")
            return None
        self._clear_cross_errors()
        shown = Text()
        for i, line in enumerate(lines):
            shown.append(
                ("\n" if i else "") + visible(line),
                "bold yellow" if line.startswith(WARNING) else "",
            )
        derived.update(shown)
        return lines

    def _clear_cross_errors(self, keep: str = "") -> None:
        """A cross-field message (viable > total) goes once the fields agree again; a field's
        own parse error stays."""
        for name in list(self._cross_errors):
            if name != keep and name in self.values:
                self._set_error(name, "")
                self._cross_errors.discard(name)

    def _labels(self) -> dict[str, str]:
        out = {}
        for f in self.fields():
            for name in (f.name, *f.aliases):
                out[name] = f.label
        return out

    def _input_for(self, field: str) -> str:
        for f in self.fields():
            if field == f.name or field in f.aliases:
                return f.name
        return field

    def mark(self, e: RuleViolation, focus: bool = True) -> None:
        """Show a refusal under its field; ``focus`` only after the user submitted (Enter,
        ctrl+s): a form never moves the cursor while the user types."""
        name = self._input_for(e.field)
        if self._field(name) is not None:
            self._set_error(name, _message(e, self._labels()))
            if focus:
                self.query_one(f"#in-{name}", Input).focus()
        else:
            self.app.refused(e)  # type: ignore[attr-defined]

    # -- submit, confirm, save --------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.confirming:
            self.action_submit()
            return
        inputs = list(self.query(Input))
        i = inputs.index(event.input)
        if i < len(inputs) - 1:
            inputs[i + 1].focus()
        else:
            self.action_submit()

    def action_submit(self) -> None:
        if self.today is None:
            self.app.notify("still connecting to the database ...")
            return
        if self.confirming:
            self.query_one("#form-confirm", Static).update("saving ...")
            self._save(dict(self.values))
            return
        if not self._revalidate_all(quiet=False):
            self._focus_first_error()
            return
        lines = self._derive(quiet=False)
        if lines is None:
            return
        self.confirming = True
        self.add_class("confirming")
        warnings = [line for line in lines if line.startswith(WARNING)]
        self.query_one("#form-confirm", Static).update(
            f"{len(warnings)} plausibility warning(s) above: look again. "
            "Enter saves anyway, Esc goes back to edit."
            if warnings
            else "Check the values above. Enter saves, Esc goes back to edit."
        )

    def _focus_first_error(self) -> None:
        for f in self.fields():
            if str(self.query_one(f"#err-{f.name}", Static).render()).strip():
                self.query_one(f"#in-{f.name}", Input).focus()
                return

    def _unconfirm(self) -> None:
        self.confirming = False
        self.remove_class("confirming")
        self.query_one("#form-confirm", Static).update("")

    def action_back(self) -> None:
        if self.confirming:
            self._unconfirm()
        elif self.edited():
            from tui.screens.confirm import ConfirmDialog

            def answered(discard: bool | None) -> None:
                if discard:
                    self.dismiss(None)

            self.app.push_screen(
                ConfirmDialog(
                    "Discard this form?",
                    "What you typed is not saved. Enter discards it, Esc goes back to the form.",
                ),
                answered,
            )
        else:
            self.dismiss(None)

    def edited(self) -> bool:
        """Whether the user changed any field from what the form opened with."""
        for f in self.fields():
            for inp in self.query(f"#in-{f.name}").results(Input):
                if inp.value != visible(f.value):
                    return True
        return False

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        """The field's label stays in view with its input (the fields scroll at 80x24)."""
        row = event.widget.parent
        if isinstance(row, Vertical) and row.has_class("form-row"):
            self.call_after_refresh(row.scroll_visible, animate=False)

    def set_focus(
        self, widget: Widget | None, scroll_visible: bool = True, from_app_focus: bool = False
    ) -> None:
        """The row, not the input, is scrolled into view (``on_descendant_focus``): Textual
        centres a focused input it cannot show whole, and at mount, before the layout, that
        scrolled the first field's label ("Subject id") out of view at 80x24."""
        super().set_focus(widget, scroll_visible=False, from_app_focus=from_app_focus)

    @service_worker(group="form-save")
    def _save(self, values: dict[str, Any]) -> None:
        result = self.save(values)
        ui(self, self._saved, result)

    def _saved(self, result: R) -> None:
        self.app.notify(self.saved_message(result), title="Saved", markup=False)
        self.dismiss(result)

    def saved_message(self, result: R) -> str:
        return "saved"

    def refused(self, e: CellTrailError) -> None:
        self._unconfirm()
        if isinstance(e, RuleViolation):
            self.mark(e)
        else:
            self.app.refused(e)  # type: ignore[attr-defined]
