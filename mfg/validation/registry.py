"""The ordered registry of OQ checks. A check is a small function of the run's context that
returns ``(passed, what was observed)``; ``@oq_check(step, title, expected)`` registers it.
Checks run area by area in the order of ``mfg.validation.checks.AREAS``, and within an area in
definition order; the report numbers them ``<step>.<n>`` in that order.

To add a check: write the function with the decorator in the module of its area under
``mfg/validation/checks/`` (a new area module also goes into ``AREAS``); nothing else changes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mfg.validation.context import Oq

CheckFn = Callable[["Oq"], tuple[bool, str]]


@dataclass(frozen=True)
class Registered:
    step: str
    title: str
    expected: str
    fn: CheckFn


REGISTRY: list[Registered] = []


def oq_check(step: str, title: str, expected: str) -> Callable[[CheckFn], CheckFn]:
    """Register the decorated function as the next check of the qualification."""

    def register(fn: CheckFn) -> CheckFn:
        REGISTRY.append(Registered(step, title, expected, fn))
        return fn

    return register
