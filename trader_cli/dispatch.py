"""Running commands: ``run_line`` / ``run_args`` / ``run_script`` — the one path the REPL,
``run FILE``, stdin scripts, ``exec`` and the tests all take into the command tree. It depends
only on the context (which carries the tree), so commands, the shell and the app import it
without importing one another.

Errors are mapped to exit codes here and nowhere else: a TraderCliError is its one line and its
code, a usage error 2, the machine's limits (memory, open files, disk) one line and 1, anything
else an "internal error" line with the traceback in the crash log (secrets redacted).
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import time
import traceback
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import typer
from typer import _click as click  # typer 0.29 vendors click (pinned ~=0.29.2)

from trader_cli.context import AppContext


class ShellExit(Exception):
    """Raised by ``exit``: leave the shell (or end the script); ``confirmed``: without asking
    (``exit --yes``)."""

    def __init__(self, confirmed: bool = False) -> None:
        super().__init__("exit")
        self.confirmed = confirmed


_PARAM = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$(\d+)")
INTERRUPTED = 130  # the exit code of a command (and a script) stopped by Ctrl-C
MAX_DEPTH = 8
BOM = "\ufeff"  # an editor's UTF-8 byte order mark before a script's first line


def _word_starts(text: str) -> Iterator[int]:
    """The index of each word's first character outside quotes (as a POSIX shell reads them)."""
    quote = ""
    word_start = True
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == quote:
                quote = ""
            elif c == "\\" and quote == '"':
                i += 1  # an escaped quote does not close the string
        elif c.isspace():
            word_start = True
        else:
            if word_start:
                yield i
            word_start = False
            if c in "'\"":
                quote = c
            elif c == "\\":
                i += 1
        i += 1


def strip_comment(text: str) -> str:
    """``text`` without a trailing ``# comment``: as in a POSIX shell, a ``#`` starts one only at
    the start of a word outside quotes (``out#1.json``, ``"#1"`` and ``\\#1`` keep theirs)."""
    for i in _word_starts(text):
        if text[i] == "#":
            return text[:i].rstrip()
    return text


def expand_home(text: str) -> str:
    """``~`` at the start of a word outside quotes, alone or before ``/``, as the home folder
    (``~/out.json``; ``"~/x"`` and ``a~b`` keep theirs), as a POSIX shell does."""
    at = [
        i for i in _word_starts(text) if text[i] == "~" and (text[i + 1 : i + 2] in ("", "/") or text[i + 1].isspace())
    ]
    if not at:
        return text
    home = shlex.quote(os.path.expanduser("~"))
    for i in reversed(at):
        text = text[:i] + home + text[i + 1 :]
    return text


def split_line(text: str) -> list[str]:
    """The words of a command line (quotes as in a shell, a trailing ``# comment`` dropped, a
    word's leading ``~`` the home folder); ValueError for unbalanced quotes."""
    return shlex.split(expand_home(strip_comment(text)))


def substitute(words: list[str], positional: list[str], named: dict[str, str]) -> list[str]:
    """Replace ``$1…$N`` and ``${NAME}`` inside each word of a script line, so that a value is
    always one word, whatever it holds (spaces, quotes, ``#``); unknown ones raise UsageError."""
    from trader_cli.core.errors import UsageError

    def repl(m: re.Match[str]) -> str:
        if m.group(1):
            if m.group(1) not in named:
                raise UsageError(f"${{{m.group(1)}}} is not set (pass {m.group(1)}=VALUE to run)")
            return named[m.group(1)]
        i = int(m.group(2))
        if i < 1 or i > len(positional):
            raise UsageError(f"${i} is not set (the script got {len(positional)} argument(s))")
        return positional[i - 1]

    return [_PARAM.sub(repl, word) for word in words]


