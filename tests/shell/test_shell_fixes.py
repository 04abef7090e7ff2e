"""Review fixes in the shell and the tables: colour codes typed at the prompt (no traceback),
numbers and ids that never break on a narrow screen, titles and captions of narrow tables in a
pipe, completion of plugin names, config paths, clock targets, indicator keys and command words,
``run -`` refused in the shell, and Ctrl-C while a plugin loads (a cancel, exit 130)."""

from __future__ import annotations

import io
import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from trader_cli.core.results import Tabular
from trader_cli.render import OutputMode, Renderer
from trader_cli.shell.completer import CommandCompleter

from .conftest import ANY_PROMPT, DEFAULT_CONFIG, ROOT, SHELL_ENV, SLOW, TRADER_CLI, Repl, run, shell_env
from .test_completer import offered, session_completer

HELP_DONE = r"help COMMAND for details"  # the caption under the commands table: printed last
STRATEGY = ROOT / "examples" / "strategies" / "ema_cross.py"
SCANNER = ROOT / "examples" / "scanners" / "gap_scanner.py"


def spawn_at(tmp_path: Path, columns: int, **extra: str) -> Repl:
    """``trader-cli`` in a pty ``columns`` wide, at its first prompt."""
    env = shell_env(tmp_path, **(SHELL_ENV | {"COLUMNS": str(columns)} | extra))
    child = pexpect.spawn(
        str(TRADER_CLI),
        env=env,
        cwd=str(tmp_path),
        dimensions=(40, columns),
        encoding="utf-8",
        codec_errors="replace",
        timeout=SLOW,
    )
    repl = Repl(child)
    repl.banner = repl.expect(ANY_PROMPT, timeout=SLOW)
    return repl


@pytest.fixture
def shells(tmp_path: Path) -> Iterator[list[Repl]]:
    """The shells a test starts (killed at the end)."""
    started: list[Repl] = []
    yield started
    for repl in started:
        if repl.child.isalive():
            repl.child.close(force=True)


# -- D10: escape sequences typed or pasted at the prompt ----------------------------------------------
def test_colour_codes_typed_at_the_prompt_are_dropped_without_a_traceback(tmp_path: Path, shells: list[Repl]) -> None:
    repl = spawn_at(tmp_path, 160)
    shells.append(repl)
    # Pasted coloured text without bracketed paste: prompt_toolkit reads each code as a mouse report.
    repl.child.send("\x1b[31mhe\x1b[1;2mlp\x1b[0m\r")
    out = repl.expect(HELP_DONE, timeout=20) + repl.expect(ANY_PROMPT)
    assert "data import" in out  # the codes were dropped: the line was "help"
    for shown in ("Unhandled exception", "Traceback", "Press ENTER", "not enough values"):
        assert shown not in out, out
    assert "no session" in run(repl, "time now", r"no session")


def test_an_error_in_the_prompts_event_loop_is_one_line_once_and_logged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trader_cli.shell import keys

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(keys, "_said", set())
    try:
        raise ValueError("not enough values to unpack\n(expected 3, got 1)")
    except ValueError as err:
        failure = err
    for _ in range(3):  # a failing toolbar fails every refresh: said once
        keys.loop_error(None, {"message": "Unhandled exception", "exception": failure})  # type: ignore[arg-type]
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "ValueError: not enough values to unpack (expected 3, got 1)" in lines[0], lines
    log = (tmp_path / "state" / "trader-cli" / "crash.log").read_text()
    assert "Traceback" in log and "test_shell_fixes.py" in log  # the details are in the crash log


# -- D8: narrow screens ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trading() -> Iterator[Any]:
    """A paused session at 11:00 with a filled market order (AAPL) and an open limit (RIVN)."""
    from tests.test_app import Shell

    with pytest.MonkeyPatch.context() as mp:
        for var in ("TRADER_CLI_CONFIG", "TRADER_CLI_DATA_DIR", "TRADER_CLI_OUTPUT"):
            mp.delenv(var, raising=False)
        sh = Shell(ROOT / "data")
        try:
            for line in (
                f"system start --config {DEFAULT_CONFIG} --paused",
                "time advance 1h",
                "order buy AAPL 100",
                "order buy RIVN 100 --limit 1 --tif gtc",
                "time advance 30m",
            ):
                res = sh(line)
                assert res.code == 0, res.err
            yield sh
        finally:
            if sh.obj.has_coordinator:
                sh.obj.coordinator.shutdown()


