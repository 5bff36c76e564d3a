"""Issue 12: no switch in the product weakens password hashes (the suite injects its own)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_product_has_no_fast_hash_switch():
    for package in ("mfg", "tui", "labels", "coa_templates"):
        for path in (ROOT / package).rglob("*.py"):
            assert "FAST_HASH" not in path.read_text(encoding="utf-8"), path


def test_hashes_use_the_production_parameters_whatever_the_environment():
    code = "from mfg import auth; print(auth.hash_password('correct-horse-battery'))"
    env = {**os.environ, "CELLTRAIL_FAST_HASH": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("$argon2id$") and "m=19456,t=2,p=1" in out


def test_a_password_is_the_same_whichever_way_its_accents_are_typed():
    from mfg import auth

    composed, decomposed = "caf\u00e9-au-lait-42", "cafe\u0301-au-lait-42"
    assert composed != decomposed
    stored = auth.hash_password(decomposed)
    assert auth.verify_password(stored, composed) and auth.verify_password(stored, decomposed)
    assert not auth.verify_password(stored, "cafe-au-lait-42")
    # a hash made over the typed characters before passwords were normalised still verifies,
    # whichever way the accents are typed now (a password-history check as much as a log-in)
    old = auth.hasher().hash(decomposed)
    assert auth.verify_password(old, decomposed) and auth.verify_password(old, composed)
    assert not auth.verify_password(old, "cafe-au-lait-42")
