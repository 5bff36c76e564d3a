"""The CellTrail terminal UI: login, lot board, lot detail, entry forms, QA queue, reports.

Start-up is kept light: the login screen is painted before SQLAlchemy or any service is imported;
the database opens in a thread worker while the user types. Every service call runs in a thread
worker (``tui.workers.service_worker``); screens never open a database session.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input

from tui.messages import (
    FlushKeys,
    LotChanged,
    LotWatcher,
    OpenLot,
    RawKeys,
    ScanRead,
    ScanTarget,
)
from tui.screens.login import LoginScreen
from tui.session import SESSION_BINDINGS, SessionMixin  # issue 12: idle lock, log out
from tui.toasts import InertToasts
from tui.wedge import SCAN_MAX_GAP_S, Decision, Verdict, Wedge
from tui.wording import without_flags
from tui.workers import app_worker

if TYPE_CHECKING:
    from mfg.errors import CellTrailError
    from mfg.services.uow import Actor, Database

log = logging.getLogger("celltrail.tui")

# Imported in the background after the first paint, so that Enter on the login is fast.
WARM_MODULES = (
    "mfg.services.users",
    "mfg.services.board",
    "mfg.services.lookup",  # a scan or Ctrl+O right after the log-in
    "mfg.domain.permissions",
    "tui.screens.today",
    "mfg.services.worklist",
    "tui.screens.lot_board",
    "tui.screens.lot_detail",
    "mfg.services.counts",
    "mfg.services.harvest",
    "mfg.services.audit_trail",
)


# App actions that still work while the screen is locked (moving between the lock's fields).
LOCKED_APP_ACTIONS = frozenset({"focus_next", "focus_previous"})

POLL_S = 2.0  # seconds between looks for other users' writes (one indexed query)


def _screen(module: str, name: str) -> Screen[Any]:
    """A mode's screen. Textual (8.2) gives a new screen a CSS generation of -1, so switching to
    a mode for the first time re-parsed every stylesheet of the app from scratch, twice (132 of
    the 436 ms from Enter on the log-in to Today's rows at 10,000 lots): no screen here has CSS
    of its own, so nothing changed; the screen's widgets are styled on mount, as a pushed
    screen's are. The screen starts at the app's generation (a theme change still re-styles)."""
    import importlib

    from textual._context import active_app

    screen: Screen[Any] = getattr(importlib.import_module(f"tui.screens.{module}"), name)()
    app = active_app.get(None)
    generation = getattr(app, "_css_update_count", None)
    if generation is not None and hasattr(screen, "_css_update_count"):
        screen._css_update_count = generation
    return screen


class CellTrailApp(SessionMixin, InertToasts):
    """CellTrail: GMP lot tracking at the terminal (keyboard and barcode scanner)."""

    TITLE = "CellTrail"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True
    MODES = {
        "today": lambda: _screen("today", "TodayScreen"),
        "board": lambda: _screen("lot_board", "LotBoardScreen"),
        "qa": lambda: _screen("qa_queue", "QaQueueScreen"),
        "reports": lambda: _screen("reports", "ReportsScreen"),
    }
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("ctrl+o", "scan", "Scan/open", priority=True, show=False),
        Binding("ctrl+b", "mode('board')", "Board", show=False, priority=True),
        Binding("f2", "mode('today')", "Today", show=False),
        Binding("f3", "scanner", "Scanner setup", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
        *SESSION_BINDINGS,  # -- sessions (tui/session.py)
    ]

    def __init__(
        self,
        *,
        db_factory: Callable[[], Database],
        clock: Callable[[], datetime] | None = None,
        demo: bool = False,
        poll_s: float | None = POLL_S,
    ) -> None:
        """``poll_s``: how often the board and QA queue look for other users' writes (None:
        never; tests that photograph a screen turn it off, one test turns it on)."""
        super().__init__()
        self._db_factory = db_factory
        self._db: Database | None = None
        self._db_error: BaseException | None = None
        self._db_ready = threading.Event()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.demo = demo
        self.actor: Actor | None = None
        self.scan_max_gap_s = SCAN_MAX_GAP_S
        self._wedge = Wedge(SCAN_MAX_GAP_S)
        self.poll_s = poll_s
        self._poll_timer: Timer | None = None
        self._mark: int | None = None  # the newest audit event seen (``changes.change_mark``)
        self._polling = False
        self.css_preloaded = False  # ``_preload_css`` ran (tests wait for it)

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
        self.call_after_refresh(self._preload_css)

    def _preload_css(self) -> None:
        """While the user types: add the default CSS of the widgets that the screens after the
        log-in show and the log-in does not (Textual adds a widget class's CSS when the first
        one is mounted, and then parses every stylesheet again: twice, 22 ms, between Enter and
        Today's rows at 10,000 lots), and parse once now. Textual skips a source it already
        has, so mounting them later parses nothing; if this fails, they are added as before."""
        try:
            from textual.widgets import Header
            from textual.widgets._header import HeaderClockSpace, HeaderIcon, HeaderTitle

            from tui.widgets.table import Table

            widgets: tuple[Widget, ...] = (
                Header(),
                HeaderIcon(),
                HeaderTitle(),
                HeaderClockSpace(),
                Table(),
            )
            for widget in widgets:
                for read_from, css, tie_breaker, scope in widget._get_default_css():
                    self.stylesheet.add_source(
                        css,
                        read_from=read_from,
                        is_default_css=True,
                        tie_breaker=tie_breaker,
                        scope=scope,
                    )
            self.stylesheet.rules_map  # noqa: B018 - parses now, not on Enter
        except Exception:  # Textual's internals moved: its own first mount adds them
            log.debug("preloading the screens' CSS failed", exc_info=True)
        self.css_preloaded = True

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
            self.switch_mode("today")  # the worklist: what to do now, and the handover
            if self.poll_s and self._poll_timer is None:
                self._poll_timer = self.set_interval(self.poll_s, self._poll_changes)
        else:
            self.switch_mode("reports")

    # -- refresh on change ------------------------------------------------------------------
    def _poll_changes(self) -> None:
        """Another user, terminal or ``mfg`` command wrote: the lot screens reload."""
        if self._polling or self.actor is None or not self.can("lot.read"):
            return
        from mfg.services.changes import change_mark

        self._polling = True
        actor = self.actor
        app_worker(self, "changes", lambda: change_mark(db=self.db, actor=actor), self._seen)

    def _seen(self, mark: int) -> None:
        self._polling = False
        if self._mark is not None and mark != self._mark:
            self.post_message(LotChanged(None))
        self._mark = mark

    def can(self, action: str) -> bool:
        from mfg.domain.permissions import allowed

        return self.actor is not None and allowed(self.actor.role, action)

    # -- errors -----------------------------------------------------------------------------
    def refused(self, e: CellTrailError) -> None:
        if self.session_refused(e):  # -- sessions: the account changed: logged out
            return
        self.notify(
            f"{without_flags(e.message)} [{e.rule}]",
            title="Refused",
            severity="warning",
            timeout=8,
            markup=False,
        )

    # -- navigation -------------------------------------------------------------------------
    def action_mode(self, mode: str) -> None:
        if self.actor is None:
            return
        if mode in ("today", "board", "qa") and not self.can("lot.read"):
            self.notify("your role cannot read lots", severity="warning")
            return
        from textual.screen import ModalScreen

        if isinstance(self.screen, ModalScreen):  # never throw away a form being filled
            self.notify("finish or close this form first (Esc)", severity="warning")
            return
        if mode == self.current_mode:  # ctrl+b on a lot: back to the board itself
            while len(self.screen_stack) > 1:
                self.pop_screen()
            return
        self.switch_mode(mode)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """App keys by role: a sponsor is not offered the board or the QA queue. On a locked
        screen no app key works (help, the palette, scanner setup, quit): only the lock
        screen's own unlock, switch user and log out."""
        if self.locked_actor is not None:
            return action in LOCKED_APP_ACTIONS
        if action == "mode" and parameters and parameters[0] in ("today", "board", "qa"):
            return self.can("lot.read")
        if action == "scan":
            return self.actor is not None and self.can("scan")
        return True

    def action_command_palette(self) -> None:
        if self.locked_actor is None:  # also when called directly (the header's icon)
            super().action_command_palette()

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if self.locked_actor is None and not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_scanner(self) -> None:
        from tui.screens.scanner_setup import ScannerSetupScreen

        if self.locked_actor is None and not isinstance(self.screen, ScannerSetupScreen):
            self.push_screen(ScannerSetupScreen())

    def action_scan(self) -> None:
        from tui.screens.scan import ScanDialog

        if self.actor is None or isinstance(self.screen, ScanDialog):
            return
        self.push_screen(ScanDialog(), self._scanned)

    def _scanned(self, code: str | None) -> None:
        if code:
            self.post_message(ScanRead(code))

    def on_scan_read(self, message: ScanRead) -> None:
        from textual.screen import ModalScreen

        from tui.screens.scan import canonical_code, refuse_scan, resolve_scan

        payload = canonical_code(message.payload)  # a Caps Lock scan is the same code
        screen = self.screen
        if isinstance(screen, ScanTarget) and screen.handle_scan(payload):
            return  # a custody step, the scan dialog
        if isinstance(screen, ModalScreen):
            # never switch lots under an open form: nothing of the scan was typed into it
            # what was read is shown: keys typed ahead over a slow link can arrive as fast as a
            # scanner's, and a person must see what did not reach the field
            read = payload if len(payload) <= 40 else payload[:40] + "..."
            refuse_scan(
                self,
                "scan ignored: finish or close this form first (Esc), then scan. "
                f"Read: {read} (if you typed it, type it again: it came as fast as a scanner)",
            )
            return
        resolve_scan(self, payload)

    def on_open_lot(self, message: OpenLot) -> None:
        from tui.screens.lot_detail import LotDetailScreen

        current = self.screen
        if isinstance(current, LotDetailScreen) and current.lot_number == message.lot_number:
            current.reload()
            if message.tab:
                current.action_tab(message.tab)
            return
        screen = LotDetailScreen(message.lot_number, tab=message.tab)
        if isinstance(current, LotDetailScreen):  # one lot at a time: Esc goes back to the list
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    def on_lot_changed(self, message: LotChanged) -> None:
        """Every screen that shows lots, in every mode, reloads (public screen stacks)."""
        seen: set[int] = set()
        for mode in (self.current_mode, *self.MODES):
            try:
                stack = self.get_screen_stack(mode)
            except KeyError:  # a mode not opened yet
                continue
            for screen in stack:
                if isinstance(screen, LotWatcher) and id(screen) not in seen:
                    seen.add(id(screen))
                    screen.lot_changed(message.lot_number)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if self.actor is None:
            return
        yield SystemCommand(
            "Today", "What to do now, and the handover (F2)", lambda: self.action_mode("today")
        )
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
        yield SystemCommand(
            "Scanner setup", "Scan a label: is the scanner set up right? (F3)", self.action_scanner
        )
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
    @property
    def holding_keys(self) -> bool:
        """Keys are held to tell a scanner's burst from typing (tests wait until it is False)."""
        return bool(self._wedge.held)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown, events.MouseScrollUp)):
            self.session_activity()  # -- sessions: restarts the idle clock
        if (
            isinstance(event, events.Key)
            and not event.is_forwarded
            and self.actor is not None
            and not isinstance(self.screen, RawKeys)
        ):
            await self._wedge_key(event)
            return
        if (
            isinstance(event, events.Key)
            and not event.is_forwarded
            and self._tab_between_inputs(event)
        ):
            return
        await super().on_event(event)

    def _shortcut_screen(self) -> bool:
        return not isinstance(self.focused, Input)

    async def _wedge_key(self, event: events.Key) -> None:
        self._wedge.max_gap = self.scan_max_gap_s
        before, verdict = self._wedge.key(event, self._shortcut_screen())
        if before is not None:
            await self._apply(before)
        if verdict is Verdict.HOLD:
            token = self._wedge.token
            self.set_timer(self.scan_max_gap_s, lambda: self.post_message(FlushKeys(token)))
        elif verdict is Verdict.TYPING:
            await self._deliver(event)

    async def on_flush_keys(self, message: FlushKeys) -> None:
        if message.token != self._wedge.token or not self._wedge.held:
            return  # a newer key restarted the wait, or the burst was already decided
        await self._apply(self._wedge.end(self._shortcut_screen()))

    async def _apply(self, decision: Decision) -> None:
        if decision.verdict is Verdict.SCAN:
            self.post_message(ScanRead(decision.code))
        elif decision.verdict is Verdict.DROP:
            self.notify(
                f"ignored {len(decision.held)} keys typed faster than a person types "
                "(a scan that is not a code? F1 > scanner setup)",
                title="Keys ignored",
                severity="warning",
                markup=False,
            )
        else:
            for held in decision.held:
                await self._deliver(held)

    async def _deliver(self, event: events.Key) -> None:
        if not self._tab_between_inputs(event):
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
