"""Lot registration (and, for a new subject, the subject's own record first)."""

from __future__ import annotations

from typing import Any

from mfg.domain.dates import parse_date
from mfg.domain.numbers import parse_decimal
from tui.screens._form import EntryForm, FormField
from tui.wording import known


def _source(text: str, _today: Any) -> str:
    from mfg.domain.lifecycle import parse_source

    return parse_source(text).value


def _subject_id(text: str, _today: Any) -> str:
    from mfg.domain.identity import subject_id

    return subject_id(text)


def _site(text: str, _today: Any) -> str:
    from mfg.domain.identity import site

    return site(text)


def _indication(text: str, _today: Any) -> str:
    from mfg.domain.indications import check_indication

    return check_indication(text)


def _weight(text: str, _today: Any) -> float:
    from mfg.domain.dose import check_weight

    return check_weight(float(parse_decimal(text.lower().removesuffix("kg").strip(), "weight_kg")))


class RegisterLotForm(EntryForm["str | None"]):
    """Returns the new lot number."""

    form_title = "Register a lot"
    # every subject id by its lookalike key (loaded in a worker at mount; None until then)
    subjects: dict[str, str] | None = None

    def fields(self) -> list[FormField]:
        return [
            FormField("subject_id", "Subject id", "S-001", _subject_id),
            FormField(
                "source", "Source: apheresis or cryo-pbmc", "apheresis", _source, value="apheresis"
            ),
            FormField(
                "apheresis_date",
                "Apheresis date (day 0 if fresh)",
                "YYYY-MM-DD or today",
                lambda t, d: parse_date(t, "apheresis_date", d),
                required=False,
                value="today",
                aliases=("day0",),
            ),
            FormField(
                "thaw_date",
                "Thaw date (day 0 if cryo-pbmc)",
                "YYYY-MM-DD",
                lambda t, d: parse_date(t, "thaw_date", d),
                required=False,
            ),
            FormField("site", "New subject only: site", "BJ01", _site, required=False),
            FormField(
                "indication", "New subject only: indication", "SLE", _indication, required=False
            ),
            FormField(
                "weight_kg", "New subject only: weight (kg)", "62.5", _weight, required=False
            ),
            FormField(
                "dose_level", "New subject only: dose level", "DL1, DL2, DL3", required=False
            ),
        ]

    def load_context(self) -> None:
        from mfg.services import subjects

        app: Any = self.app
        keys = subjects.subject_keys(db=app.db, actor=app.actor)
        app.call_from_thread(self._loaded, keys)

    def _loaded(self, keys: dict[str, str]) -> None:
        self.subjects = keys
        self.set_context("Day 0 is the apheresis date (fresh) or the thaw date (cryo-pbmc).")

    def _check_new_subject(self, subject_id: str) -> None:
        """New-subject fields filled for an id that exists, or looks like one that does: said
        under the id as it is typed, not after a confirmation that read "new subject"."""
        from mfg.domain.identity import lookalike_key
        from mfg.errors import RuleViolation

        other = None if self.subjects is None else self.subjects.get(lookalike_key(subject_id))
        if other == subject_id:
            raise RuleViolation(
                "subject_id",
                "subject-exists",
                f"subject {subject_id} exists: empty the new-subject fields (site, indication, "
                "weight, dose level) to register a lot for it",
            )
        if other is not None:
            raise RuleViolation(
                "subject_id",
                "subject-lookalike",
                f"{subject_id} looks like the existing subject {other}: use that subject, or "
                "an id that cannot be mistaken for it",
            )

    def check(self, values: dict[str, Any]) -> list[str]:
        from mfg.domain.expansion import day0_for

        day0 = day0_for(values["source"], values.get("apheresis_date"), values.get("thaw_date"))
        lines = [f"subject {values['subject_id']}, {values['source']}, day 0 = {day0}"]
        if values.get("site"):
            self._check_new_subject(values["subject_id"])
            given = known(
                (values.get("indication"), "{}"),
                (values.get("weight_kg"), "{:g} kg"),
                (values.get("dose_level"), "{}"),
            )
            lines.append(f"new subject at {values['site']}: {given or 'no details given'}")
        return lines

    def save(self, values: dict[str, Any]) -> str:
        from mfg.services import lots, subjects

        app: Any = self.app
        if values.get("site"):
            subjects.add_subject(
                subjects.AddSubject(
                    subject_id=values["subject_id"],
                    site=values["site"],
                    indication=values.get("indication") or "",
                    weight_kg=values.get("weight_kg") or 0.0,
                    dose_level=values.get("dose_level") or "",
                ),
                db=app.db,
                actor=app.actor,
                now=app.now(),
            )
        v = lots.register_lot(
            lots.RegisterLot(
                subject_id=values["subject_id"],
                source=values["source"],
                apheresis_on=values.get("apheresis_date"),
                thaw_on=values.get("thaw_date"),
            ),
            db=app.db,
            actor=app.actor,
            now=app.now(),
        )
        return v.lot_number

    def saved_message(self, result: str | None) -> str:
        return f"lot {result} registered"
