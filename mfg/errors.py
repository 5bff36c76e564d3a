"""The errors a rule raises. The edges (CLI, TUI) translate them; nothing else catches them.

Every error carries ``rule``: a short, stable, kebab-case name that tests and users can grep for.
"""

from __future__ import annotations


class CellTrailError(Exception):
    """Base of every refusal CellTrail makes on purpose (never a bug)."""

    rule: str = "refused"

    def __init__(self, message: str, *, rule: str | None = None) -> None:
        super().__init__(message)
        if rule is not None:
            self.rule = rule

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class RuleViolation(CellTrailError):
    """Input or a state transition breaks a rule; ``field`` names the input concerned."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(message, rule=rule)
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class NotPermitted(CellTrailError):
    """The actor's role, or the four-eyes principle, forbids the action."""

    rule = "not-permitted"


class AuthenticationFailed(CellTrailError):
    rule = "authentication-failed"


class SessionEnded(AuthenticationFailed):
    """The account behind a session changed (deactivated, locked, new role) or the session ended
    (log-out, idle time): the user must log in again. The TUI returns to its log-in screen."""

    rule = "session-ended"


class NotFound(CellTrailError):
    rule = "not-found"

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} does not exist", rule=f"unknown-{what.replace(' ', '-')}")
        self.what = what
        self.key = key


class Conflict(CellTrailError):
    """Someone else changed the record since it was read (optimistic locking)."""

    rule = "changed-by-someone-else"


class ConfigError(CellTrailError):
    rule = "bad-configuration"
