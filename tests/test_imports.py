"""Start-up hygiene: `import mfg.cli` stays light, and the layering contracts hold."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("textual", "reportlab", "pandas", "scipy")


def loaded_after(statement: str) -> list[str]:
    code = (
        f"import sys, json\n{statement}\n"
        f"print(json.dumps(sorted(m for m in {list(HEAVY)!r} if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "statement",
    [
        "import mfg.cli",
        # building the whole command tree (what `mfg --help` does) must not import them either
        "import typer.main, mfg.cli; typer.main.get_command(mfg.cli.app)",
    ],
)
def test_the_cli_does_not_import_heavy_libraries(statement: str):
    assert loaded_after(statement) == [], (
        "import these inside the function that needs them (see docs/DEVELOPING.md)"
    )


def test_import_contracts_hold():
    lint = Path(sys.executable).parent / "lint-imports"
    if not lint.exists():
        pytest.fail("lint-imports is missing: pip install 'celltrail[dev]' (import-linter)")
    r = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert "0 broken" in r.stdout


def test_reading_a_lot_builds_no_validator_and_imports_no_coa_code():
    """`mfg lot show` is a fresh process per command: the services it imports must not pull in
    the COA renderer or the accounts service (holds' decisions import them where used), nor on
    SQLite SQLAlchemy's PostgreSQL dialect (the partial indexes' PostgreSQL predicates are set
    when PostgreSQL is used: ``partial.for_postgresql``), and the table models' pydantic
    validators are built when first used, not at import."""
    code = (
        "import sys\n"
        "import mfg.cli.lots\n"
        "from mfg.services import harvest, holds, lots\n"
        "from mfg.store import tables\n"
        "loaded = [m for m in ('mfg.coa', 'mfg.services.coa_service', 'mfg.services.users',"
        " 'sqlalchemy.dialects.postgresql') if m in sys.modules]\n"
        "built = [t.__name__ for t in (tables.Lot, tables.AuditEvent, tables.User)"
        " if t.__pydantic_complete__]\n"
        "print(loaded, built)\n"
        "try:\n"
        "    tables.Lot.model_validate({})\n"
        "except Exception as e:\n"  # built on first use, and it validates
        "    print(type(e).__name__, 'lot_number' in str(e), tables.Lot.__pydantic_complete__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.splitlines() == ["[] []", "ValidationError True True"]


def test_the_install_leaves_checked_bytecode_for_every_module(tmp_path: Path):
    """``scripts/bytecode.sh`` (run by ``scripts/install.sh``) compiles CellTrail's modules, as
    pip does for every installed package: where a process may not write bytecode
    (PYTHONDONTWRITEBYTECODE, a tree installed by an admin and run by lab users) each command
    compiled ~50 modules from source first. Run on a copy of the tree, so that editing a module
    here does not fail this test until the next install."""
    import importlib.util
    import os
    import shutil

    for pkg in ("mfg", "tui", "labels"):
        shutil.copytree(ROOT / pkg, tmp_path / pkg, ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHON": sys.executable}
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "bytecode.sh"), str(tmp_path)], env=env, check=True
    )
    out = subprocess.run(
        [sys.executable, "-v", "-c", "import mfg.cli.lots, mfg.services.harvest, tui.app"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    prefix = f"# code object from {tmp_path}"  # a .pyc is named in quotes; a source file is not
    from_source = [line for line in out.stderr.splitlines() if line.startswith(prefix)]
    loaded = [line for line in out.stderr.splitlines() if f"from '{tmp_path}" in line]
    assert loaded and not from_source, (len(loaded), from_source[:3])
    # checked against the source's hash, not its time and size: an edit after the install is
    # never run as the old bytecode (PEP 552 flags: 0b11 = hash-based, checked)
    pyc = Path(importlib.util.cache_from_source(str(tmp_path / "mfg" / "cli" / "lots.py")))
    assert int.from_bytes(pyc.read_bytes()[4:8], "little") == 0b11, "not checked-hash bytecode"