def run_script(obj: AppContext, lines: Iterable[str], name: str, keep_going: bool, params: dict[str, Any]) -> Any:
    """Run script lines through ``run_words``; stop at the first failure unless keep_going."""
    from trader_cli.core.errors import UsageError
    from trader_cli.core.results import ScriptSummary
    from trader_cli.core.secrets import redact
    from trader_cli.render import clip

    depth = obj.script_depth
    if depth >= MAX_DEPTH:
        raise UsageError(f"scripts nest more than {MAX_DEPTH} deep (does {name} run itself?)")
    obj.script_depth = depth + 1
    started = time.perf_counter()
    ran = failed = 0
    exit_code = 0
    failures: list[str] = []
    try:
        for lineno, raw in enumerate(lines, start=1):
            text = (raw.removeprefix(BOM) if lineno == 1 else raw).strip()
            if not text or text.startswith("#"):
                continue
            words = _split(obj, text, f"{name}:{lineno}: ")
            if words is None:
                code = 2
            elif not words:
                continue
            else:
                try:
                    given = substitute(words, params.get("positional", []), params.get("named", {}))
                except UsageError as err:
                    code = 2
                    obj.renderer.error(f"{name}:{lineno}: {err}")
                else:
                    ran += 1
                    shown = strip_comment(text) if given == words else shlex.join(given)
                    code = run_words(obj, given, shown)
                    if code:
                        obj.renderer.note(redact(f"{name}:{lineno}: failed (exit {code}): {clip(shown)}"))
            if code:
                failed += 1
                failures.append(f"{name}:{lineno}")
                exit_code = INTERRUPTED if code == INTERRUPTED else (exit_code or code)
                if not keep_going or code == INTERRUPTED:  # Ctrl-C: the whole script stops
                    break
    finally:
        obj.script_depth = depth
    return ScriptSummary(
        script=name,
        commands_run=ran,
        failed=failed,
        failed_lines=failures,
        seconds=round(time.perf_counter() - started, 3),
        exit_code=exit_code,
    )


def _split(obj: AppContext, text: str, where: str = "") -> list[str] | None:
    """The words of a line, or None after saying (one line) why it cannot be split."""
    try:
        return split_line(text)
    except ValueError as err:
        obj.renderer.error(f"{where}cannot split the line into words: {err} (check the quotes)")
        return None


class OutputClosed(Exception):
    """Stdout's reader went away (``| head``). Not an OSError, so the command tree's own EPIPE
    handling does not turn it into an exit: ``main`` ends quietly, with status 0, in one place."""


def _usage_message(err: click.exceptions.UsageError, args: list[str]) -> str:
    from trader_cli.render import clip

    text = err.format_message().strip().rstrip(".")
    if isinstance(err, click.exceptions.NoSuchOption) and re.match(r"^-\d", err.option_name):
        # '-5m' reads as options -5 and -m: it is a value that cannot be negative.
        word = next((a for a in args if a.startswith(err.option_name)), err.option_name)
        text = f"'{word}' is not a valid value here (counts, prices, durations and intervals are positive)"
    extra = re.match(r"^(Got unexpected extra argument\(s\) \()(.*)\)$", text, re.S)
    if extra:  # the words it repeats are the user's: a long line is not echoed whole
        text = f"{extra.group(1)}{clip(extra.group(2))})"
    wrong = re.match(r"No such command '(.+?)'", text)
    names = getattr(err.ctx.command, "commands", {}) if err.ctx is not None else {}
    if wrong and wrong.group(1).lower() in names:  # a wrong case (click suggests it only sometimes)
        text = f"{wrong.group(0)} (commands are lower case: did you mean '{wrong.group(1).lower()}'?)"
    path = err.ctx.command_path.removeprefix("trader-cli").strip() if err.ctx else ""
    hint = f"help {path}" if path else "help"
    return f"{text} (see: {hint})"


def refuse_unknown_options(tree: Any, args: list[str]) -> None:
    """NoSuchOption (with click's suggestions) for a ``--word`` that is none of its command's
    options, where the command takes unknown options as values (``order buy``, ``time advance``,
    ``add indicator``: for negative-looking values); click refuses them everywhere else.
    Single-dash words (``-1``) and words after ``--`` stay values."""
    found = _leaf_command(tree, args)
    if found is None:
        return
    ctx, cmd, rest = found
    _refuse_repeated_options(ctx, cmd, rest)
    settings = cmd.context_settings
    if not settings.get("ignore_unknown_options") or not settings.get("allow_interspersed_args", True):
        return  # ``watch 5 data bars …``: the words after the command are another command's
    params = [p for p in cmd.get_params(ctx) if p.param_type_name == "option"]
    known = {name for p in params for name in (*p.opts, *p.secondary_opts)}
    takes_value = {name for p in params if not p.is_flag and not p.count for name in p.opts}
    words = iter(rest)
    for word in words:
        name = word.split("=", 1)[0]
        if word == "--":
            return
        if name in takes_value and "=" not in word:
            next(words, None)  # the option's value, whatever it looks like
        elif name.startswith("--") and name not in known:
            import difflib

            longs = sorted(n for n in known if n.startswith("--"))
            raise click.exceptions.NoSuchOption(name, possibilities=difflib.get_close_matches(name, longs), ctx=ctx)