def body_cells(text: str) -> Counter[str]:
    """Every cell text of the tables' body lines (a token that broke over lines matches no cell)."""
    return Counter(c.strip() for line in text.splitlines() if line.startswith("│") for c in line.strip("│").split("│"))


def whole_tokens(sh: Any, command: str) -> Counter[str]:
    """The ids, symbols and numbers ``command`` shows, as they must appear: each a cell of its own."""
    data = json.loads(sh(f"{command} -o json").out)
    if command.startswith("orders"):
        rows = data["orders"]
        return Counter(t for o in rows for t in (o["id"], o["symbol"], f"{o['qty']:,}"))
    if command.startswith("positions"):
        return Counter(t for p in data["positions"] for t in (p["symbol"], f"{p['market_value']:,.2f}"))
    if command == "data quality":
        tokens: Counter[str] = Counter()
        for q in data["rows"]:
            tokens.update([q["symbol"], f"{q['present']:,}", f"{q['expected']:,}", f"{q['quality_pct']:.2f}%"])
        return tokens
    if command.startswith("data symbol"):
        return Counter(t for i in data["intervals"] for t in (f"{i['history']:,}", f"{i['quality_pct']:.2f}%"))
    assert command == "data session", command
    return Counter(t for s in data["symbols"] for t in (s["symbol"], f"{s['quality_pct']:.1f}%"))


@pytest.mark.parametrize("width", [60, 45, 25])
@pytest.mark.parametrize("command", ["orders --all", "positions", "data quality", "data symbol AAPL", "data session"])
def test_numbers_ids_and_symbols_never_break_on_a_narrow_screen(trading: Any, width: int, command: str) -> None:
    trading.obj.renderer = Renderer(out=trading.out, err=trading.err, width=width)
    out = trading(command).out
    assert all(len(line) <= width for line in out.splitlines()), out
    cells = body_cells(out)
    missing = {t: n for t, n in whole_tokens(trading, command).items() if cells[t] < n}
    assert not missing, f"broken over lines at {width} columns: {missing}\n{out}"


def test_a_table_too_wide_for_the_screen_is_split_each_part_led_by_the_first_column(trading: Any) -> None:
    trading.obj.renderer = Renderer(out=trading.out, err=trading.err, width=45)
    out = trading("orders --all").out
    headers = [line for line in out.splitlines() if line.startswith("┃")]
    assert len(headers) >= 2 and all(line.split("┃")[1].strip() == "id" for line in headers), out
    shown = {c.strip() for line in headers for c in line.strip("┃").split("┃")}
    assert {"symbol", "qty", "status", "avg_price", "reason"} <= shown  # every column is somewhere
    assert "not shown at this width: submitted, filled_at, tif" in " ".join(out.split())


def test_orders_in_a_45_column_terminal_keep_ids_and_symbols_whole(tmp_path: Path, shells: list[Repl]) -> None:
    repl = spawn_at(tmp_path, 45)
    shells.append(repl)
    run(repl, "system start --paused", r"started in")
    run(repl, "time advance 1h", r"advanced")
    run(repl, "order buy AAPL 100", r"o000001")
    out = run(repl, "orders --all", r"reason")
    body = [line for line in out.splitlines() if line.startswith("│")]
    assert any("│ o000001 │ AAPL " in line for line in body), out
    assert all(len(line) <= 45 for line in out.splitlines() if line.startswith(("│", "┃", "┏", "└"))), out


# -- D12 (render): titles and captions of narrow tables ------------------------------------------------
def test_a_narrow_tables_title_and_caption_stay_on_one_line_off_a_terminal() -> None:
    buf = io.StringIO()  # not a terminal: no width limit
    t = Tabular(title="AAPL sma_20_5m", columns=["time"], rows=[], caption="ready; showing 0 of 354 bars")
    Renderer(out=buf, err=io.StringIO()).result(t, OutputMode.table)
    lines = [line.rstrip() for line in buf.getvalue().splitlines()]
    assert "AAPL sma_20_5m" in lines and "ready; showing 0 of 354 bars" in lines, lines


