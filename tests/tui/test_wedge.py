"""The scanner-burst rules of ``tui.wedge`` on keys with chosen arrival times (no app)."""

from __future__ import annotations

from textual import events

from tui.wedge import SCAN_MAX_GAP_S, Verdict, Wedge

NAMES = {"-": "minus", ":": "colon", ".": "full_stop"}


def keys(text: str, start: float, gap: float) -> list[events.Key]:
    out = []
    for i, ch in enumerate(text):
        k = events.Key(NAMES.get(ch, ch), ch)
        k.time = start + i * gap
        out.append(k)
    return out


def enter(at: float) -> events.Key:
    k = events.Key("enter", "\r")
    k.time = at
    return k


def feed(w: Wedge, text: str, gap: float, shortcuts: bool = True) -> list[Verdict]:
    return [w.key(k, shortcuts)[1] for k in keys(text, 100.0, gap)]


def test_a_fast_code_ending_in_enter_is_a_scan_in_either_case() -> None:
    for code in ("BH002-26-0001", "bh002-26-0001"):
        w = Wedge()
        assert set(feed(w, code, 0.003)) == {Verdict.HOLD}
        before, verdict = w.key(enter(100.0 + 0.003 * len(code)), True)
        assert verdict is Verdict.SCAN and before is not None
        assert before.code == code and not w.held


def test_a_person_typing_is_delivered_key_by_key() -> None:
    w = Wedge()
    delivered = []
    for k in keys("c", 100.0, 0.15):
        before, verdict = w.key(k, True)
        assert before is None and verdict is Verdict.HOLD
    d = w.end(shortcuts=True)
    assert d.verdict is Verdict.TYPING and [k.key for k in d.held] == ["c"]
    # the next key 150 ms later ends the previous burst (if still held) as typing
    w2 = Wedge()
    for k in keys("ab", 100.0, 0.15):
        before, _ = w2.key(k, True)
        if before is not None:
            delivered.extend(e.character for e in before.held)
    assert delivered == ["a"]


def test_a_fast_burst_on_a_shortcut_screen_is_dropped_but_typed_in_a_field() -> None:
    w = Wedge()
    feed(w, "chx", 0.002)
    assert w.end(shortcuts=True).verdict is Verdict.DROP
    feed(w, "7.5e8", 0.002, shortcuts=False)
    d = w.end(shortcuts=False)
    assert d.verdict is Verdict.TYPING and "".join(k.character or "" for k in d.held) == "7.5e8"


def test_a_code_without_enter_suffix_is_still_a_scan() -> None:
    w = Wedge()
    feed(w, "BH002-26-0001", 0.002)
    d = w.end(shortcuts=False)
    assert d.verdict is Verdict.SCAN and d.code == "BH002-26-0001"


def test_a_slow_enter_after_a_code_is_not_a_scan() -> None:
    w = Wedge()
    feed(w, "BH002-26-0001", 0.002)
    before, verdict = w.key(enter(200.0), False)
    assert verdict is Verdict.TYPING
    assert before is not None and before.verdict is Verdict.SCAN  # the burst itself was a code


def test_the_gap_is_measured_between_keys() -> None:
    w = Wedge()
    feed(w, "ab", SCAN_MAX_GAP_S * 2)
    assert len(w.held) == 1  # the first key's burst ended when the second came late


def test_a_caps_lock_scan_is_the_same_code_except_case_sensitive_isbt_128() -> None:
    from tui.screens.scan import canonical_code

    payload = "CT1:D:BH002-26-0001:W000126000001L:2/3:HK7QGZ4M2"
    assert canonical_code(payload.lower() + "\n") == payload
    assert canonical_code("bh002-26-0001") == "BH002-26-0001"
    assert canonical_code("w000126000001l") == "W000126000001L"
    # ISBT 128 compound messages are case-sensitive: never changed here
    assert canonical_code("=<ch1234526000001") == "=<ch1234526000001"
    assert canonical_code("a count of 5") == "a count of 5"  # not a code: as typed
