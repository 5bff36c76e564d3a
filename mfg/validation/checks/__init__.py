"""The OQ checks, one module per area. ``AREAS`` is the order the areas run in (and are numbered
in the report); within an area, checks run in definition order (see ``mfg.validation.registry``).
A new area module is added here, in its place."""

from __future__ import annotations

from mfg.validation.checks import data, installation, labels, lifecycle, refusals, release, tamper
from mfg.validation.registry import REGISTRY, Registered

AREAS = (installation, lifecycle, release, labels, data, refusals, tamper)


def in_order() -> list[Registered]:
    """Every registered check: area by area in ``AREAS`` order, then in definition order."""
    names = [m.__name__ for m in AREAS]
    unplaced = {r.fn.__module__ for r in REGISTRY} - set(names)
    if unplaced:
        raise RuntimeError(f"OQ check modules missing from AREAS: {sorted(unplaced)}")
    return [r for name in names for r in REGISTRY if r.fn.__module__ == name]
