"""The registration's subject id, compared in today's canonical form (trail_anchor)."""

from __future__ import annotations

from mfg.services.trail_anchor import _canonical


def test_a_subject_id_recorded_as_typed_by_celltrail_0_1_is_compared_canonically() -> None:
    assert _canonical("s-003") == "S-003"  # migration 0002 made the subject S-003
    assert _canonical(None) is None and _canonical(7) is None
    assert _canonical("S 003!") is None  # no subject id: never equal to one
