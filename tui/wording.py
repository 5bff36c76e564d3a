"""Service and domain messages in the TUI's words: no CLI flag names (``--apheresis-date``)
on a screen that has fields, units written once, values the user did not give left out."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from rich.text import Text

from mfg.domain.text import visible

if TYPE_CHECKING:
    from mfg.errors import CellTrailError

FLAG_RE = re.compile(r"--([a-z][a-z0-9-]*)")
CITE_RE = re.compile(r"\((?:--exception )?--deviation DEV-\.\.\.\)")
CITE = "(cite the deviation, e.g. DEV-2026-0001, in the exception field)"


def without_flags(message: str, labels: Mapping[str, str] | None = None) -> str:
    """``fresh apheresis material needs --apheresis-date`` -> ``... needs "Apheresis date"``
    (the form's label for that field) or ``... needs apheresis date`` elsewhere."""
    labels = labels or {}

    def name(m: re.Match[str]) -> str:
        flag = m.group(1)
        label = labels.get(flag.replace("-", "_"))
        return f'"{label}"' if label else flag.replace("-", " ")

    return FLAG_RE.sub(name, CITE_RE.sub(CITE, message))


def with_unit(value_text: str, unit: str) -> str:
    """A result as typed, with its unit once: ``91.8 %`` stays, ``245`` + pg/mL is
    ``245 pg/mL``, ``245 pg/mL`` + pg/mL is not ``245 pg/mL pg/mL``."""
    text = " ".join(value_text.split())
    u = unit.strip()
    if not u or text.replace(" ", "").casefold().endswith(u.replace(" ", "").casefold()):
        return text
    return f"{text} {u}"


def known(*parts: tuple[object, str]) -> str:
    """``(71.5, "{} kg"), (None, "{}")`` -> ``71.5 kg``: only the values that were given."""
    return ", ".join(fmt.format(v) for v, fmt in parts if v not in (None, ""))


def not_read(what: str, e: CellTrailError) -> Text:
    """The line a screen shows in place of ``loading ...`` when its read was refused (a lot
    whose stored record fails a check, a role change): ``Today: not read: ... [rule]``, the
    message's unsafe characters written as visible escapes (it may quote stored text)."""
    return Text(f"{what}: not read: {visible(without_flags(e.message))} [{e.rule}]")
