"""The weight-changed-after-release hold (pure rule): a body weight changed after the lot's last
(conditional) release holds it, naming both weights; a change before, or one put back, does not;
no OOS administration decision covers it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mfg.domain.holds import HoldFacts, WeightChange, active_holds, hold_reasons, overridable_now

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
H = timedelta(hours=1)


def facts(*changes: WeightChange, release: datetime | None = T0, **kw: object) -> HoldFacts:
    return HoldFacts(
        "BH002-26-0001",
        released_at=release,
        last_release_at=release,
        weight_changes=changes,
        **kw,  # type: ignore[arg-type]
    )


def test_a_weight_change_after_the_release_holds_and_names_both_weights() -> None:
    (r,) = active_holds(facts(WeightChange(62.5, 55.0, T0 + H)))
    assert r.code == "weight-changed-after-release"
    assert "62.5 kg -> 55 kg" in r.message and r.since == T0 + H


def test_a_weight_change_before_the_release_or_without_one_does_not_hold() -> None:
    assert active_holds(facts(WeightChange(62.5, 55.0, T0 - H))) == ()
    assert active_holds(facts(WeightChange(62.5, 55.0, T0 + H), release=None)) == ()


def test_a_new_release_after_the_change_ends_the_hold() -> None:
    f = HoldFacts(
        "L",
        released_at=T0,
        last_release_at=T0 + 2 * H,
        weight_changes=(WeightChange(62.5, 55.0, T0 + H),),
    )
    assert active_holds(f) == ()


def test_the_weight_put_back_ends_the_hold_and_a_second_change_keeps_the_released_weight() -> None:
    back = facts(WeightChange(62.5, 55.0, T0 + H), WeightChange(55.0, 62.5, T0 + 2 * H))
    assert active_holds(back) == ()
    twice = facts(WeightChange(62.5, 55.0, T0 + H), WeightChange(55.0, 57.0, T0 + 2 * H))
    (r,) = active_holds(twice)
    assert "62.5 kg -> 57 kg" in r.message


def test_unknown_weights_still_hold() -> None:
    (r,) = active_holds(facts(WeightChange(None, None, T0 + H)))
    assert r.code == "weight-changed-after-release" and "? -> ?" in r.message


def test_no_oos_administration_covers_a_weight_change() -> None:
    f = facts(WeightChange(62.5, 55.0, T0 + H), oos_decisions=(T0 + 2 * H,))
    assert [r.covered for r in hold_reasons(f)] == [False]
    assert overridable_now(f) == ()
