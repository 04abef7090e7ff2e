"""What the prompt does with input it cannot use: key bindings, and the event loop's error handler.

A colour code typed or pasted without bracketed paste (``ESC[31m``) reads, to prompt_toolkit, as
a mouse report, and its mouse handler fails on it; the shell has no mouse support, so such reports
are dropped (the text around them stays). Anything else that fails inside prompt_toolkit is
logged to the crash log and said in one line, once, instead of prompt_toolkit's traceback and
"Press ENTER to continue...".
"""

from __future__ import annotations

import asyncio
import sys
import traceback
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.keys import Keys

from trader_cli.core.secrets import redact


def shell_key_bindings() -> KeyBindings:
    """The shell's own bindings (over prompt_toolkit's defaults)."""
    bindings = KeyBindings()

    @bindings.add(Keys.Vt100MouseEvent)
    def _drop_mouse_report(event: KeyPressEvent) -> None:
        """No mouse support: a report (or a colour code that looks like one) is dropped."""

    return bindings


class ShellPrompt(PromptSession[str]):
    """A PromptSession whose event loop logs an unexpected error in one line, not a traceback."""

    def prompt(self, *args: Any, **kwargs: Any) -> str:
        """``PromptSession.prompt`` with the shell's error handler on the prompt's event loop."""
        kwargs.setdefault("set_exception_handler", False)
        kwargs.setdefault("pre_run", _install_handler)
        return super().prompt(*args, **kwargs)


_said: set[str] = set()  # the errors said already: a failing toolbar would fail every refresh


def _install_handler() -> None:
    asyncio.get_running_loop().set_exception_handler(loop_error)


def loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """An error inside the prompt's event loop: logged to the crash log and said in one line above
    the prompt, the first time it happens; the line being typed stays as it was."""
    err = context.get("exception")
    what = f"{type(err).__name__}: {err}" if err is not None else str(context.get("message", "unknown"))
    what = " ".join(redact(what).split())  # one line, no secret
    if what in _said:
        return
    _said.add(what)
    from trader_cli.core.logs import append_log

    details = "".join(traceback.format_exception(err)) if isinstance(err, BaseException) else what
    log = append_log("crash.log", f"the shell's prompt: {details}")
    line = f"the prompt skipped input it could not handle ({what[:80]}; details in {log})\n"
    from prompt_toolkit.application import get_app_or_none, run_in_terminal

    app = get_app_or_none()
    if app is not None and app.is_running:  # above the prompt, which is then drawn again
        run_in_terminal(lambda: sys.stderr.write(line))
    else:
        sys.stderr.write(line)
