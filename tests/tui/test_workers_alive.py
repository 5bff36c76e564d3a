"""A worker's result reaches its screen only while the screen and the app are alive: one that
arrived while the app shut down found the screen's widgets removed (``NoMatches`` in a Pilot
test, one run in about thirty)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Static

from tui.workers import alive, ui


class _Probe(Screen[None]):
    def compose(self) -> ComposeResult:
        yield Static(id="probe")


def _run(script: Any) -> None:
    async def main() -> None:
        app: App[None] = App()
        async with app.run_test() as pilot:
            await script(app, pilot)

    asyncio.run(main())


def test_a_screen_is_alive_while_shown_and_not_once_popped_or_the_app_exits() -> None:
    async def script(app: App[None], pilot: Any) -> None:
        kept, popped = _Probe(), _Probe()
        await app.push_screen(kept)
        await app.push_screen(popped)
        await pilot.pause()
        assert alive(kept) and alive(popped) and alive(app)
        assert alive(kept.query_one("#probe", Static))
        await app.pop_screen()
        await pilot.pause()
        assert not alive(popped) and alive(kept)
        app.exit()
        assert not alive(kept) and not alive(kept.query_one("#probe", Static))

    _run(script)


def test_a_result_arriving_as_the_app_exits_is_dropped() -> None:
    shown: list[str] = []

    async def script(app: App[None], pilot: Any) -> None:
        screen = _Probe()
        await app.push_screen(screen)
        await pilot.pause()

        def show(text: str) -> None:
            shown.append(text)
            screen.query_one("#probe", Static).update(text)

        before = threading.Thread(target=ui, args=(screen, show, "in time"))
        before.start()
        while before.is_alive():  # call_from_thread waits for the UI thread to run it
            await pilot.pause()
        app.exit()
        late = threading.Thread(target=ui, args=(screen, show, "too late"))
        late.start()
        while late.is_alive():
            await pilot.pause()

    _run(script)
    assert shown == ["in time"]
