"""identity.lookalike_of: the first existing id a new one is, or looks like (O/0, I/L/1,
separators), in the order given; None when it clashes with none."""

from __future__ import annotations

from mfg.domain import identity


def test_the_same_id_is_found() -> None:
    assert identity.lookalike_of("S-001", ["S-002", "S-001"]) == "S-001"


def test_a_lookalike_is_found_naming_the_existing_id() -> None:
    assert identity.lookalike_of("S-0O1", ["S-002", "S-001"]) == "S-001"
    assert identity.lookalike_of("S001", ["S-001"]) == "S-001"
    assert identity.lookalike_of("qa.", ["tech", "qa"]) == "qa"


def test_the_first_clash_in_order_is_named() -> None:
    assert identity.lookalike_of("S-001", ["S-0O1", "S-001"]) == "S-0O1"


def test_no_clash() -> None:
    assert identity.lookalike_of("S-003", ["S-001", "S-002"]) is None
    assert identity.lookalike_of("S-003", []) is None
