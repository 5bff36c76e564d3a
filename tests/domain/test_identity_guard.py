"""No identifier is normalised or compared outside ``mfg/domain/identity.py`` (issue 10).

An AST scan of every module of ``mfg``, ``labels`` and ``tui``: a ``.upper()``, ``.lower()``,
``.casefold()`` or ``.strip()`` (``lstrip``/``rstrip``) applied to anything named like an
identifier (subject, lot, COI, user name, patient, expected ...) is a second, diverging canonical
form: exactly what let ``s-003`` become another patient. The few calls on id-like names that are
not identifiers are listed below with the reason.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("mfg", "labels", "tui")
NORMALISERS = {"upper", "lower", "casefold", "strip", "lstrip", "rstrip"}
ID_NAME = re.compile(r"subject|lot|coi|user|patient|expect|payload|scan", re.IGNORECASE)
# (file, receiver as written) -> why it is not an identifier comparison
ALLOWED = {
    (
        "labels/payload.py",
        "payload",
    ): "the scanner's Enter; the payload is then verified by its MAC",
    ("labels/payload.py", "ref.coi"): "payload format check (COI exactly as encoded)",
    ("mfg/cli/labels.py", "output.suffix"): "file extension",
    ("tui/screens/scan.py", "event.value"): "scan dialog input, resolved by the services",
    ("tui/screens/custody.py", "payload"): "scanner's Enter; the services verify the payload",
    ("mfg/services/scanning.py", "payload"): "the scanner's Enter; the scan is then verified",
    ("mfg/cli/release.py", "lot"): "display only (a title); lookups go through identity",
    ("mfg/auth.py", "username"): "password policy: the password must not contain the name",
    ("labels/content.py", "f'Subj {self.subject_id} {second}'"): "label text layout",
    ("tui/screens/scan.py", "payload"): "routing a scan; the services verify the payload",
}
SKIP = {"mfg/domain/identity.py", "mfg/store/migrations/versions/0002_patient_safety.py"}


def offenders() -> list[str]:
    out: list[str] = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in SKIP:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                    continue
                if node.func.attr not in NORMALISERS:
                    continue
                receiver = ast.unparse(node.func.value)
                base = re.sub(r"\.(strip|upper|lower|casefold|lstrip|rstrip)\(\)", "", receiver)
                if not ID_NAME.search(base) or (rel, base) in ALLOWED:
                    continue
                out.append(f"{rel}:{node.lineno}: {receiver}.{node.func.attr}()")
    return out


def test_no_identifier_is_normalised_outside_identity():
    found = offenders()
    assert not found, (
        "identifiers must go through mfg.domain.identity (subject_id, lot_number, coi, "
        "username); found:\n" + "\n".join(found)
    )


@pytest.mark.parametrize("bad", ["subject_id.strip().upper()", "expect_lot.upper()"])
def test_the_guard_sees_a_second_canonical_form(bad, tmp_path, monkeypatch):
    node = ast.parse(bad).body[0].value  # type: ignore[attr-defined]
    assert isinstance(node, ast.Call) and node.func.attr in NORMALISERS  # type: ignore[attr-defined]
    base = re.sub(
        r"\.(strip|upper|lower|casefold|lstrip|rstrip)\(\)", "", ast.unparse(node.func.value)
    )  # type: ignore[attr-defined]
    assert ID_NAME.search(base)


ID_COLUMNS = {"subject_id", "lot_number", "coi", "username"}


def _canonical_names(fn: ast.AST) -> set[str]:
    """Names a function assigns from ``identity.<fn>(...)`` (canonical by construction)."""
    out: set[str] = set()
    for node in ast.walk(fn):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and ast.unparse(node.value.func).startswith("identity.")
        ):
            out |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return out


def raw_comparisons() -> list[str]:
    """``Table.subject_id == name`` (or lot_number, coi, username) where ``name`` is a plain
    variable the function did not get from ``mfg.domain.identity``: a lookup by typed text."""
    out: list[str] = []
    for path in sorted((ROOT / "mfg" / "services").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef):
                continue
            params = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
            canonical = _canonical_names(fn)
            for node in ast.walk(fn):
                if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
                    continue
                if not isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
                    continue
                left, right = node.left, node.comparators[0]
                for a, b in ((left, right), (right, left)):
                    if (
                        isinstance(a, ast.Attribute)
                        and a.attr in ID_COLUMNS
                        and isinstance(b, ast.Name)
                        and b.id in params
                        and b.id not in canonical
                    ):
                        out.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    return out


def test_no_lookup_compares_a_typed_id_raw():
    found = raw_comparisons()
    assert not found, "compare ids only in their canonical form (mfg.domain.identity):\n" + (
        "\n".join(found)
    )
