"""Cheap argon2 parameters for the test suite, injected into ``mfg.auth`` (same algorithm).

The product has no switch to weaker hashes; tests (and the processes they spawn) call
``install()`` or use the session fixture in tests/conftest.py.
"""

from __future__ import annotations

from argon2 import PasswordHasher

FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def install() -> PasswordHasher:
    """Make ``mfg.auth`` hash with cheap parameters in this process; returns the previous one."""
    from mfg import auth

    previous = auth._HASHER
    auth._HASHER = FAST
    return previous
