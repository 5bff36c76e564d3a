"""Release testing and QA disposition: results, four eyes, verification, the e-signature, COA."""

from __future__ import annotations

from mfg.errors import AuthenticationFailed, NotPermitted
from mfg.services import lots, release
from mfg.validation.context import CONFORMING_RESULTS, Oq, refused
from mfg.validation.registry import oq_check


@oq_check(
    "Results",
    "Release results against the specification",
    "every one of the 12 tests evaluates pass",
)
def results(oq: Oq) -> tuple[bool, str]:
    evals = {}
    for code, value in CONFORMING_RESULTS.items():
        v = release.add_result(
            release.AddResult(oq.lot, code, value), db=oq.db, actor=oq.tech, now=oq.now
        )
        evals[code] = v.evaluation
    ok = all(e == "pass" for e in evals.values())
    return ok, f"{len(evals)} results: " + ", ".join(f"{k} {v}" for k, v in evals.items())


@oq_check("Verification", "Four eyes: nobody verifies their own result", "refused")
def four_eyes(oq: Oq) -> tuple[bool, str]:
    return refused(
        lambda: release.verify_result(oq.lot, "VIAB", db=oq.db, actor=oq.tech, now=oq.now),
        kind=NotPermitted,
    )


@oq_check(
    "Verification",
    "Second-person verification",
    "all 12 results verified by a second technician",
)
def verify(oq: Oq) -> tuple[bool, str]:
    for code in CONFORMING_RESULTS:
        release.verify_result(oq.lot, code, db=oq.db, actor=oq.tech2, now=oq.now)
    views = release.list_results(oq.lot, db=oq.db, actor=oq.qa)
    done = [v for v in views if v.verified_by]
    return (
        len(done) == len(CONFORMING_RESULTS),
        f"{len(done)} of {len(views)} results verified by oq-tech2",
    )


@oq_check(
    "Release",
    "E-signature re-asks the password",
    "a wrong password is refused, nothing signed",
)
def wrong_password(oq: Oq) -> tuple[bool, str]:
    return refused(
        lambda: release.dispose(
            release.Dispose(oq.lot, "release", "OQ"),
            oq.password + "x",
            db=oq.db,
            actor=oq.qa,
            now=oq.now,
        ),
        kind=AuthenticationFailed,
    )


@oq_check("Release", "Only QA disposes a lot", "a technician is refused")
def tech_cannot_release(oq: Oq) -> tuple[bool, str]:
    return refused(
        lambda: release.dispose(
            release.Dispose(oq.lot, "release", "OQ"),
            oq.password,
            db=oq.db,
            actor=oq.tech,
            now=oq.now,
        ),
        kind=NotPermitted,
    )


@oq_check(
    "Release",
    "QA release with an e-signature",
    "lot released; signature shows the printed name and meaning",
)
def release_with_signature(oq: Oq) -> tuple[bool, str]:
    sig = release.dispose(
        release.Dispose(oq.lot, "release", "OQ: all results meet specification"),
        oq.password,
        db=oq.db,
        actor=oq.qa,
        now=oq.now,
    )
    state = lots.show_lot(oq.lot, db=oq.db, actor=oq.qa).state
    ok = state == "released" and sig.printed_name == oq.qa.full_name
    return ok, f"state {state}; signed by {sig.printed_name}, meaning {sig.meaning}"


@oq_check(
    "COA",
    "Certificate of Analysis issued and verified",
    "a PDF that `coa verify` finds issued, unaltered and current",
)
def coa(oq: Oq) -> tuple[bool, str]:
    issued = release.issue_coa(oq.lot, destination="validation", db=oq.db, actor=oq.qa, now=oq.now)
    check = release.verify_pdf(issued.pdf, db=oq.db, actor=oq.qa)
    ok = (
        issued.pdf.startswith(b"%PDF")
        and check.issued_by_celltrail
        and bool(check.unaltered)
        and check.current
    )
    return (
        ok,
        f"PDF {len(issued.pdf):,} bytes; issued by CellTrail {check.issued_by_celltrail}, "
        f"unaltered {check.unaltered}, current {check.current}",
    )
