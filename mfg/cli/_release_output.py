"""How the release commands print their answers for people (``--json`` prints the data): the
review by exception and the answer of ``mfg coa verify``. Imported by the commands when they
print, so the command modules stay small and quick to load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mfg.cli._common import Cli
from mfg.domain.text import rich_inert


def _review_sections(cli: Cli, r: Any) -> list[tuple[str, list[str]]]:
    """Each section's lines as Rich markup: users' text inert (mfg.domain.text.rich_inert),
    only our own status styled (a broken signature in red, not the literal markup)."""
    plain = [(title, [rich_inert(x) for x in lines]) for title, lines in _plain_sections(cli, r)]
    signatures = [
        rich_inert(
            f"{s.printed_name} ({s.username}) {s.meaning} {s.signed_at:%Y-%m-%d %H:%M} UTC: "
        )
        + ("valid" if s.valid else "[bold red]BROKEN: signed records changed[/]")
        for s in r.signatures
    ]
    return [*plain, ("Signatures", signatures)]


def _plain_sections(cli: Cli, r: Any) -> list[tuple[str, list[str]]]:
    return [
        (
            "Out of specification",
            [
                f"{x.test_code} {x.display} (spec {x.acceptance}) {x.deviation_number or ''}"
                for x in r.oos
            ],
        ),
        (
            "Corrections",
            [
                f"{c.what} {c.ref}: {c.old} -> {c.new}; reason: {c.reason} ({c.by}, "
                f"{cli.local(c.at)})"
                for c in r.corrections
            ],
        ),
        (
            "Entered later than the event",
            [
                f"{e.what} {e.ref} of {e.event_on} entered {cli.local(e.entered_at)} by "
                f"{e.entered_by} ({e.days_late} day(s) later)"
                for e in r.late_entries
            ],
        ),
        (
            "Open deviations",
            [
                f"{d.number} {d.kind} ({d.classification}): {d.description}"
                for d in r.open_deviations
            ],
        ),
        (
            "Not verified",
            [f"{x.test_code} {x.display} entered by {x.entered_by}" for x in r.unverified],
        ),
        (
            "Pending",
            [
                f"{x.test_code} {x.test_name}: {x.status}"
                + (" (spec: may be pending)" if x.may_be_pending else "")
                for x in r.pending
            ],
        ),
    ]


def print_review(cli: Cli, r: Any) -> None:
    """``mfg lot review``: the exceptions QA must look at, then what blocks each decision."""
    from rich.markup import escape

    o = cli.out
    o.print(
        f"[bold]Review by exception {r.lot_number}[/]  {escape(f'[{r.state}]')}  spec "
        f"{r.product_code} v{r.spec_version}: {r.exception_count} exception(s)"
    )
    met = "[green]met[/]" if r.dose.met else f"[bold red]{r.dose.evaluation.upper()}[/]"
    o.print(f"dose: {r.dose.display} against {r.dose.acceptance}: {met}")
    for title, lines in _review_sections(cli, r):
        o.print(f"\n[bold]{title}[/] ({len(lines)})" if lines else f"\n{title}: none")
        for line in lines:
            o.print(f"  {line}")  # already markup with the users' text made inert
    o.print("\n[bold]Decisions[/]")
    for d, blockers in r.blockers.items():
        if not blockers:
            o.print(f"  {d}: [green]possible[/]")
        else:
            o.print(
                f"  {d}: blocked: " + escape("; ".join(f"{b.message} [{b.rule}]" for b in blockers))
            )
    o.print(
        f"\nreview fingerprint {r.reviewed[:16]}: sign what you read with `mfg disposition "
        f"{r.lot_number} DECISION --reviewed {r.reviewed[:16]} ...`"
    )


def print_coa_check(cli: Cli, file: Path, check: Any) -> None:
    """``mfg coa verify``: issued by CellTrail? unaltered? current? and why."""
    yes = {True: "yes", False: "NO", None: "cannot tell"}
    cli.out.print(
        f"{file}: {check.document_id or '-'} (lot {check.lot_number or '-'}, "
        f"revision {check.revision or '-'})"
    )
    cli.out.print(f"  issued by CellTrail: {yes[check.issued_by_celltrail]}")
    cli.out.print(f"  unaltered:           {yes[check.unaltered]}")
    cli.out.print(f"  current revision:    {yes[check.current]}")
    for m in check.messages:
        cli.out.print(f"  {m}")
