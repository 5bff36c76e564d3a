"""Service calls off the UI thread: ``@service_worker`` runs a screen method in a thread worker.

The method calls the services (never a database session) and hands results back with
``ui(self, fn, *args)`` (``call_from_thread``). A refusal (``CellTrailError``) goes to the
screen's ``refused`` method on the UI thread; anything unexpected becomes a notification and a
log line, never a traceback on screen.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from textual._context import active_app
from textual.worker import get_current_worker

from mfg.errors import CellTrailError, SessionEnded

log = logging.getLogger("celltrail.tui")
F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def ui(node: Any, fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` on the UI thread unless the worker was cancelled or the app is gone."""
    with contextlib.suppress(Exception):
        if get_current_worker().is_cancelled:
            return
    with contextlib.suppress(RuntimeError):  # the app is shutting down
        node.app.call_from_thread(fn, *args)


def service_worker(group: str = "service", exclusive: bool = True) -> Callable[[F], F]:
    """Decorate a screen method so that calling it starts a thread worker running it."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def start(self: Any, *args: Any, **kw: Any) -> Any:
            app = self.app  # on the UI thread

            def body() -> None:
                active_app.set(app)  # so that ``self.app`` works inside the thread
                try:
                    fn(self, *args, **kw)
                except SessionEnded as e:  # the account changed: the app logs the user out
                    ui(self, app.refused, e)
                except CellTrailError as e:
                    ui(self, self.refused, e)
                except Exception as e:  # a bug: log it, tell the user, keep running
                    log.exception("unexpected error in %s", fn.__qualname__)
                    ui(self, app.unexpected_error, e)

            return self.run_worker(
                body,
                name=fn.__name__,
                group=group,
                exclusive=exclusive,
                thread=True,
                exit_on_error=False,
            )

        return start  # type: ignore[return-value]

    return deco


def app_worker(app: Any, group: str, call: Callable[[], T], done: Callable[[T], None]) -> None:
    """Run ``call()`` in a thread worker of ``app``, for actions that are not a screen's method;
    ``done(result)`` then runs on the UI thread. A refusal goes to ``app.refused``, anything
    else to ``app.unexpected_error``."""

    def work() -> None:
        active_app.set(app)
        try:
            result = call()
        except CellTrailError as e:
            app.call_from_thread(app.refused, e)
            return
        except Exception as e:
            app.call_from_thread(app.unexpected_error, e)
            return
        app.call_from_thread(done, result)

    app.run_worker(work, thread=True, group=group, exit_on_error=False)
