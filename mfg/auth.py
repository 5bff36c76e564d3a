"""Passwords (argon2id) and the password policy. Passwords are never logged or audited.

A password is hashed and checked in Unicode NFC: "é" typed as one character (a French keyboard)
or as "e" + a combining accent (some input methods, a pasted text) is the same password."""

from __future__ import annotations

import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mfg.errors import RuleViolation

MIN_PASSWORD_LENGTH = 12
MAX_FAILED_LOGINS = 5


# argon2id at the OWASP Password Storage Cheat Sheet baseline (19 MiB, 2 passes, 1 lane).
# argon2-cffi's default (64 MiB, 3 passes, 4 lanes) costs ~180 ms a check on a 2-core machine,
# paid by every login; this costs ~50 ms. Hashes carry their parameters, so accounts hashed with
# other settings still verify. There is no switch to weaker parameters in the product: the test
# suite injects its own hasher (tests/support/fast_hash.py) into this module.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hasher() -> PasswordHasher:
    return _HASHER


def canonical(password: str) -> str:
    """The form a password is hashed in (NFC): two texts are one password when these match."""
    return unicodedata.normalize("NFC", password)


def check_password_policy(password: str, username: str = "") -> None:
    password = canonical(password)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise RuleViolation(
            "password", "password-too-short", f"needs at least {MIN_PASSWORD_LENGTH} characters"
        )
    if username and username.casefold() in password.casefold():
        raise RuleViolation(
            "password", "password-contains-username", "must not contain the username"
        )
    if any(ord(c) < 32 for c in password):
        raise RuleViolation(
            "password", "password-control-chars", "must not contain control characters"
        )


def hash_password(password: str) -> str:
    return hasher().hash(canonical(password))


def verify_password(stored_hash: str, password: str) -> bool:
    """The password in NFC; when its accents can be written another way, also as typed and in
    NFD (a hash set before CellTrail normalised passwords was made over the characters as they
    were typed, most often one of those). One argon2 check for a password without accents."""
    forms = dict.fromkeys((canonical(password), password, unicodedata.normalize("NFD", password)))
    return any(_verify(stored_hash, form) for form in forms)


def _verify(stored_hash: str, password: str) -> bool:
    try:
        return hasher().verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
