"""TUI sessions (21 CFR 11.300, issue 12): idle lock, log out, switch user, and the end of a
session whose account changed.

``IdleGuard`` is the idle clock: pure, driven by the app's injected clock (tests advance a fake
clock and call ``CellTrailApp.check_idle_lock``; no sleeps). ``SessionMixin`` is what the app gains:

- after ``idle_minutes`` (site setting, default 15) without a key or a click the screen locks
  (``LockScreen``: nothing of the work behind it stays visible); the same user's password
  unlocks it, or another user logs in (switch user);
- F10 and the palette's "Log out" end the session; ctrl+l and "Lock screen" lock at once;
- every service call re-checks the account (``mfg.services.accounts.check_live``): a
  ``SessionEnded`` refusal (deactivated, locked, new role) logs the user out with its message;
- the session is recorded (opened, closed: audited) and an admin's log-in shows the failed
  log-ins and lock-outs of the last 24 hours.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from textual.binding import Binding

if TYPE_CHECKING:
    from mfg.errors import CellTrailError
    from mfg.services.uow import Actor

log = logging.getLogger("celltrail.tui")

LOGIN_MODE = "login"  # where a log-out returns (a fresh LoginScreen)
IDLE_CHECK_S = 5.0  # how often the app looks at the idle clock (real time)
DEFAULT_IDLE = timedelta(minutes=15)
SESSION_BINDINGS = [
    Binding("f10", "logout", "Log out", show=False),
    # priority: it also locks with a form or dialog open (a modal screen hides the app's other
    # keys); the work stays behind the lock screen
    Binding("ctrl+l", "lock", "Lock", show=False, priority=True),
]


class IdleGuard:
    """When the user last did something, and whether the idle time has passed since."""

    def __init__(self, timeout: timedelta = DEFAULT_IDLE) -> None:
        self.timeout = timeout
        self.last_activity: datetime | None = None

    def start(self, now: datetime, timeout: timedelta | None = None) -> None:
        if timeout is not None:
            self.timeout = timeout
        self.last_activity = now

    def touch(self, now: datetime) -> None:
        if self.last_activity is not None:
            self.last_activity = now

    def stop(self) -> None:
        self.last_activity = None

    def idle(self, now: datetime) -> bool:
        return self.last_activity is not None and now - self.last_activity >= self.timeout


class SessionMixin:
    """Mixed into ``CellTrailApp`` (see its ``# -- sessions`` hook)."""

    actor: Actor | None
    locked_actor: Actor | None = None
    session_started_at: datetime | None = None  # the log-in (Today's handover starts before it)
    _session_token: str | None = None

    # -- set-up and activity ------------------------------------------------------------------
    def session_mount(self) -> None:
        app: Any = self
        self.idle_guard = IdleGuard()
        app.set_interval(IDLE_CHECK_S, self.check_idle_lock, name="idle-lock")

    def session_activity(self) -> None:
        app: Any = self
        self.idle_guard.touch(app.now())

    def check_idle_lock(self) -> bool:
        """Lock the screen when the idle time has passed; True when it locked."""
        app: Any = self
        if self.actor is None or not self.idle_guard.idle(app.now()):
            return False
        self.action_lock()
        return True

    # -- log-in -------------------------------------------------------------------------------
    def session_started(self, actor: Actor) -> None:
        """Called by ``logged_in``: start the idle clock, record the session (in a thread)."""
        app: Any = self
        self.locked_actor = None
        self.session_started_at = app.now()
        db = app._db
        timeout = db.settings.idle_timeout if db is not None else DEFAULT_IDLE
        self.idle_guard.start(app.now(), timeout)
        self._record(functools.partial(self._open_session, actor), "session-open")

    def _record(self, work: Callable[[], None], name: str) -> None:
        """Record the session's start or end in a thread worker of the app: off the UI thread,
        and waited for like every worker (at exit, and by tests: no race with what they read)."""
        app: Any = self
        app.run_worker(work, name=name, group="session", exclusive=False, thread=True)

    def _open_session(self, actor: Actor) -> None:
        app: Any = self
        import socket

        try:
            from mfg.services import accounts

            self._session_token = accounts.open_session(
                app.db, actor, kind="tui", host=socket.gethostname() or "localhost", now=app.now()
            )
            if actor.role == "admin":
                report = accounts.security_events(
                    app.db, actor=actor, since=app.now() - timedelta(hours=24)
                )
                if report.failed_logins or report.lockouts:
                    app.call_from_thread(self._security_notice, report)
        except Exception:  # recording must not keep anyone from working; the log says why
            log.exception("could not record the TUI session")

    def _security_notice(self, report: Any) -> None:
        app: Any = self
        bursts = ", ".join(f"{b.account} ({b.failures})" for b in report.bursts) or "none"
        app.notify(
            f"last 24 h: {report.failed_logins} failed log-in(s), {report.lockouts} "
            f"lock-out(s); bursts: {bursts}. Details: mfg user events",
            title="Security",
            severity="warning",
            timeout=20,
            markup=False,
        )

    def _close_session(self, reason: str) -> None:
        app: Any = self
        token, self._session_token = self._session_token, None
        if token is None or app._db is None:
            return

        def close() -> None:
            try:
                from mfg.services import accounts

                accounts.close_session(app._db, token, reason=reason, now=app.now())
            except Exception:
                log.exception("could not record the end of the TUI session")

        self._record(close, "session-close")

    # -- lock, unlock, switch user, log out -----------------------------------------------------
    def action_lock(self) -> None:
        from tui.screens.lock import LockScreen

        app: Any = self
        if self.actor is None:
            return
        self.locked_actor, self.actor = self.actor, None  # no key or palette command works
        self.idle_guard.stop()
        app.push_screen(LockScreen(self.locked_actor))

    def unlocked(self, actor: Actor) -> None:
        """The lock screen took the same user's password."""
        app: Any = self
        self.actor, self.locked_actor = actor, None
        self.idle_guard.start(app.now())
        app.pop_screen()

    async def action_logout(self) -> None:
        await self.end_session("logout", None)

    async def switch_user(self) -> None:
        await self.end_session("switch-user", None)

    async def end_session(self, reason: str, error: CellTrailError | None) -> None:
        """Back to the log-in screen: forget the user and every screen that showed their work."""
        app: Any = self
        if self.actor is None and self.locked_actor is None:
            return
        self.actor = self.locked_actor = None
        self.idle_guard.stop()
        self._close_session(reason)
        app.sub_title = ""
        from textual.app import UnknownModeError

        from tui.screens.login import LoginScreen

        # a fresh log-in screen in a mode of its own, then every screen of the session dropped
        with contextlib.suppress(UnknownModeError):
            await app.remove_mode(LOGIN_MODE)
        app.add_mode(LOGIN_MODE, lambda: LoginScreen(demo=app.demo))
        await app.switch_mode(LOGIN_MODE)
        for mode, factory in app.MODES.items():
            await app.remove_mode(mode)
            app.add_mode(mode, factory)
        # the log-in screen is fresh (empty, the cursor in User) and already takes keys while
        # the screens above are dropped: only the message is shown; clearing the fields or
        # moving the cursor here lost what the next person had typed meanwhile
        login = app.screen
        if hasattr(login, "notice"):
            from mfg.errors import CellTrailError

            login.notice(error or CellTrailError("logged out; log in to continue", rule=reason))

    def session_refused(self, e: CellTrailError) -> bool:
        """A refusal that ends the session (the account changed): log out with its message."""
        from mfg.errors import SessionEnded

        if not isinstance(e, SessionEnded):
            return False
        app: Any = self
        app.run_worker(self.end_session("account-changed", e), exclusive=False)
        return True

    def session_commands(self) -> list[tuple[str, str, Any]]:
        if self.actor is None:
            return []
        return [
            ("Log out", "End your session; the next person logs in (F10)", self.action_logout),
            ("Lock screen", "Lock now; your password unlocks (ctrl+l)", self.action_lock),
        ]
