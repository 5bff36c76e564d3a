"""Release results, second-person verification, QA disposition with e-signature, and the COA.

All through ``mfg.services.release`` (results, verification, review by exception, dispose, COA).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mfg.domain.dates import parse_date
from mfg.errors import RuleViolation
from tui.messages import LotChanged
from tui.screens._form import EntryForm, FormField
from tui.workers import app_worker, ui

if TYPE_CHECKING:
    from mfg.domain.specs import Product


def release_service() -> Any:
    try:
        return importlib.import_module("mfg.services.release")
    except ImportError:
        return None


def release_ready(app: Any) -> bool:
    if release_service() is None:
        app.notify("release testing is not installed in this CellTrail yet", severity="warning")
        return False
    return True


class ResultForm(EntryForm[bool]):
    """Enter a release result (or correct the current one, with a reason)."""

    def __init__(self, lot_number: str, test_code: str = "", correcting: Any = None) -> None:
        self.lot_number = lot_number
        self.correcting = correcting
        self.test_code = test_code or (correcting.test_code if correcting else "")
        self.product: Product | None = None
        self.results: list[Any] = []
        super().__init__()
        self.form_title = (
            f"Correct result {self.test_code} of {lot_number}"
            if correcting
            else f"Enter a release result for {lot_number}"
        )

    def fields(self) -> list[FormField]:
        # a correction is of the test the user chose (shown in the title and the context): no
        # field to change it, so the cursor starts in Result and nothing typed can correct
        # another test than the one named
        test_field = FormField(
            "test_code",
            "Test code",
            "VIAB, CD3, STER ...",
            self._parse_test,
            value=self.test_code,
            aliases=("test", "code"),
        )
        out = [] if self.correcting is not None else [test_field]
        out += [
            FormField("value", "Result", "92.5 %, <0.5, Conforms, pending", self._parse_value),
            FormField(
                "tested_on",
                "Tested on",
                "today or YYYY-MM-DD",
                lambda t, d: parse_date(t, "tested_on", d),
                required=False,
            ),
            FormField("method_ref", "Method / SOP reference", "SOP-QC-012", required=False),
        ]
        if self.correcting is not None:
            out.append(
                FormField("reason", "Reason for the correction (audited)", "e.g. wrong sample read")
            )
        return out

    def _parse_test(self, text: str, _today: Any) -> str:
        code = text.strip().upper()
        if self.product is not None and self.product.test(code) is None:
            raise RuleViolation(
                "test_code",
                "unknown-test",
                f"{text.strip()!r} is not a test of {self.product.code} spec v"
                f"{self.product.spec_version} (one of {', '.join(self.product.test_codes)})",
            )
        return code

    def _parse_value(self, text: str, _today: Any) -> Any:
        from mfg.domain.results import parse_result

        code = self.values.get("test_code") or self.test_code
        test = self.product.test(code) if self.product is not None and code else None
        if test is None:
            if not text.strip():
                raise RuleViolation("value", "required", "required")
            return text.strip()
        return parse_result(test, text)

    def _code(self, values: dict[str, Any]) -> str:
        code = self.test_code if self.correcting is not None else values["test_code"]
        return str(code)

    def load_context(self) -> None:
        release = release_service()
        app: Any = self.app
        results = release.list_results(self.lot_number, db=app.db, actor=app.actor)
        from mfg.services import lots

        lot = lots.show_lot(self.lot_number, db=app.db, actor=app.actor)
        product = app.db.product(lot.product_code, lot.spec_version)
        signed = list(release.signatures(self.lot_number, db=app.db, actor=app.actor))
        ui(self, self._show_context, product, results, signed)

    def _show_context(self, product: Product, results: list[Any], signed: list[Any]) -> None:
        self.product, self.results = product, results
        todo = [r.test_code for r in results if r.status == "not entered"]
        lines = [
            f"{product.code} spec v{product.spec_version}; still to enter: "
            + (", ".join(todo) if todo else "none")
        ]
        c = self.correcting
        if c is not None:
            lines.append(
                f"now: {c.test_code} = {c.display} ({c.evaluation}), entered by {c.entered_by}"
                + (f", verified by {c.verified_by}" if c.verified_by else ", not verified")
            )
            valid = [s for s in signed if s.valid]
            if valid:
                s = valid[-1]
                lines.append(
                    f"WARNING: {self.lot_number} is signed ({s.meaning} by {s.printed_name}); "
                    "this correction breaks that signature: QA must review and sign again"
                )
        self.set_context("\n".join(lines))
        self._revalidate_all(quiet=True)
        self._derive(quiet=True)

    def check(self, values: dict[str, Any]) -> list[str]:
        code = self._code(values)
        parsed = values["value"]
        test = self.product.test(code) if self.product else None
        if test is None or isinstance(parsed, str):
            return []
        ev = str(parsed.evaluation)
        lines = [f"{test.name} ({test.code}): spec {test.acceptance}"]
        verdict = {
            "pass": "PASS (conforms)",
            "fail": "FAIL: out of specification, an OOS deviation is opened",
            "pending": "PENDING",
        }.get(ev, ev)
        lines.append(f"result {parsed.value_text.strip()} -> {verdict}")
        if self.correcting is not None:
            lines.append(f"replaces {self.correcting.display}; the original stays visible")
        current = next((r for r in self.results if r.test_code == code), None)
        if current is not None and current.status != "not entered" and self.correcting is None:
            lines.append(f"replaces the pending entry by {current.entered_by}")
        lines.append("a second person must verify it")
        return lines

    def save(self, values: dict[str, Any]) -> bool:
        release = release_service()
        value = values["value"]
        cmd = release.AddResult(
            lot_number=self.lot_number,
            test_code=self._code(values),
            value=value.value_text if hasattr(value, "value_text") else str(value),
            tested_on=values.get("tested_on"),
            method_ref=values.get("method_ref"),
        )
        return self.record_or_correct(
            cmd, self.correcting, values.get("reason"), release.add_result, release.correct_result
        )

    def saved_message(self, result: bool) -> str:
        return f"result {'corrected' if self.correcting else 'recorded'} for {self.lot_number}"


# -- verification -------------------------------------------------------------------------------


def verify_selected(screen: Any) -> None:
    from tui.screens.confirm import ConfirmDialog

    r = screen.selected_result()
    if r is None or r.status == "not entered":
        screen.app.notify("choose an entered result on the Release tab", severity="warning")
        return
    body = (
        f"{r.test_name} ({r.test_code}) = {r.display} -> {r.evaluation}\n"
        f"specification {r.acceptance}\n"
        f"tested on {r.tested_on or 'not given'}, method {r.method_ref or r.method}\n"
        f"entered by {r.entered_by}; you verify it as {screen.app.actor.full_name}."
    )
    if screen.detail is not None:
        from tui.screens.record_checks import signer_note

        body += signer_note(screen.app, screen.detail.lot.state)

    def answered(yes: bool | None) -> None:
        if yes:
            _verify(screen, r.test_code)

    screen.app.push_screen(ConfirmDialog("Verify this result?", body), answered)


def _verify(screen: Any, test_code: str) -> None:
    app = screen.app

    def call() -> None:
        release_service().verify_result(
            screen.lot_number, test_code, db=app.db, actor=app.actor, now=app.now()
        )

    def done(_: None) -> None:
        app.notify(f"{test_code} verified")
        app.post_message(LotChanged(screen.lot_number))

    app_worker(app, "verify", call, done)


# -- disposition ---------------------------------------------------------------------------------

DECISION_MEANING = {
    "release": "released",
    "conditional-release": "conditionally released",
    "reject": "rejected",
}


def _decision(text: str, _today: Any) -> str:
    d = text.strip().lower().replace("_", "-").replace(" ", "-")
    if d not in DECISION_MEANING:
        raise RuleViolation(
            "decision", "unknown-decision", f"{text!r}: one of {', '.join(DECISION_MEANING)}"
        )
    return d


class DispositionForm(EntryForm[Any]):
    """QA decision on a lot, shown with the review by exception, then signed (SignDialog)."""

    def __init__(self, lot_number: str) -> None:
        self.lot_number = lot_number
        self.review: Any = None
        super().__init__()
        self.form_title = f"Disposition of {lot_number} (QA, e-signature)"

    def fields(self) -> list[FormField]:
        return [
            FormField(
                "decision", "Decision: release, conditional-release or reject", "release", _decision
            ),
            FormField("reason", "Reason (printed on the COA)", "all results conform"),
            FormField(
                "deviations",
                "Exception: cite deviations (OOS release only)",
                "DEV-2026-0001",
                required=False,
                aliases=("deviation",),
            ),
        ]

    def load_context(self) -> None:
        app: Any = self.app
        review = release_service().review(self.lot_number, db=app.db, actor=app.actor)
        ui(self, self._show_review, review)

    def _show_review(self, review: Any) -> None:
        self.review = review
        parts = [f"review by exception: {review.exception_count} exception(s)"]
        if review.oos:
            parts.append("OOS: " + ", ".join(f"{r.test_code} {r.display}" for r in review.oos))
        if review.unverified:
            parts.append("unverified: " + ", ".join(r.test_code for r in review.unverified))
        if review.pending:
            parts.append("pending: " + ", ".join(r.test_code for r in review.pending))
        if review.corrections:
            parts.append(
                "corrections: " + ", ".join(f"{c.ref} ({c.reason})" for c in review.corrections)
            )
        if review.open_deviations:
            parts.append("open deviations: " + ", ".join(d.number for d in review.open_deviations))
        parts.append(f"dose: {review.dose.display} ({review.dose.evaluation})")
        self.set_context("\n".join(parts))
        self._derive(quiet=True)

    def check(self, values: dict[str, Any]) -> list[str]:
        d = values["decision"]
        if self.review is None:
            return [f"decision: {d}"]
        blockers = self.review.blockers.get(d, ())
        if blockers and not values.get("deviations"):
            b = blockers[0]
            raise RuleViolation("decision", b.rule, b.message)
        return [f"{DECISION_MEANING[d]}: sign with your password next"]

    def action_submit(self) -> None:
        if self.confirming:
            self._sign()
            return
        super().action_submit()

    def _sign(self) -> None:
        from tui.screens.sign_dialog import SignDialog

        values = dict(self.values)
        app: Any = self.app
        release = release_service()
        devs = tuple(x for x in (values.get("deviations") or "").replace(",", " ").split() if x)
        cmd = release.Dispose(
            lot_number=self.lot_number,
            decision=values["decision"],
            reason=values["reason"],
            exception=bool(devs),
            deviation_numbers=devs,
            reviewed=self.review.reviewed if self.review is not None else None,
        )

        def sign(password: str) -> Any:
            return release.dispose(cmd, password, db=app.db, actor=app.actor, now=app.now())

        summary = f"{self.lot_number}: {values['reason']}"
        if self.review is not None:
            summary += f"\nreview by exception: {self.review.exception_count} exception(s)"
        dialog = SignDialog.for_actor(
            app,
            meaning=DECISION_MEANING[values["decision"]],
            record=f"disposition of lot {self.lot_number}",
            summary=summary,
            sign=sign,
        )
        app.push_screen(dialog, self._signed)

    def _signed(self, signature: Any) -> None:
        if signature is None:
            self._unconfirm()
            return
        self.app.notify(
            f"{self.lot_number} {signature.meaning} by {signature.printed_name}",
            title="Signed",
            markup=False,
        )
        self.dismiss(signature)


def disposition(screen: Any) -> None:
    if not screen.app.can("lot.disposition"):
        screen.app.notify("only QA signs dispositions", severity="warning")
        return
    screen.app.push_screen(DispositionForm(screen.lot_number), screen._done)


# -- COA -------------------------------------------------------------------------------------------


def coa(screen: Any) -> None:
    app = screen.app
    if release_service() is None:
        app.notify("release testing is not installed in this CellTrail yet", severity="warning")
        return

    def call() -> str:
        from mfg.outfile import PendingOutput

        out_dir = app.db.settings.home / "coa"
        out_dir.mkdir(parents=True, exist_ok=True)
        # a lot changed since its last revision (a hold, a new weight) is re-issued first, so
        # the file is named after the revision it holds
        release_service().reissue_if_changed(
            screen.lot_number, db=app.db, actor=app.actor, now=app.now()
        )
        revisions = release_service().revisions(screen.lot_number, db=app.db, actor=app.actor)
        n = revisions[-1].revision if revisions else 0
        # recorded as printed only once the file is complete (the same revision replaces it)
        pending = PendingOutput(out_dir / f"{screen.lot_number}-rev{n}.pdf", force=True)
        release_service().issue_coa(
            screen.lot_number,
            destination=str(out_dir),
            db=app.db,
            actor=app.actor,
            now=app.now(),
            deliver=pending.write,
        )
        path = pending.commit()
        printer = app.db.settings.coa_printer
        if printer:  # the site's COA printer (coa_printer / MFG_COA_PRINTER)
            from mfg.coa import send_to_printer

            send_to_printer(printer, path.read_bytes())
            return f"COA sent to the COA printer ({printer}); copy in {path}"
        return f"COA written to {path} (no COA printer configured)"

    def done(said: str) -> None:
        app.notify(said, title="COA", markup=False)

    app_worker(app, "coa", call, done)
