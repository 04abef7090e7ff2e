"""The REPL: a prompt_toolkit loop that hands each line to ``run_line``.

The prompt shows mode and state (``backtest·running 2024-12-02 10:41 >``) and a bottom toolbar
shows simulated time, progress, speed and symbol count; both refresh while the clock runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trader_cli.context import AppContext
from trader_cli.core.lifecycle import SessionState

if TYPE_CHECKING:
    import threading

    from trader_cli.shell.history import ShellHistory


def history_path() -> Path:
    """$TRADER_CLI_HISTORY, else $XDG_DATA_HOME/trader-cli/history."""
    env = os.environ.get("TRADER_CLI_HISTORY")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "trader-cli" / "history"


def prompt_text(obj: AppContext) -> str:
    """``trader>`` before any session, else mode·state and the simulated time."""
    if not obj.has_coordinator:
        return "trader> "
    st = obj.coordinator.status()
    if st.state is SessionState.stopped:
        return "trader> "
    when = (st.time_text or "").removesuffix(" ET")
    if st.live is not None and st.live.before_open:  # live before the bell: the market's clock, not the first bar's
        when = f"{when[:10]} {st.live.market_time[:5]} pre-open"
    return f"{st.mode}·{st.state.value} {when} > "


def toolbar_text(obj: AppContext) -> str:
    """Simulated time, progress %, speed, symbols, the running plugins, equity and day P&L, and
    key hints (in that order: a narrow terminal cuts it from the right)."""
    hints = "Tab complete · ↑/Ctrl-R history · Ctrl-C cancel · Ctrl-D exit"
    if not obj.has_coordinator or obj.coordinator.state.value == "stopped":
        return f" no session (system start) │ {hints}"
    st = obj.coordinator.status()
    speed = "max" if not st.speed else f"{st.speed:g}x"
    account = "" if st.equity is None else f" │ equity {st.equity:,.2f} │ day P&L {st.day_pnl or 0:+,.2f}"
    plugins = f" │ running {', '.join(st.plugins)}" if st.plugins else ""
    when = st.time_text
    if st.live is not None and st.live.before_open and when:
        when = f"{when[:10]} {st.live.market_time} ET, before the open (the session steps from 09:30)"
    return (
        f" {when} │ day {st.day_text} │ {st.progress_pct:.1f}% │ speed {speed} │ "
        f"{st.symbols} symbols{plugins}{account} │ {hints}"
    )


def exit_question(obj: AppContext) -> str | None:
    """What to ask before leaving (a session still active, or a finished backtest that was not
    exported since it finished; a recording, saved on leaving, is named); None to leave at once
    (also with --yes)."""
    if obj.assume_yes or not obj.has_coordinator:
        return None
    coord = obj.coordinator
    state = coord.state.value
    save = f"save the recording to {obj.recording.path} and " if obj.recording is not None else ""
    if state in ("running", "paused"):
        stop = f"stop it, {save}" if save else "stop it and "
        return f"a session is active; {stop}exit? [y/N] "
    if state == "finished" and coord.exported_minutes != coord.minutes_done:
        return f"the backtest finished and was not exported; {save}exit anyway? [y/N] "
    return None


def _confirm_exit(obj: AppContext) -> bool:
    """Ask the exit question if there is one; True to leave. The answer is asked in a prompt of
    its own, so it never enters the command history."""
    question = exit_question(obj)
    if question is None:
        return True
    from prompt_toolkit.history import DummyHistory

    from trader_cli.shell.keys import ShellPrompt, shell_key_bindings

    try:
        answer = ShellPrompt(history=DummyHistory(), key_bindings=shell_key_bindings()).prompt(question)
    except (EOFError, KeyboardInterrupt):
        return False
    return answer.strip().lower() in ("y", "yes")


def open_shell(tree: Callable[[], Any]) -> int:
    """The shell with a fresh context whose lines run through ``tree`` (``trader-cli`` alone)."""
    obj = AppContext(tree=tree)
    try:
        return run_repl(obj, warm_up=True)
    finally:
        if obj.has_coordinator:
            obj.coordinator.shutdown()


def _warm_up(obj: AppContext) -> None:
    """Build the command tree while the trader reads the prompt."""
    obj.command_tree()


def run_repl(obj: AppContext, warm_up: bool = False) -> int:
    """Read lines until exit or Ctrl-D; a user error prints one line and the prompt comes back."""
    from trader_cli.shell.completer import CommandCompleter
    from trader_cli.shell.history import ShellHistory, SuggestFromSucceeded
    from trader_cli.shell.keys import ShellPrompt, shell_key_bindings
    from trader_cli.shell.output import patched_output

    obj.interactive = True
    obj.renderer.pager = True
    history = ShellHistory(history_path(), warn=obj.renderer.note)
    session = ShellPrompt(
        history=history,
        key_bindings=shell_key_bindings(),
        auto_suggest=SuggestFromSucceeded(history),
        enable_history_search=False,
        completer=CommandCompleter(obj),
        complete_in_thread=True,
        complete_while_typing=False,
        bottom_toolbar=lambda: _toolbar(obj),
        refresh_interval=0.5,
    )
    if warm_up:
        _warm_up_after_first_render(session, obj)
    # Plain write: rich is imported later, when the first result is shown.
    sys.stderr.write("trader-cli — type 'help' for commands, 'exit' or Ctrl-D to leave\n")
    _name_unfinished_recordings()
    with patched_output():
        return _loop(obj, session, history)


def _warm_up_after_first_render(session: Any, obj: AppContext) -> None:
    """Build the command tree in a thread once the prompt is on screen (earlier, the thread's
    imports would compete with drawing the prompt)."""
    import threading

    started = False

    def start(_: object) -> None:
        nonlocal started
        if not started:
            started = True
            threading.Thread(target=_warm_up, args=(obj,), name="warm-up", daemon=True).start()

    session.app.after_render += start


def _loop(obj: AppContext, session: Any, history: ShellHistory) -> int:
    """Prompt, run, repeat (the command tree is imported once the first line arrives); each
    line's outcome goes to the history, so failed lines are never suggested."""
    while True:
        try:
            line = session.prompt(lambda: prompt_text(obj))
        except KeyboardInterrupt:
            continue
        except EOFError:
            if _confirm_exit(obj):
                return _leave(obj)
            continue
        from trader_cli.dispatch import ShellExit, run_line

        try:
            code = run_line(obj, line)
        except ShellExit as leave:
            if leave.confirmed or _confirm_exit(obj):
                return _leave(obj)
            continue
        if line.strip():
            history.note_outcome(line, failed=code != 0)
        _warm_up_statistics(obj)


