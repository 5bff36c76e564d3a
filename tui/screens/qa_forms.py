"""QA's lot actions beyond the signature: acknowledge alerts, open and close deviations,
terminate a lot. Each is an ``EntryForm`` (checked as typed, confirmed, then one audited
service call); the services enforce the role and the lot's state."""

from __future__ import annotations

from typing import Any

from mfg.domain.lifecycle import TerminationCause
from mfg.errors import RuleViolation
from tui.screens._form import EntryForm, FormField

DEV_KINDS = ("OOS", "dose", "harvest-window", "process", "other")
DEV_CLASSES = ("unclassified", "minor", "major", "critical")


def _one_of(name: str, options: tuple[str, ...]) -> Any:
    def parse(text: str, _today: Any) -> str:
        t = text.strip()
        match = next((o for o in options if o.casefold() == t.casefold()), None)
        if match is None:
            raise RuleViolation(name, f"unknown-{name}", f"{t!r}: one of {', '.join(options)}")
        return match

    return parse


class AckAlertsForm(EntryForm[bool]):
    """QA acknowledges a lot's open alerts with what was done (e.g. the site was notified)."""

    def __init__(self, lot_number: str, alerts: tuple[str, ...]) -> None:
        self.lot_number = lot_number
        self.alerts = alerts
        super().__init__()
        self.form_title = f"Acknowledge the alerts of {lot_number}"

    def fields(self) -> list[FormField]:
        return [FormField("note", "What was done (audited)", "treating site notified by phone")]

    def load_context(self) -> None:
        self.app.call_from_thread(self.set_context, "\n".join(f"ALERT {a}" for a in self.alerts))

    def check(self, values: dict[str, Any]) -> list[str]:
        return [
            f"{len(self.alerts)} alert(s) leave the board; the COA keeps them, marked acknowledged"
        ]

    def save(self, values: dict[str, Any]) -> bool:
        from mfg.services import deviations

        app: Any = self.app
        deviations.acknowledge_alerts(
            self.lot_number, values["note"], db=app.db, actor=app.actor, now=app.now()
        )
        return True

    def saved_message(self, result: bool) -> str:
        return f"alerts of {self.lot_number} acknowledged"


class OpenDeviationForm(EntryForm[bool]):
    def __init__(self, lot_number: str) -> None:
        self.lot_number = lot_number
        self.number = ""
        super().__init__()
        self.form_title = f"Open a deviation on {lot_number}"

    def fields(self) -> list[FormField]:
        return [
            FormField(
                "kind", "Kind: " + ", ".join(DEV_KINDS), "process", _one_of("kind", DEV_KINDS)
            ),
            FormField(
                "classification",
                "Classification: " + ", ".join(DEV_CLASSES),
                "minor",
                _one_of("classification", DEV_CLASSES),
                value="unclassified",
            ),
            FormField("description", "What deviated", "incubator door left open 20 min"),
        ]

    def check(self, values: dict[str, Any]) -> list[str]:
        return [f"{values['kind']} deviation ({values['classification']}) on {self.lot_number}"]

    def save(self, values: dict[str, Any]) -> bool:
        from mfg.services import deviations

        app: Any = self.app
        view = deviations.open_deviation(
            self.lot_number,
            values["kind"],
            values["description"],
            classification=values["classification"],
            db=app.db,
            actor=app.actor,
            now=app.now(),
        )
        self.number = view.number
        return True

    def saved_message(self, result: bool) -> str:
        return f"deviation {self.number} opened on {self.lot_number}"


class CloseDeviationForm(EntryForm[bool]):
    def __init__(self, lot_number: str, open_numbers: tuple[str, ...]) -> None:
        self.lot_number = lot_number
        self.open_numbers = open_numbers
        super().__init__()
        self.form_title = f"Close a deviation of {lot_number}"

    def fields(self) -> list[FormField]:
        return [
            FormField(
                "number",
                "Deviation: " + ", ".join(self.open_numbers),
                self.open_numbers[0] if self.open_numbers else "DEV-2026-0001",
                self._number,
                value=self.open_numbers[0] if self.open_numbers else "",
            ),
            FormField(
                "classification",
                "Final classification: " + ", ".join(DEV_CLASSES),
                "minor",
                _one_of("classification", DEV_CLASSES),
                required=False,
            ),
            FormField("note", "Closure note: outcome, CAPA reference", "CAPA-2026-012"),
        ]

    def _number(self, text: str, _today: Any) -> str:
        n = text.strip().upper()
        if n not in self.open_numbers:
            raise RuleViolation(
                "number",
                "not-open-here",
                f"{n} is not an open deviation of {self.lot_number} "
                f"({', '.join(self.open_numbers) or 'none open'})",
            )
        return n

    def check(self, values: dict[str, Any]) -> list[str]:
        return [f"closes {values['number']}; the lot's review shows it closed"]

    def save(self, values: dict[str, Any]) -> bool:
        from mfg.services import deviations

        app: Any = self.app
        deviations.close_deviation(
            values["number"],
            values["note"],
            classification=values.get("classification"),
            db=app.db,
            actor=app.actor,
            now=app.now(),
        )
        return True

    def saved_message(self, result: bool) -> str:
        return f"deviation of {self.lot_number} closed"


class TerminateForm(EntryForm[bool]):
    """QA ends a lot before disposition (cause and reason are audited; nothing is deleted)."""

    def __init__(self, lot_number: str) -> None:
        self.lot_number = lot_number
        super().__init__()
        self.form_title = f"Terminate {lot_number}"

    def fields(self) -> list[FormField]:
        causes = tuple(c.value for c in TerminationCause)
        return [
            FormField(
                "cause",
                "Cause: " + ", ".join(causes),
                "manufacturing",
                _one_of("cause", causes),
            ),
            FormField("reason", "Reason (audited)", "contamination seen on day 6"),
        ]

    def check(self, values: dict[str, Any]) -> list[str]:
        return [
            f"{self.lot_number} ends as terminated ({values['cause']}); "
            "this cannot be undone: no more counts, harvest or release"
        ]

    def save(self, values: dict[str, Any]) -> bool:
        from mfg.services import lots

        app: Any = self.app
        lots.terminate_lot(
            self.lot_number,
            values["cause"],
            values["reason"],
            db=app.db,
            actor=app.actor,
            now=app.now(),
        )
        return True

    def saved_message(self, result: bool) -> str:
        return f"{self.lot_number} terminated"


def qa_form(
    action: str, lot_number: str, alerts: tuple[str, ...], open_devs: tuple[str, ...]
) -> Any:
    """The form for a lot-detail key (``a``, ``w``, ``z``, ``ctrl+t``)."""
    if action == "alerts":
        return AckAlertsForm(lot_number, alerts)
    if action == "deviation":
        return OpenDeviationForm(lot_number)
    if action == "close_deviation":
        return CloseDeviationForm(lot_number, open_devs)
    return TerminateForm(lot_number)
