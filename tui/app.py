"""The CellTrail terminal UI: login, lot board, lot detail, entry forms, QA queue, reports.

Start-up is kept light: the login screen is painted before SQLAlchemy or any service is imported;
the database opens in a thread worker while the user types. Every service call runs in a thread
worker (``tui.workers.service_worker``); screens never open a database session.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input

from tui.messages import LotChanged, OpenLot, ScanRead
from tui.screens.login import LoginScreen
from tui.session import SESSION_BINDINGS, SessionMixin  # issue 12: idle lock, log out

if TYPE_CHECKING:
    from mfg.errors import CellTrailError
    from mfg.services.uow import Actor, Database

log = logging.getLogger("celltrail.tui")

# A keyboard-wedge scanner "types" a whole code within a few milliseconds per key; people do not.
SCAN_MAX_GAP_S = 0.05
SCAN_MIN_LENGTH = 8
# Imported in the background after the first paint, so that Enter on the login is fast.
WARM_MODULES = (
    "mfg.services.users",
    "mfg.services.board",
    "mfg.domain.permissions",
    "tui.screens.lot_board",
    "tui.screens.lot_detail",
    "mfg.services.counts",
    "mfg.services.harvest",
    "mfg.services.audit_trail",
)


def _screen(module: str, name: str) -> Screen[Any]:
    import importlib

    return getattr(importlib.import_module(f"tui.screens.{module}"), name)()  # type: ignore[no-any-return]


class CellTrailApp(SessionMixin, App[None]):
    """CellTrail: GMP lot tracking at the terminal (keyboard and barcode scanner)."""

    TITLE = "CellTrail"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True
    MODES = {
        "board": lambda: _screen("lot_board", "LotBoardScreen"),
        "qa": lambda: _screen("qa_queue", "QaQueueScreen"),
        "reports": lambda: _screen("reports", "ReportsScreen"),
    }
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+o", "scan", "Scan/open", priority=True),
        Binding("ctrl+b", "mode('board')", "Board", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        *SESSION_BINDINGS,  # -- sessions (tui/session.py)
    ]

    def __init__(
        self,
        *,
        db_factory: Callable[[], Database],
        clock: Callable[[], datetime] | None = None,
        demo: bool = False,
    ) -> None:
        super().__init__()
        self._db_factory = db_factory
        self._db: Database | None = None
        self._db_error: BaseException | None = None
        self._db_ready = threading.Event()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.demo = demo
        self.actor: Actor | None = None
        self.scan_max_gap_s = SCAN_MAX_GAP_S  # tests driven by Pilot (~40 ms a key) raise it
        self._scan_chars: list[str] = []
        self._scan_last = 0.0
        self._scan_start = 0.0

    # -- database ---------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.session_mount()  # -- sessions: the idle clock (tui/session.py)
        self.push_screen(LoginScreen(demo=self.demo))
        # after the first paint: open the database and import the services in the background
        self.call_after_refresh(
            lambda: threading.Thread(
                target=self._open_db, name="celltrail-open-db", daemon=True
            ).start()
        )

    def _open_db(self) -> None:
        try:
            self._db = self._db_factory()
        except BaseException as e:  # reported at login
            self._db_error = e
        finally:
            self._db_ready.set()
        self._warm_up(self._db)

    @staticmethod
    def _warm_up(db: Database | None) -> None:
        """While the user types: import what the login and the board need, configure the ORM
        mappers and open a pooled connection (off the UI thread), so that Enter on the login
        pays only for the password check and the board query."""
        import importlib

        for name in WARM_MODULES:
            try:
                importlib.import_module(name)
            except Exception:  # an optional part missing: the screen says so when opened
                log.debug("warm-up import of %s failed", name, exc_info=True)
        if db is None:
            return
        try:
            from mfg.services.users import warm_up as warm_users

            warm_users(db)
        except Exception:  # the login reports a real problem with the database
            log.debug("warm-up of the database failed", exc_info=True)

    @property
    def db(self) -> Database:
        """The database (waits for the start-up worker; call from thread workers only)."""
        self._db_ready.wait()
        if self._db_error is not None:
            raise self._db_error
        assert self._db is not None
        return self._db

    def now(self) -> datetime:
        return self.clock()

    def today_str(self) -> str:
        if self._db is None:
            return ""
        return self._db.today(self.now()).isoformat()

    # -- session ----------------------------------------------------------------------------
    def logged_in(self, actor: Actor) -> None:
        from mfg.domain.permissions import allowed

        self.actor = actor
        self.session_started(actor)  # -- sessions: idle clock, recorded session
        self.sub_title = f"{actor.full_name} ({actor.role})"
        if allowed(actor.role, "lot.read"):
            self.switch_mode("board")
        else:
            self.switch_mode("reports")

    def can(self, action: str) -> bool:
        from mfg.domain.permissions import allowed

        return self.actor is not None and allowed(self.actor.role, action)

    # -- errors -----------------------------------------------------------------------------
    def refused(self, e: CellTrailError) -> None:
        if self.session_refused(e):  # -- sessions: the account changed: logged out
            return
        self.notify(
            f"{e.message} [{e.rule}]", title="Refused", severity="warning", timeout=8, markup=False
        )

    def unexpected_error(self, e: BaseException) -> None:
        log.error("unexpected error: %s: %s", type(e).__name__, e)
        self.notify(
            f"{type(e).__name__}: {e}\nDetails are in the log; nothing unfinished was saved.",
            title="Internal error",
            severity="error",
            timeout=12,
            markup=False,
        )

    async def _dispatch_action(self, namespace: Any, action_name: str, params: Any) -> bool:
        # A bug in an action (key binding, palette) is logged and shown, and the screen lives on.
        try:
            return await super()._dispatch_action(namespace, action_name, params)
        except Exception as e:
            log.exception("unexpected error in action %s", action_name)
            self.unexpected_error(e)
            return True

    def _handle_exception(self, error: Exception) -> None:
        # Never a traceback on screen: log, notify, keep going.
        log.exception("unhandled error in the UI", exc_info=error)
        try:
            self.unexpected_error(error)
        except Exception:
            super()._handle_exception(error)

    # -- navigation -------------------------------------------------------------------------
    def action_mode(self, mode: str) -> None:
        if self.actor is None:
            return
        if mode in ("board", "qa") and not self.can("lot.read"):
            self.notify("your role cannot read lots", severity="warning")
            return
        self.switch_mode(mode)

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_scan(self) -> None:
        from tui.screens.scan import ScanDialog

        if self.actor is None or isinstance(self.screen, ScanDialog):
            return
        self.push_screen(ScanDialog(), self._scanned)

    def _scanned(self, code: str | None) -> None:
        if code:
            self.post_message(ScanRead(code))

    def on_scan_read(self, message: ScanRead) -> None:
        from tui.screens.scan import resolve_scan

        handler = getattr(self.screen, "handle_scan", None)
        if handler is not None and handler(message.payload):
            return  # a custody step (or another screen) consumed it
        resolve_scan(self, message.payload)

    def on_open_lot(self, message: OpenLot) -> None:
        from tui.screens.lot_detail import LotDetailScreen

        current = self.screen
        if isinstance(current, LotDetailScreen) and current.lot_number == message.lot_number:
            current.reload()
            return
        self.push_screen(LotDetailScreen(message.lot_number))

    def on_lot_changed(self, message: LotChanged) -> None:
        for screen in self.screen_stack:
            hook = getattr(screen, "lot_changed", None)
            if hook is not None:
                hook(message.lot_number)
        for mode in ("board", "qa"):
            try:
                stack = self._screen_stacks.get(mode) or []
            except AttributeError:
                stack = []
            for screen in stack:
                hook = getattr(screen, "lot_changed", None)
                if hook is not None and screen not in self.screen_stack:
                    hook(message.lot_number)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.actor is None:
            return
        yield SystemCommand(
            "Lot board", "All active lots (ctrl+b)", lambda: self.action_mode("board")
        )
        yield SystemCommand(
            "QA queue", "Results to verify, lots to disposition", lambda: self.action_mode("qa")
        )
        yield SystemCommand(
            "Reports", "Manufacturing success rate", lambda: self.action_mode("reports")
        )
        yield SystemCommand(
            "Scan or open", "Open a lot by scanning or typing its code (ctrl+o)", self.action_scan
        )
        yield SystemCommand("Help", "Keys and screens (F1)", self.action_help)
        for title, help_text, callback in self.session_commands():  # -- sessions
            yield SystemCommand(title, help_text, callback)
        # every key of the screen the palette was opened on, by its description
        seen = {"Help", "Quit", "Scan/open", "Board", "Log out", "Lock"}
        for key, active in screen.active_bindings.items():
            b = active.binding
            if not b.description or b.description in seen or not active.enabled:
                continue
            seen.add(b.description)
            yield SystemCommand(
                b.description,
                f"key {key} on this screen",
                functools.partial(self._run_screen_action, active.node, b.action),
            )

    async def _run_screen_action(self, node: Any, action: str) -> None:
        await self.run_action(action, node)

    # -- keyboard-wedge scanner -------------------------------------------------------------
    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown, events.MouseScrollUp)):
            self.session_activity()  # -- sessions: restarts the idle clock
        if isinstance(event, events.Key) and not event.is_forwarded:
            if self.actor is not None and self._scan_key(event):
                return
            if self._tab_between_inputs(event):
                return
        await super().on_event(event)

    def _tab_between_inputs(self, event: events.Key) -> bool:
        """Move focus at once on Tab from an input, before the keys typed after it arrive.

        Keys that reach the app in one burst (typed ahead over SSH, pasted, a scanner) are
        forwarded to the focused widget straight away, while Tab's own binding runs only after
        it bubbled up from that widget: "tech<Tab>secret" would all land in the user field.
        """
        if event.key not in ("tab", "shift+tab") or not isinstance(self.focused, Input):
            return False
        if event.key == "tab":
            self.screen.focus_next()
        else:
            self.screen.focus_previous()
        event.stop()
        return True

    def _scan_key(self, event: events.Key) -> bool:
        """Collect fast bursts of printable keys; a burst ending in Enter is a scan."""
        t = time.monotonic()
        if event.key == "enter":
            chars, start, last = self._scan_chars, self._scan_start, self._scan_last
            self._scan_chars = []
            gap = self.scan_max_gap_s
            if len(chars) >= SCAN_MIN_LENGTH and t - last <= gap * 4:
                payload = "".join(chars)
                if self._looks_like_code(payload) and (last - start) <= gap * len(chars):
                    self._undo_scan_typing()
                    self.post_message(ScanRead(payload))
                    return True
            return False
        if event.character and event.is_printable:
            if not self._scan_chars or t - self._scan_last > self.scan_max_gap_s:
                self._scan_chars = []
                self._scan_start = t
                self._remember_inputs()
            self._scan_chars.append(event.character)
            self._scan_last = t
        else:
            self._scan_chars = []
        return False

    def _remember_inputs(self) -> None:
        """Before a possible scan: the inputs' values and the focus, to undo what it typed."""
        try:
            self._scan_inputs = {w: w.value for w in self.screen.query(Input)}
        except Exception:
            self._scan_inputs = {}
        self._scan_focus = self.focused

    def _undo_scan_typing(self) -> None:
        """A scan's characters also reached widgets (an input, the board's key bindings)."""
        for widget, value in getattr(self, "_scan_inputs", {}).items():
            if widget.is_attached and widget.value != value:
                widget.value = value
        focus = getattr(self, "_scan_focus", None)
        if focus is not None and focus.is_attached and focus is not self.focused:
            focus.focus()

    @staticmethod
    def _looks_like_code(text: str) -> bool:
        from tui.screens.scan import looks_like_code

        return looks_like_code(text)
