"""SafeStdoutProxy (shell/output.py): text written as a prompt ends is written, once — unit tests
on real asyncio loops in the states a prompt's loop passes through as it closes."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator

import pytest
from prompt_toolkit.application import create_app_session
from prompt_toolkit.output.plain_text import PlainTextOutput

from trader_cli.shell.output import SafeStdoutProxy


@pytest.fixture
def screen() -> Iterator[tuple[SafeStdoutProxy, io.StringIO]]:
    """A proxy writing to a string (its terminal), and the string."""
    terminal = io.StringIO()
    with create_app_session(output=PlainTextOutput(terminal)), SafeStdoutProxy(raw=True) as proxy:
        yield proxy, terminal


def test_a_write_reaching_a_closed_loop_is_written_to_the_terminal(screen: tuple[SafeStdoutProxy, io.StringIO]) -> None:
    proxy, terminal = screen
    loop = asyncio.new_event_loop()
    loop.close()  # prompt_toolkit's own proxy raises "Event loop is closed" here, in its flush thread
    proxy._write_and_flush(loop, "warning: history is off\n")
    assert terminal.getvalue() == "warning: history is off\n"


def test_a_write_left_on_a_loop_that_closes_unrun_is_written_once(screen: tuple[SafeStdoutProxy, io.StringIO]) -> None:
    proxy, terminal = screen
    loop = asyncio.new_event_loop()  # the prompt ended: its loop runs no more callbacks, then closes
    threading.Timer(0.2, loop.close).start()
    proxy._write_and_flush(loop, "note\n")  # prompt_toolkit's own proxy drops it
    assert terminal.getvalue() == "note\n"


def test_a_write_on_a_running_loop_runs_there_once(screen: tuple[SafeStdoutProxy, io.StringIO]) -> None:
    proxy, terminal = screen
    loop = asyncio.new_event_loop()
    ran_on: list[threading.Thread] = []
    thread = threading.Thread(target=loop.run_forever, name="prompt-loop")
    thread.start()
    try:
        original = proxy._output.flush
        proxy._output.flush = lambda: (ran_on.append(threading.current_thread()), original())[1]  # type: ignore[method-assign]
        proxy._write_and_flush(loop, "line\n")
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
    assert terminal.getvalue() == "line\n"
    assert ran_on == [thread]