def _toolbar(obj: AppContext) -> str:
    """The toolbar (redrawn every half second), and the statistics warm-up once a backtest that
    ran while the trader sat at the prompt has finished."""
    _warm_up_statistics(obj)
    return toolbar_text(obj)


_statistics_warm = False


def _warm_up_statistics(obj: AppContext) -> threading.Thread | None:
    """Once a backtest has finished, import the report's statistics library (empyrical: pandas
    and scipy, ~0.8 s) in a thread while the trader reads the result, so the ``report`` or
    ``session export`` that usually follows does not wait for it. Not at start-up: there its
    import held the GIL while prompt_toolkit loaded the history."""
    global _statistics_warm
    if _statistics_warm or not obj.has_coordinator or obj.coordinator.state.value != "finished":
        return None
    _statistics_warm = True
    import importlib
    import threading

    def load() -> None:
        try:
            importlib.import_module("empyrical")
        except ImportError:  # the report says so when it is asked for
            return

    thread = threading.Thread(target=load, name="warm-up-statistics", daemon=True)
    thread.start()
    return thread


def _leave(obj: AppContext) -> int:
    """The shell's exit status: 0, or 1 when a recording could not be saved (said in one line)."""
    from trader_cli.commands.record import save_on_leaving

    return save_on_leaving(obj)


def _name_unfinished_recordings() -> None:
    """One line for each recording a trader-cli that ended before writing it left behind."""
    from trader_cli.recording import keep_hint, target_of, unfinished_recordings

    for journal in unfinished_recordings():
        sys.stderr.write(
            f"an unfinished recording to {target_of(journal)} is in {journal} "
            f"(trader-cli ended before 'record stop'); {keep_hint(journal)}\n"
        )