def test_a_title_wider_than_its_table_on_a_terminal_wraps_at_the_screen_not_the_table() -> None:
    buf = io.StringIO()
    t = Tabular(title="a title of several words", columns=["n"], rows=[[1]], caption="a caption of several words")
    Renderer(out=buf, err=io.StringIO(), width=40).result(t, OutputMode.table)
    lines = [line.rstrip() for line in buf.getvalue().splitlines()]
    assert lines[0] == "a title of several words" and lines[-1] == "a caption of several words", lines


def test_an_empty_indicator_range_in_a_pipe_keeps_its_title_and_caption_whole(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            str(TRADER_CLI),
            "-q",
            "exec",
            "system start --paused",
            "data indicator AAPL sma_20_5m --from 2024-11-01 --to 2024-11-02",
        ],
        env=shell_env(tmp_path),
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=SLOW,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line.rstrip() for line in proc.stdout.splitlines()]
    assert "AAPL sma_20_5m" in lines, proc.stdout
    assert any(line.startswith("ready; showing 0 of ") and line.endswith(" bars") for line in lines), proc.stdout


# -- D13: completion -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def completer() -> Iterator[CommandCompleter]:
    """A completer on a paused session with the example strategy loaded and rsi_14_5m on AAPL."""
    yield from session_completer("add indicator AAPL rsi 14 --interval 5m", f"strategy load {STRATEGY}")


def test_plugin_status_offers_the_loaded_plugins_not_indicators(completer: CommandCompleter) -> None:
    assert offered(completer, "strategy status ") == ["ema_cross"]
    assert offered(completer, "scanner status ") == []  # no scanner loaded
    assert "sma" in offered(completer, "add indicator AAPL ")  # indicator names stay where they belong