def _refuse_repeated_options(ctx: Any, cmd: Any, rest: list[str]) -> None:
    """UsageError for an option given twice (``order buy AAPL 10 --limit 220 --limit 221``):
    click would take the last one silently."""
    try:
        _, _, order = cmd.make_parser(ctx).parse_args(args=list(rest))
    except click.exceptions.UsageError:
        return  # the real parse says why
    seen: set[str] = set()
    for param in order:
        if param.param_type_name != "option" or getattr(param, "multiple", False) or getattr(param, "count", False):
            continue
        if param.name in seen:
            raise click.exceptions.UsageError(f"{param.opts[0]} is given twice: give it once", ctx=ctx)
        seen.add(param.name)


def _leaf_command(tree: Any, args: list[str]) -> tuple[Any, Any, list[str]] | None:
    """The command ``args`` run, a context for it and its own words, found by click's own
    parsers without running anything (None when the line does not get that far: the real parse
    says why)."""
    from typer.core import TyperGroup

    cmd, ctx, rest = tree, None, list(args)
    name = "trader-cli"
    try:
        while True:
            ctx = click.Context(cmd, info_name=name, parent=ctx, resilient_parsing=True, **cmd.context_settings)
            if not isinstance(cmd, TyperGroup):
                return ctx, cmd, rest
            _, rest, _ = cmd.make_parser(ctx).parse_args(args=rest)
            sub = cmd.get_command(ctx, rest[0]) if rest else None
            if sub is None:
                return None
            cmd, name, rest = sub, rest[0], rest[1:]
    except click.exceptions.UsageError:
        return None


def run_args(obj: AppContext, args: list[str]) -> int:
    """Run one command given as arguments; render its result; return the exit code."""
    from trader_cli.core.errors import TraderCliError, exit_code_for
    from trader_cli.core.secrets import redact
    from trader_cli.render import OutputFailed

    obj.output_request = None
    target = obj.renderer.out_file
    try:
        refuse_unknown_options(obj.command_tree(), args)
        # Help pages are printed by the command tree itself: send them where results go.
        with contextlib.redirect_stdout(target) if target is not None else contextlib.nullcontext():
            rv = obj.command_tree().main(args, prog_name="trader-cli", standalone_mode=False, obj=obj)
    except click.exceptions.NoArgsIsHelpError as err:
        obj.renderer.text(err.ctx.get_help() if err.ctx else "")
        return 0
    except click.exceptions.UsageError as err:
        obj.renderer.error(_usage_message(err, args))
        return 2
    except typer.Abort:
        obj.renderer.error("cancelled")
        return 1
    except typer.Exit as err:
        return int(err.exit_code)
    except (ShellExit, OutputClosed):
        raise
    except BrokenPipeError as err:
        raise OutputClosed() from err
    except OutputFailed as err:  # a help page (or a nested command's result) stdout refused
        obj.renderer.error(str(err))
        return 1
    except TraderCliError as err:
        obj.renderer.error(redact(str(err)))  # a message never carries a key (secrets.py)
        return exit_code_for(err)
    except KeyboardInterrupt:
        obj.renderer.error("cancelled (Ctrl-C); the session is intact")
        return INTERRUPTED
    except MemoryError:
        obj.renderer.error(
            "out of memory: the command was abandoned and the session is as it was "
            "(free memory, or use fewer symbols or days)"
        )
        return 1
    except RecursionError:
        obj.renderer.error("the input nests too deeply to be read (simplify it); nothing changed")
        return 1
    except OSError as err:  # the machine's limits (open files, disk, permissions): not a bug
        from trader_cli.core.atomic import os_error_text

        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        obj.renderer.error(redact(f"the system refused: {os_error_text(err)}{where}; nothing changed"))
        return 1
    except ImportError as err:
        if "more than once per process" not in str(err):
            return _internal(obj, err)
        # a Ctrl-C landed while a compiled library (numpy, pyarrow) was first loading: Python
        # cannot load it again in this process
        obj.renderer.error("a library could not load after a Ctrl-C interrupted its loading: restart trader-cli")
        return 1
    except Exception as err:
        return _internal(obj, err)
    if isinstance(rv, int) and not isinstance(rv, bool):
        return rv  # click's exit code (e.g. after --help)
    return _show(obj, rv)


def _internal(obj: AppContext, err: Exception) -> int:
    """A bug: one line, the traceback in the crash log."""
    from trader_cli.core.secrets import redact

    log = _log_crash()
    shown = redact(str(err))
    obj.renderer.error(f"internal error: {type(err).__name__}: {shown} (details in {log}; please report it)")
    return 1


