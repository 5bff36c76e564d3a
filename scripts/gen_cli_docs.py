"""Write docs/cli.md from every command's ``--help`` (the Typer/Click command tree, walked).

    .venv/bin/python scripts/gen_cli_docs.py          # regenerate docs/cli.md
    .venv/bin/python scripts/gen_cli_docs.py --check  # exit 1 if docs/cli.md is out of date

tests/cli/test_cli_docs.py runs the check; regenerate after adding or changing a command.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "cli.md"
WIDTH = 100
REGENERATE = ".venv/bin/python scripts/gen_cli_docs.py"


def commands(group: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every command and group, depth first, in name order (typer vendors click: duck-typed)."""
    out: list[tuple[tuple[str, ...], Any]] = []
    for name in sorted(group.commands):
        cmd = group.commands[name]
        if getattr(cmd, "hidden", False):
            continue
        out.append(((*prefix, name), cmd))
        if hasattr(cmd, "commands"):
            out += commands(cmd, (*prefix, name))
    return out


def help_text(app: Any, path: tuple[str, ...]) -> str:
    from typer.testing import CliRunner

    env = {
        "COLUMNS": str(WIDTH),
        "LINES": "50",
        "TERM": "dumb",
        "NO_COLOR": "1",
        "MFG_USER": None,
        "MFG_DATABASE_URL": None,
        "MFG_HOME": None,
    }
    r = CliRunner().invoke(app, [*path, "--help"], env=env, prog_name="mfg", terminal_width=WIDTH)
    if r.exit_code != 0:
        raise SystemExit(f"mfg {' '.join(path)} --help failed: {r.output}")
    lines = [line.rstrip() for line in r.stdout.splitlines()]
    return "\n".join(lines).strip("\n")


def render() -> str:
    import typer.main

    from mfg.cli import app, load_all

    root = typer.main.get_command(load_all())
    parts = [
        "# `mfg` command reference",
        "",
        f"Generated from each command's `--help` by `scripts/gen_cli_docs.py`; do not edit by hand "
        f"(`{REGENERATE}`).",
        "",
        "## mfg",
        "",
        "```text",
        help_text(app, ()),
        "```",
    ]
    for path, _cmd in commands(root):
        title = "mfg " + " ".join(path)
        parts += ["", f"## {title}", "", "```text", help_text(app, path), "```"]
    return "\n".join(parts) + "\n"


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    text = render()
    if "--check" in argv:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            sys.stderr.write(f"docs/cli.md is out of date: run `{REGENERATE}`\n")
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
