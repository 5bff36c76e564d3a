"""The app's toasts and its header's title are plain text: no markup is interpreted and no
control character reaches the terminal from one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import App

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel


class InertToasts(App[None]):
    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = True,
    ) -> None:
        """Every toast, whoever raises it: a message may quote stored or scanned text (a lot's
        spec version edited in SQL to hold ``ESC [2J`` cleared the whole terminal from a
        refusal's toast), so its control characters are shown as visible escapes, and it is
        never read as markup (no toast of CellTrail's means any: ``markup`` is ignored)."""
        from mfg.domain.text import visible

        super().notify(
            visible(message, newline_ok=True),
            title=visible(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def validate_title(self, title: object) -> str:
        from mfg.domain.text import visible

        return visible(title)

    def validate_sub_title(self, sub_title: object) -> str:
        """The header shows the user's full name (stored text): its escapes are shown."""
        from mfg.domain.text import visible

        return visible(sub_title)
