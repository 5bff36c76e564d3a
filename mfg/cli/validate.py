"""mfg validate: the operational qualification report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mfg.cli import app
from mfg.cli._common import Cli, ForceOpt, command, refuse


@command(app, "validate")
def validate_cmd(
    cli: Cli,
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="FILE.pdf", help="Write the OQ report here.")
    ],
    force: ForceOpt = False,
) -> None:
    """Operational qualification: run CellTrail end to end on a scratch database and write a PDF.

    Registration, counts, harvest, results, verification, release, COA, labels, scan, report
    and audit verify, plus refusals of bad input and wrong roles; each check with expected and
    observed values. The production database is never written (QA or admin).

    Example: mfg validate -o oq-2026-11-25.pdf --user qa
    """
    from mfg import validation
    from mfg.outfile import PendingOutput

    out = PendingOutput(output, force=force)
    actor = cli.actor()
    actor.require("validate")
    db = cli.database()
    url = db.engine.url.render_as_string(hide_password=False)
    db.dispose()
    q = validation.run(settings=cli.settings, production_url=url, run_by=actor, now=cli.now)
    out.fill(lambda tmp: validation.write_pdf(q, tmp))
    out.commit()
    n = q.counts
    data = {
        "report": str(output),
        "passed": q.passed,
        "counts": n,
        "version": q.version,
        "database_kind": q.database_kind,
        "run_by": q.run_by,
        "checks": [c.__dict__ for c in q.checks],
    }

    def human() -> None:
        for c in q.checks:
            mark = {"pass": "ok  ", "fail": "FAIL", "not available": "n/a "}[c.status]
            cli.out.print(f"{mark} {c.number:>5} {c.step}: {c.title}", markup=False)
        cli.out.print(
            f"{n['pass']} passed, {n['fail']} failed, {n['not available']} not available; "
            f"report {output}"
        )

    cli.emit(data, human)
    if not q.passed:
        failed = next(c for c in q.checks if c.status == "fail")
        raise refuse(
            f"{n['fail']} check(s) failed, first {failed.number} {failed.title}: {failed.observed}",
            "qualification-failed",
        )
