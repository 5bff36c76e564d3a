"""Service calls off the UI thread: ``@service_worker`` runs a screen method in a thread worker.

The method calls the services (never a database session) and hands results back with
``ui(self, fn, *args)`` (``call_from_thread``). A refusal (``CellTrailError``) goes to the
screen's ``refused`` method on the UI thread. Anything else is a bug: it is not turned into a
message; the worker fails, Textual stops the app (``exit_on_error``) and a Pilot test fails.
``mfg tui`` writes the details to the log and prints one line (no traceback on screen).

The thread runs in a copy of the UI thread's context (``contextvars``), so that ``self.app``
works inside it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from textual.worker import Worker, active_worker, get_current_worker

from mfg.errors import CellTrailError, SessionEnded

log = logging.getLogger("celltrail.tui")
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


class Refuses(Protocol):
    """What a worker's owner offers for an expected refusal."""

    def refused(self, e: CellTrailError) -> None: ...


def alive(node: Any) -> bool:
    """Whether ``node`` (a screen or widget, or the app) can still take a worker's result: the
    app not exiting and the node still in its DOM and running. Checked on the UI thread just
    before the result is shown: a result that arrived while the app shut down found its
    screen's widgets already removed (``NoMatches``, a Pilot test failing one run in many)."""
    app = node.app
    if node is app:
        return bool(app.is_running)
    return bool(node.is_attached and node.is_running)


def ui(node: Any, fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` on the UI thread unless the worker was cancelled, or the node or the
    app is gone (``alive``, checked there)."""
    with contextlib.suppress(Exception):
        if get_current_worker().is_cancelled:
            return

    def if_alive() -> None:
        if alive(node):
            fn(*args)

    with contextlib.suppress(RuntimeError):  # the app is shutting down
        node.app.call_from_thread(if_alive)


def in_thread(
    owner: Any, body: Callable[[], None], *, name: str, group: str, exclusive: bool = False
) -> Worker[None]:
    """Start ``body`` in a thread worker of ``owner`` (a screen or the app), in a copy of the
    current context; a refusal goes to ``owner.refused`` on the UI thread."""
    context = contextvars.copy_context()  # on the UI thread: holds the active app

    def guarded(worker: Worker[None]) -> None:
        active_worker.set(worker)  # for ``ui``'s cancellation check
        try:
            body()
        except SessionEnded as e:  # the account changed: the app logs the user out
            ui(owner, owner.app.refused, e)
        except CellTrailError as e:
            ui(owner, owner.refused, e)

    def run() -> None:
        context.run(guarded, get_current_worker())

    return owner.run_worker(  # type: ignore[no-any-return]
        run, name=name, group=group, exclusive=exclusive, thread=True
    )


def service_worker(group: str = "service", exclusive: bool = True) -> Callable[[F], F]:
    """Decorate a screen method so that calling it starts a thread worker running it."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def start(self: Any, *args: Any, **kw: Any) -> Any:
            return in_thread(
                self,
                lambda: fn(self, *args, **kw),
                name=fn.__name__,
                group=group,
                exclusive=exclusive,
            )

        return start  # type: ignore[return-value]

    return deco


def app_worker(app: Any, group: str, call: Callable[[], T], done: Callable[[T], None]) -> None:
    """Run ``call()`` in a thread worker of ``app``, for actions that are not a screen's method;
    ``done(result)`` then runs on the UI thread. A refusal goes to ``app.refused``."""

    def work() -> None:
        result = call()
        ui(app, done, result)

    in_thread(app, work, name=group, group=group)