def _show(obj: AppContext, rv: Any) -> int:
    """Render a command's result; its exit code (1 for a result that reports a failure)."""
    from trader_cli.core.results import ScriptSummary
    from trader_cli.render import OutputFailed

    if isinstance(rv, ScriptSummary):
        # A diagnostic, not data: stdout carries only the commands' own output.
        if obj.script_depth == 0 and (rv.failed or obj.interactive or rv.script != "exec"):
            obj.renderer.note(rv.line())
        return rv.exit_code
    if rv is not None:
        try:
            obj.renderer.result(rv, obj.output_request or obj.output)
        except BrokenPipeError as err:
            raise OutputClosed() from err
        except OutputFailed as err:  # the command ran; only its output is lost
            obj.renderer.error(str(err))
            return 1
        failed = getattr(rv, "failed_text", None)  # a result reporting a failure: shown, then one line
        if failed:
            obj.renderer.error(failed)
            obj.recorded_as = getattr(rv, "recorded_as", None)  # what it did change (add symbol A ZZZZ: A)
            return 1
        if getattr(rv, "interrupted", False):
            from trader_cli.recording import until_line

            now = _sim_now(obj)
            if getattr(rv, "action", None) in ("advance", "until") and now is not None:  # a step Ctrl-C stopped: kept
                # as where it got to (a replay must not run it to the end); one that moved nothing: not at all
                obj.recorded_as = until_line(now) if getattr(rv, "minutes", None) else ""
            if obj.script_depth > 0 or not obj.interactive:  # Ctrl-C: 130
                return INTERRUPTED
    return 0


def run_line(obj: AppContext, line: str) -> int:
    """Run one command line (the REPL, scripts, exec and tests all come through here)."""
    text = line.strip()
    if not text or text.startswith("#"):
        return 0
    words = _split(obj, text)
    if words is None:
        return 2
    return run_words(obj, words, strip_comment(text)) if words else 0


def run_words(obj: AppContext, words: list[str], text: str) -> int:
    """Run one command line already split into words; ``text`` is the line as it is kept (in
    the session log and a recording) when it changed the session."""
    before, changes = _sim_now(obj), obj.coordinator.changes if obj.has_coordinator else 0
    live = in_live_session(obj)  # a line of a live session (system stop ends it)
    obj.recorded_as = None
    code = run_args(obj, words)
    partly, obj.recorded_as = obj.recorded_as, None  # a line that failed in part: what it changed ('': nothing)
    if (code == 0 and partly is None) or partly:
        # A change took effect at the minute the coordinator applied it (a running clock may
        # have moved on since the line was typed).
        changed = obj.has_coordinator and obj.coordinator.changes != changes
        at = obj.coordinator.changed_at_ns if changed else before
        note_line(obj, partly or text, at, _sim_now(obj), live or in_live_session(obj))
    return code


def _sim_now(obj: AppContext) -> int | None:
    """The simulated time of an active session (None without one)."""
    if not obj.has_coordinator or obj.coordinator.state.value == "stopped":
        return None
    return obj.coordinator.now_ns()


def _log_crash() -> Path:
    from trader_cli.core.logs import append_log

    return append_log("crash.log", traceback.format_exc())  # secrets never reach a log


def in_live_session(obj: AppContext) -> bool:
    """True while a live session is active (started, not stopped)."""
    if not obj.has_coordinator or obj.coordinator.state.value == "stopped":
        return False
    config = obj.coordinator.engine.config
    return config is not None and config.mode == "live"


def note_line(obj: AppContext, line: str, at_ns: int | None, after_ns: int | None, live: bool = False) -> None:
    """Keep a successful line that changed the session: in the session log (reset by each
    ``system start``, so it holds what built the session) and in an active recording; not a
    ``live`` session's line (it started, ran in or stopped one)."""
    from trader_cli.recording import LoggedLine, changes_session, is_start, plugin_line, start_line, words_of

    if not changes_session(line):
        return
    if live:  # a live session's lines replay nothing: its minutes do not come again
        obj.session_log = []
        rec = obj.recording
        if rec is not None and not rec.left_out_live:
            rec.left_out_live = True
            obj.renderer.note(
                f"the recording to {rec.path} leaves out the live session (a recording replays a backtest)"
            )
        return
    text = plugin_line(line.strip())
    if is_start(text):
        data_dir = str(obj.data_dir()) if obj.has_coordinator else None
        text = start_line(text, obj.config_file(), data_dir)
        obj.session_log = []
    entry = LoggedLine(text, at_ns, after_ns)
    obj.session_log.append(entry)
    if obj.recording is not None:
        obj.recording.add(entry)
    if words_of(text)[:2] == ["system", "stop"]:
        obj.session_log = []  # no session any more: the next one starts a new log
