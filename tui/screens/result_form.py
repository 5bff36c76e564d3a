"""Release results, verification, disposition and COA: wired to the release service when present."""

from __future__ import annotations

import importlib
from typing import Any


def release_service() -> Any:
    try:
        return importlib.import_module("mfg.services.release")
    except ImportError:
        return None


def release_ready(app: Any) -> bool:
    if release_service() is None:
        app.notify("release testing is not installed in this CellTrail yet", severity="warning")
        return False
    return True


def verify_selected(screen: Any) -> None:
    screen.app.notify("verification: coming with the release service", severity="warning")


def disposition(screen: Any) -> None:
    screen.app.notify("disposition: coming with the release service", severity="warning")


def coa(screen: Any) -> None:
    screen.app.notify("COA: coming with the release service", severity="warning")


class ResultForm:  # placeholder until the release service publishes its API
    def __init__(self, lot_number: str) -> None:
        self.lot_number = lot_number
