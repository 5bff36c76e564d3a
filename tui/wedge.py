"""Keyboard-wedge scanners: tell a scanner's burst of keys from a person's typing.

A scanner "types" a whole code a few milliseconds a key, usually followed by Enter; a person
types 80-300 ms a key. The app holds each printable key for ``max_gap`` seconds (by the key's
own arrival time, ``events.Key.time``) before it reaches a widget:

- a burst that ends in Enter and reads as a code is a **scan**: none of its characters reach a
  shortcut or an input;
- a burst without Enter that reads as a code is a scan too (scanners without the Enter suffix);
- any other burst is typing: it goes on, in order, to the focused input; where no input has the
  focus (screens whose letters are shortcuts) a burst of three or more keys is **dropped** with a
  message, because a person does not press three shortcuts within ``max_gap``.

Upper and lower case (Caps Lock on the scanner) are the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from textual import events

# A scanner sends a key every 2-20 ms; people do not type faster than ~60 ms a key.
SCAN_MAX_GAP_S = 0.05
SCAN_MIN_LENGTH = 8
SHORTCUT_BURST = 3  # this many fast keys on a shortcut screen are not a person's shortcuts


class Verdict(Enum):
    HOLD = "hold"  # keep the key: the burst may go on
    SCAN = "scan"  # the held keys (and the Enter) are a scanned code
    TYPING = "typing"  # deliver the held keys, then the new key if any
    DROP = "drop"  # a burst on a shortcut screen: deliver nothing of it


@dataclass
class Decision:
    verdict: Verdict
    held: list[events.Key] = field(default_factory=list)
    code: str = ""


def looks_like_code(text: str) -> bool:
    from tui.screens.scan import looks_like_code as matches

    return matches(text)


def _is_char(event: events.Key) -> bool:
    return bool(event.character) and event.is_printable


class Wedge:
    """The held burst and the rules above; the app delivers what it is told to deliver."""

    def __init__(self, max_gap: float = SCAN_MAX_GAP_S) -> None:
        self.max_gap = max_gap
        self.held: list[events.Key] = []
        self.token = 0  # changes with every held key: a flush timer is for one burst only

    @property
    def code(self) -> str:
        return "".join(e.character or "" for e in self.held)

    def continues(self, event: events.Key) -> bool:
        return bool(self.held) and event.time - self.held[-1].time <= self.max_gap

    def key(self, event: events.Key, shortcuts: bool) -> tuple[Decision | None, Verdict]:
        """A new key (``shortcuts``: no input has the focus, letters are commands).

        Returns the decision on the burst held before the key (or None) and what to do with the
        key itself: HOLD it, SCAN (it was the Enter ending a scan) or TYPING (deliver it)."""
        before: Decision | None = None
        if self.held and not self.continues(event):
            before = self.end(shortcuts)
        if event.key == "enter" and self.held:
            code = self.code
            if len(code) >= SCAN_MIN_LENGTH and looks_like_code(code):
                held, self.held = self.held, []
                return Decision(Verdict.SCAN, held, code.strip()), Verdict.SCAN
        if _is_char(event):
            self.held.append(event)
            self.token += 1
            return before, Verdict.HOLD
        if self.held:  # a control key within the burst: the burst was not a scan
            before = self.end(shortcuts)
        return before, Verdict.TYPING

    def end(self, shortcuts: bool) -> Decision:
        """The burst is over (a pause, or a key that is not part of it)."""
        held, self.held = self.held, []
        code = "".join(e.character or "" for e in held)
        if len(code) >= SCAN_MIN_LENGTH and looks_like_code(code):
            return Decision(Verdict.SCAN, held, code.strip())
        if shortcuts and len(held) >= SHORTCUT_BURST:
            return Decision(Verdict.DROP, held)
        return Decision(Verdict.TYPING, held)
