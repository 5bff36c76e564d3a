"""Fixtures shared by the robustness tests."""

from __future__ import annotations

import pytest

from mfg.services.uow import Database
from tests.support import world


@pytest.fixture
def lab(sqlite_db: Database, request: pytest.FixtureRequest) -> Database:
    """Two lots in expansion, counted (subjects S-001 and S-002); the actors are
    ``request.node.actors``. SQLite: its columns hold any type, as an SQL edit leaves them."""
    from tests.conftest import add_users

    actors = add_users(sqlite_db)
    request.node.actors = actors
    for sid in ("S-001", "S-002"):
        world.subject(sqlite_db, actors["tech"], sid)
        world.expand(
            sqlite_db, actors["tech"], world.lot(sqlite_db, actors["tech"], sid).lot_number
        )
    return sqlite_db