def test_a_config_path_completes_json_files_and_folders(completer: CommandCompleter, tmp_path: Path) -> None:
    (tmp_path / "week.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "more").mkdir()
    (tmp_path / ".hidden.json").write_text("{}")
    got = offered(completer, f"system start --config {tmp_path}/")
    assert sorted(got) == ["more", "week.json"], got
    assert offered(completer, f"system start -c {tmp_path}/we") == ["ek.json"]
    assert offered(completer, f"--config {tmp_path}/w") == ["eek.json"]  # the shell's own --config too
    assert sorted(offered(completer, f"config check {tmp_path}/")) == ["more", "week.json"]


def test_clock_targets_are_offered_as_the_commands_take_them(completer: CommandCompleter) -> None:
    until = offered(completer, "time until ")
    assert until[:3] == ["open", "close", "next-open"] and "16:00" in until and "09:00" not in until
    assert offered(completer, "time until n") == ["next-open"]
    waits = offered(completer, "system wait --until ")
    assert "16:00" in waits and "open" not in waits  # --until takes HH:MM only


def test_data_indicator_offers_that_symbols_keys(completer: CommandCompleter) -> None:
    aapl, rivn = offered(completer, "data indicator AAPL "), offered(completer, "data indicator RIVN ")
    assert {"rsi_14_5m", "sma_20_5m"} <= set(aapl) and aapl == sorted(aapl)  # the strategy's emas too
    assert "sma_20_5m" in rivn and "rsi_14_5m" not in rivn  # rsi was added to AAPL only
    assert offered(completer, "data indicator AAPL r") == ["rsi_14_5m"]


def test_command_words_complete_after_help_schema_and_watch(completer: CommandCompleter) -> None:
    assert offered(completer, "help add ") == ["bar", "indicator", "symbol"]
    assert offered(completer, "help data i") == ["import", "indicator"]
    assert "bars" in offered(completer, "schema data ") and "chart" in offered(completer, "schema data ")
    assert offered(completer, "schema re") == ["record", "remove", "report"]
    assert offered(completer, "watch 5 data s") == ["session", "symbol"]
    assert offered(completer, "watch -n 2 5 data symbol ") == ["AAPL", "RIVN"]


def test_output_modes_complete_before_and_after_a_command(completer: CommandCompleter) -> None:
    assert offered(completer, "-o ") == ["table", "json", "csv"]
    assert offered(completer, "-o j") == ["json"]
    assert offered(completer, "-o json data s") == ["session", "symbol"]
    assert offered(completer, "orders -o c") == ["csv"]


def test_tab_after_help_add_completes_a_subcommand_in_the_shell(tmp_path: Path, shells: list[Repl]) -> None:
    repl = spawn_at(tmp_path, 160)
    shells.append(repl)
    repl.child.send("help add ind\t")
    repl.expect(r"icator", timeout=20)
    out = run(repl, "", r"Example")  # only the indicator command's help if the word was completed
    assert "Usage: add indicator" in out and "Indicators and their default parameters" in out, out


# -- D15: run - in the shell ---------------------------------------------------------------------------
def test_run_dash_in_the_shell_is_refused_in_one_line(tmp_path: Path, shells: list[Repl]) -> None:
    repl = spawn_at(tmp_path, 160)
    shells.append(repl)
    out = run(repl, "run -", r"pipe it", timeout=20)
    assert "run - reads a script from stdin" in out and "<stdin>" not in out, out
    assert "no session" in run(repl, "time now", r"no session")  # the shell reads the prompt again


# -- D6: Ctrl-C while a plugin loads -------------------------------------------------------------------
SLOW_NEEDS = """\
import time
from pathlib import Path
from trader_cli.plugins import Needs, Strategy

class SlowNeeds(Strategy):
    name = "slowneeds"
    def needs(self):
        Path({marker!r}).write_text("x")
        time.sleep(30)
        return Needs(intervals=["1m"])
"""


def _ctrl_c_once_in_needs(args: list[str], marker: Path) -> tuple[int, str, str]:
    """Run trader-cli ``args`` (in ``marker``'s folder), Ctrl-C it once the plugin's needs() has
    written ``marker``; (exit code, stdout, stderr)."""
    folder = marker.parent
    proc = subprocess.Popen([str(TRADER_CLI), *args], env=shell_env(folder), cwd=str(folder), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        end = time.monotonic() + SLOW
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < end, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=SLOW)
    finally:
        proc.kill()
    return proc.returncode, out, err


@pytest.mark.parametrize("keep_going", [False, True])
def test_ctrl_c_while_a_plugins_needs_runs_cancels_the_load_and_the_script(tmp_path: Path, keep_going: bool) -> None:
    marker = tmp_path / "in_needs"
    plugin = tmp_path / "slowneeds.py"
    plugin.write_text(SLOW_NEEDS.format(marker=str(marker)))
    script = tmp_path / "s.trader"
    script.write_text(f"system start --config {DEFAULT_CONFIG} --paused\nstrategy load {plugin}\nstrategy status\n")
    code, out, err = _ctrl_c_once_in_needs(["-q", "run", str(script), *(["-k"] if keep_going else [])], marker)
    assert code == 130, (out, err)
    assert "slowneeds: needs() interrupted (Ctrl-C); nothing was loaded" in err, err
    assert "raised KeyboardInterrupt" not in err and "Traceback" not in err, err
    assert "plugins" not in out  # the script stopped there (strategy status did not run), -k too


def test_ctrl_c_while_a_configs_plugin_loads_abandons_the_start(tmp_path: Path) -> None:
    marker = tmp_path / "in_needs"
    (tmp_path / "slowneeds.py").write_text(SLOW_NEEDS.format(marker=str(marker)))
    cfg = json.loads(DEFAULT_CONFIG.read_text())
    cfg["data_dir"] = str(ROOT / "data")
    cfg["strategies"] = [{"file": "slowneeds.py"}]
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    script = tmp_path / "s.trader"
    script.write_text(f"system start --config {tmp_path / 'cfg.json'} --paused\nsystem status\n")
    code, out, err = _ctrl_c_once_in_needs(["-q", "run", str(script), "-k"], marker)
    assert code == 130, (out, err)
    assert "needs() interrupted (Ctrl-C); nothing was loaded" in err and "PluginError" not in err, err
    assert "Traceback" not in err and "state" not in out, (out, err)  # system status did not run


def test_only_a_keyboard_interrupt_while_loading_is_a_cancel() -> None:
    """Any other error of a plugin's code is the caller's to report (a callback's KeyboardInterrupt
    never reaches the helper: tests/core/test_plugin_faults.py covers it end to end)."""
    from trader_cli.core.errors import Interrupted
    from trader_cli.core.plugins.loader import cancel_on_ctrl_c

    cancel_on_ctrl_c(ValueError("x"), "p: needs()")  # not a Ctrl-C: the caller reports it
    cancel_on_ctrl_c(SystemExit(3), "p: needs()")
    with pytest.raises(Interrupted, match=r"^p: needs\(\) interrupted \(Ctrl-C\); nothing was loaded$") as raised:
        cancel_on_ctrl_c(KeyboardInterrupt(), "p: needs()")
    assert raised.value.exit_code == 130
