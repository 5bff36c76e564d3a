"""Print labels of a lot (PDF into $MFG_HOME/labels, or the site's label printer)."""

from __future__ import annotations

from typing import Any

from mfg.errors import RuleViolation
from tui.screens._form import EntryForm, FormField

KINDS = ("apheresis-bag", "pbmc-vial", "culture", "qc-sample", "dose-bag")


def _kind(text: str, _today: Any) -> str:
    k = text.strip().lower()
    if k not in KINDS:
        raise RuleViolation("kind", "unknown-label-kind", f"{text!r}: one of {', '.join(KINDS)}")
    return k


class LabelForm(EntryForm[bool]):
    def __init__(self, lot_number: str) -> None:
        self.lot_number = lot_number
        self.saved_to = ""
        super().__init__()
        self.form_title = f"Print labels for {lot_number}"

    def fields(self) -> list[FormField]:
        return [
            FormField("kind", "Label: " + ", ".join(KINDS), "dose-bag", _kind, value="dose-bag"),
            FormField(
                "reprint_reason",
                "Reprint reason (when printed before)",
                "label damaged",
                required=False,
            ),
        ]

    def check(self, values: dict[str, Any]) -> list[str]:
        app: Any = self.app
        printer = app.db.settings.label_printer if app._db is not None else ""
        where = f"to the label printer ({printer})" if printer else "as a PDF (no label printer)"
        return [f"{values['kind']} labels of {self.lot_number}, {where}"]

    def save(self, values: dict[str, Any]) -> bool:
        from mfg.outfile import PendingOutput
        from mfg.services import labels

        app: Any = self.app
        out = app.db.settings.home / "labels"
        out.mkdir(parents=True, exist_ok=True)
        path = out / f"{self.lot_number}-{values['kind']}.pdf"
        # the print is recorded only once its file is complete (a reprint replaces the file)
        pending = PendingOutput(path, force=True)
        labels.print_labels(
            labels.PrintLabels(
                lot_number=self.lot_number,
                kind=values["kind"],
                output_format="pdf",
                reprint_reason=values.get("reprint_reason"),
            ),
            db=app.db,
            actor=app.actor,
            now=app.now(),
            deliver=pending.write,
        )
        saved = pending.commit()
        self.saved_to = f"labels written to {saved}"
        printer = app.db.settings.label_printer
        if printer:  # the site's label printer (label_printer / MFG_LABEL_PRINTER)
            labels.send_to_printer(path.read_bytes(), printer)
            self.saved_to = f"labels sent to the label printer ({printer}); copy in {saved}"
        return True

    def saved_message(self, result: bool) -> str:
        return self.saved_to
