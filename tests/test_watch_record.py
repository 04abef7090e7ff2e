"""watch (re-runs a read-only command) and record start/stop (a script that run replays)."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from trader_cli.app import make_context
from trader_cli.context import AppContext
from trader_cli.dispatch import run_line
from trader_cli.render import Renderer

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def obj(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AppContext:
    monkeypatch.chdir(tmp_path)
    for var in ("TRADER_CLI_DATA_DIR", "TRADER_CLI_OUTPUT"):
        monkeypatch.delenv(var, raising=False)
    o = make_context(renderer=Renderer(out=io.StringIO(), err=io.StringIO(), width=120))
    o.config_path = str(REPO / "configs" / "default.json")
    yield o
    if o.has_coordinator:
        o.coordinator.shutdown()


def out(o: AppContext) -> str:
    return o.renderer.out_file.getvalue()  # type: ignore[union-attr]


def o_err(o: AppContext) -> str:
    return o.renderer.err_file.getvalue()  # type: ignore[union-attr]


def test_watch_reruns_a_read_only_command(obj: AppContext) -> None:
    assert run_line(obj, "watch --count 3 0.1 time now -o json") == 0
    assert out(obj).count('"state"') == 3
    docs = [json.loads(d) for d in out(obj).replace("}\n{", "}\x00{").split("\x00")]
    assert len(docs) == 3 and all("state" in d for d in docs)  # the runs' documents alone on stdout
    assert "watch stopped after 3 run(s)" in o_err(obj)


def test_watch_reruns_the_trading_views(obj: AppContext) -> None:
    assert run_line(obj, "system start --paused") == 0
    for line in ("positions", "orders --all", "account", "strategy status"):
        assert run_line(obj, f"watch --count 1 0.1 {line}") == 0, line
    assert run_line(obj, "watch --count 1 0.1 order buy AAPL 1") == 2  # places an order: refused


def test_watch_refuses_a_command_that_changes_things(obj: AppContext) -> None:
    assert run_line(obj, "watch 1 system start") == 2
    assert "read-only" in obj.renderer.err_file.getvalue()  # type: ignore[union-attr]


def test_record_then_run_reproduces_the_session(obj: AppContext, tmp_path: Path) -> None:
    obj.interactive = True  # recording keeps what a trader types at the prompt
    script = tmp_path / "rec.trader"
    lines = [
        "record start " + str(script),
        "system start --paused",
        "time advance 45m",
        "add symbol TSLA",
        "add symbol NOPE",
        "add indicator MSFT ema 10 --interval 5m",
        "record stop",
    ]
    codes = [run_line(obj, line) for line in lines]
    assert codes == [0, 0, 0, 0, 1, 0, 0]
    text = script.read_text()
    assert "add symbol NOPE" not in text and "add symbol TSLA" in text and "record" not in text.split("\n", 1)[1]
    first = tmp_path / "a.json"
    assert run_line(obj, f"session export {first} --bars") == 0
    obj.coordinator.stop()
    obj.interactive = False
    assert run_line(obj, f"run {script}") == 0
    second = tmp_path / "b.json"
    assert run_line(obj, f"session export {second} --bars") == 0
    a, b = json.loads(first.read_text()), json.loads(second.read_text())
    assert a["symbols"] == b["symbols"] and a["session"] == b["session"]


def _export(obj: AppContext, path: Path) -> dict[str, object]:
    assert run_line(obj, f"session export {path} --bars") == 0
    data = json.loads(path.read_text())
    data.pop("exported_at")
    return data


@pytest.mark.slow
def test_a_recording_started_mid_session_replays_to_the_same_session(obj: AppContext, tmp_path: Path) -> None:
    obj.interactive = True
    script = tmp_path / "mid.trader"
    assert run_line(obj, "system start --speed 20000") == 0
    began = obj.coordinator.engine.replay.book.now_ns
    for _ in range(200):  # a loaded machine: the clock's first step can take a while
        if obj.coordinator.engine.replay.book.now_ns != began:
            break
        time.sleep(0.02)
    assert run_line(obj, "add symbol TSLA") == 0  # added while the clock runs, at whatever minute (not the first)
    after = ["add indicator MSFT ema 10 --interval 5m", "system wait", "record stop"]
    assert run_line(obj, f"record start {script}") == 0
    assert [run_line(obj, line) for line in after] == [0, 0, 0]
    text = script.read_text()
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert lines[0].startswith("--data-dir ") and "system start --config" in lines[0] and "--paused" in lines[0]
    assert "add symbol TSLA" in lines and "add indicator MSFT ema 10 --interval 5m" in lines
    assert lines[lines.index("add symbol TSLA") - 1].startswith("time until 2024-12-0")
    first = _export(obj, tmp_path / "a.json")
    obj.coordinator.stop()
    obj.interactive = False
    assert run_line(obj, f"run {script}") == 0
    second = _export(obj, tmp_path / "b.json")
    assert first == second


def test_secrets_never_reach_a_recording(obj: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APCA_API_SECRET_KEY", "sekret-value-123")
    obj.interactive = True
    script = tmp_path / "s.trader"
    assert run_line(obj, f"record start {script}") == 0
    assert run_line(obj, "system start --paused") == 0
    assert run_line(obj, "session export /tmp/sekret-value-123.json") == 0
    assert run_line(obj, "record stop") == 0
    assert "sekret-value-123" not in script.read_text()


def test_a_recording_with_orders_replays_to_the_same_trades(obj: AppContext, tmp_path: Path) -> None:
    obj.interactive = True
    script = tmp_path / "orders.trader"
    lines = [
        f"record start {script}",
        "system start --paused",
        "time advance 20m",
        "order buy AAPL 50",
        "order sell AAPL 500",  # refused: no short selling (r000001), not kept
        "order buy RIVN 100 --limit 1 --tif gtc",
        "time advance 15m",
        "order cancel o000002",
        "order sell AAPL 20 --limit 1",
        "positions",
        "time advance 1h",
        "record stop",
    ]
    codes = [run_line(obj, line) for line in lines]
    assert codes == [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    text = script.read_text()
    assert "order sell AAPL 500" not in text and "positions" not in text and "order cancel o000002" in text
    first = _export(obj, tmp_path / "a.json")
    obj.coordinator.stop()
    obj.interactive = False
    assert run_line(obj, f"run {script}") == 0
    second = _export(obj, tmp_path / "b.json")
    accepted = [o for o in first["orders"] if o["status"] != "rejected"]  # type: ignore[union-attr]
    assert [o["id"] for o in accepted] == ["o000001", "o000002", "o000003"]
    assert second["orders"] == accepted and second["fills"] == first["fills"]
    assert second["account"] == first["account"] and second["equity"] == first["equity"]


def test_a_recording_names_the_config_found_in_the_working_directory(
    obj: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = json.loads((REPO / "configs" / "default.json").read_text())
    cfg["data_dir"] = str(REPO / "data")
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "default.json").write_text(json.dumps(cfg))
    obj.config_path = None  # neither --config nor TRADER_CLI_CONFIG: ./configs/default.json is used
    obj.interactive = True
    script = tmp_path / "rec.trader"
    for line in (f"record start {script}", "system start --paused", "time advance 5m", "record stop"):
        assert run_line(obj, line) == 0, line
    assert f"--config {tmp_path / 'configs' / 'default.json'}" in script.read_text()
    obj.coordinator.shutdown()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert run_line(obj, f"run {script}") == 0, obj.renderer.err_file.getvalue()  # type: ignore[union-attr]


def _replayed(obj: AppContext, script: Path, tmp_path: Path, name: str) -> dict[str, object]:
    """The session ``script`` replays to, run from another folder (as a recording may be)."""
    obj.coordinator.stop()
    obj.interactive = False
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    import os

    here = Path.cwd()
    os.chdir(elsewhere)
    try:
        code = run_line(obj, f"run {script}")
    finally:
        os.chdir(here)
    assert code == 0, o_err(obj)
    return _export(obj, tmp_path / name)


def test_a_recording_keeps_what_a_partly_failed_add_added_and_plugin_files_absolute(
    obj: AppContext, tmp_path: Path
) -> None:
    """``add symbol AMD ZZZZ`` fails (ZZZZ has no data) but adds AMD: the recording keeps that;
    a plugin loaded by a relative path replays from any folder; a recording of a backtest run
    to its end and exported replays to its end (exit 0), not past it."""
    obj.interactive = True
    script = tmp_path / "rec.trader"
    (tmp_path / "mine.py").write_text((REPO / "examples" / "strategies" / "ema_cross.py").read_text())
    lines = [
        f"record start {script}",
        "system start --paused",
        "strategy load mine.py",
        "time advance 30m",
        "add symbol AMD ZZZZ",
        "system resume",
        "system wait",
        f"session export {tmp_path / 'x.json'}",
        "record stop",
    ]
    codes = [run_line(obj, line) for line in lines]
    assert codes == [0, 0, 0, 0, 1, 0, 0, 0, 0], o_err(obj)
    kept = [ln for ln in script.read_text().splitlines() if ln and not ln.startswith("#")]
    assert "add symbol AMD --source strategy" in kept and not any("ZZZZ" in ln for ln in kept), kept
    assert f"strategy load {tmp_path / 'mine.py'}" in kept, kept
    assert kept[-1].startswith("session export"), kept  # at the end already: no resume and wait after it
    first = _export(obj, tmp_path / "a.json")
    second = _replayed(obj, script, tmp_path, "b.json")
    clocked = ("file", "median_ms", "max_ms")  # the file as given (relative, then absolute), wall-clock times
    for doc in (first, second):
        doc["plugins"] = [{k: v for k, v in p.items() if k not in clocked} for p in doc["plugins"]]  # type: ignore[attr-defined]
    assert first == second
    assert "AMD" in second["symbols"]  # type: ignore[operator]


def test_a_step_ctrl_c_stopped_is_kept_as_where_it_got_to(obj: AppContext, tmp_path: Path) -> None:
    """An interrupted ``time advance`` is recorded as ``time until`` the minute it reached (the
    typed words would replay it to its end)."""
    import os
    import signal
    import threading

    slow = tmp_path / "slow.py"
    slow.write_text(
        "import time\nfrom trader_cli.plugins import Needs, Strategy\n"
        "class Slow(Strategy):\n    name = 'slow'\n"
        "    def needs(self):\n        return Needs(intervals=['1m'])\n"
        "    def on_bars(self, bars):\n        time.sleep(0.002)\n"
    )
    obj.interactive = True
    script = tmp_path / "rec.trader"
    for line in (f"record start {script}", "system start --paused", f"strategy load {slow}"):
        assert run_line(obj, line) == 0, o_err(obj)
    timer = threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        code = run_line(obj, "time advance 5 sessions")
    finally:
        timer.cancel()
    assert code == 0 and "interrupted by Ctrl-C" in out(obj), (code, out(obj), o_err(obj))
    reached = obj.coordinator.now_ns()
    assert obj.coordinator.state.value == "paused" and run_line(obj, "record stop") == 0
    kept = [ln for ln in script.read_text().splitlines() if ln and not ln.startswith("#")]
    from trader_cli.recording import until_line

    assert kept[-1] == until_line(reached) and not any("5 sessions" in ln for ln in kept), kept


def test_plugin_lines_are_made_absolute_past_options_and_keep_a_symlinks_name(tmp_path: Path) -> None:
    from trader_cli.recording import plugin_line

    (tmp_path / "lib").mkdir()
    real = tmp_path / "lib" / "v3.py"
    real.write_text("# a plugin\n")
    (tmp_path / "mine.py").symlink_to(real)
    import os

    here = Path.cwd()
    os.chdir(tmp_path)
    try:
        assert plugin_line("strategy load mine.py fast=5") == f"strategy load {tmp_path / 'mine.py'} fast=5"
        mine = tmp_path / "mine.py"
        assert plugin_line("strategy load --as fast mine.py:Ema") == f"strategy load --as fast {mine}:Ema"
        assert plugin_line("scanner load --pre-session --every=15m lib/v3.py") == (
            f"scanner load --pre-session --every=15m {real}"
        )
        assert plugin_line("strategy load nowhere.py") == "strategy load nowhere.py"  # no such file: as typed
        assert plugin_line("add symbol TSLA") == "add symbol TSLA"
    finally:
        os.chdir(here)


def test_a_step_ctrl_c_stopped_before_any_minute_is_not_kept(obj: AppContext, tmp_path: Path) -> None:
    """Interrupted before its first minute: nothing moved, nothing is kept (its typed words
    would run it in the replay, a ``time until`` now would be refused there)."""
    from trader_cli.commands import time as time_cmd

    obj.interactive = True
    script = tmp_path / "rec.trader"
    for line in (f"record start {script}", "system start --paused"):
        assert run_line(obj, line) == 0, o_err(obj)
    real = time_cmd.ctrl_c_between_steps

    def at_once(in_plugin):  # type: ignore[no-untyped-def]  # Ctrl-C lands before the first step
        import contextlib

        @contextlib.contextmanager
        def cm():  # type: ignore[no-untyped-def]
            with real(in_plugin):
                yield lambda: True

        return cm()

    time_cmd.ctrl_c_between_steps = at_once  # type: ignore[assignment]
    try:
        assert run_line(obj, "time advance 2 sessions") == 0
    finally:
        time_cmd.ctrl_c_between_steps = real  # type: ignore[assignment]
    assert "advanced 0 minute(s)" in out(obj) and "interrupted by Ctrl-C" in out(obj), out(obj)
    assert run_line(obj, "record stop") == 0
    kept = [ln for ln in script.read_text().splitlines() if ln and not ln.startswith("#")]
    assert not any(ln.startswith("time") for ln in kept), kept
