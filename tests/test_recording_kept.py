"""A recording is never lost: ``record start`` checks the place before anything starts; the lines
reach disk as they come (FILE.partial); exit, quit, Ctrl-D and the end of a script run write FILE
and say so; a kill -9 leaves the journal, which the next ``record start`` and the next shell name."""

from __future__ import annotations

import io
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.shell.conftest import (
    SLOW,
    TRADER_CLI,
    Repl,
    leave,
    run,
    shell_env,
    spawn,  # noqa: F401 - the pty fixture: spawn() is a shell at its prompt
)
from trader_cli.app import make_context
from trader_cli.context import AppContext
from trader_cli.dispatch import run_line
from trader_cli.render import Renderer
from trader_cli.shell.repl import exit_question

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "default.json"
START = f"--data-dir {(ROOT / 'data').resolve()} system start --config {CONFIG.resolve()} --paused"


@pytest.fixture
def obj(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[AppContext]:
    """A context on the default config, its working directory and state dir in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    for var in ("TRADER_CLI_DATA_DIR", "TRADER_CLI_OUTPUT"):
        monkeypatch.delenv(var, raising=False)
    o = make_context(renderer=Renderer(out=io.StringIO(), err=io.StringIO(), width=200), config_path=str(CONFIG))
    yield o
    journal = getattr(o.recording, "journal", None)  # a recording left running: its file closed
    if journal is not None:
        journal.close()
    if o.has_coordinator:
        o.coordinator.shutdown()


def said(o: AppContext) -> str:
    """What the context printed, results and errors."""
    return o.renderer.out_file.getvalue() + o.renderer.err_file.getvalue()  # type: ignore[union-attr]


def body(path: Path) -> list[str]:
    """A script's command lines (comments left out)."""
    return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln and not ln.startswith("#")]


def files_under(folder: Path) -> set[Path]:
    """Every path under ``folder``, the state dir left out."""
    return {p for p in folder.rglob("*") if "state" not in p.relative_to(folder).parts}


# -- record start checks the place first -----------------------------------------------------------


@pytest.mark.parametrize("place", ["a folder", "a missing folder", "a file taken for a folder"])
def test_record_start_refuses_a_place_it_cannot_write(obj: AppContext, tmp_path: Path, place: str) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "notes.txt").write_text("mine\n")
    path = {
        "a folder": tmp_path / "out",
        "a missing folder": tmp_path / "nope" / "rec.trader",
        "a file taken for a folder": tmp_path / "notes.txt" / "rec.trader",
    }[place]
    before = files_under(tmp_path)
    assert run_line(obj, f"record start {path}") == 1
    errors = obj.renderer.err_file.getvalue().splitlines()  # type: ignore[union-attr]
    assert len(errors) == 1 and errors[0].startswith("error:") and "folder" in errors[0], errors
    assert obj.recording is None and files_under(tmp_path) == before  # nothing started, nothing made
    assert run_line(obj, "record stop") == 1  # not recording: a state, as system stop without a session
    assert run_line(obj, f"record start {tmp_path / 'ok.trader'}") == 0
    assert run_line(obj, f"record start {tmp_path / 'again.trader'}") == 1  # already recording: a state too
    assert run_line(obj, "record stop") == 0


@pytest.fixture
def unwritable(tmp_path: Path) -> Iterator[Path]:
    """A folder this user may not write in (a read-only one; /sys when running as root)."""
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        (folder / "probe").touch()
    except PermissionError:
        yield folder
        folder.chmod(0o700)
        return
    (folder / "probe").unlink()
    folder.chmod(0o700)
    if not _refuses_files(Path("/sys")):  # sysfs takes no new files, from root either
        pytest.skip("no folder here that this user may not write")
    yield Path("/sys")


def _refuses_files(folder: Path) -> bool:
    try:
        (folder / "trader-cli-probe").touch(exist_ok=False)
    except PermissionError:
        return True
    except OSError:
        return False
    (folder / "trader-cli-probe").unlink()
    return False


def test_record_start_refuses_a_folder_it_may_not_write(obj: AppContext, unwritable: Path) -> None:
    assert run_line(obj, f"record start {unwritable / 'rec.trader'}") == 1
    assert "permission denied" in said(obj) and obj.recording is None
    assert not (unwritable / "rec.trader.partial").exists()


def test_record_start_says_it_replaces_an_existing_file(obj: AppContext, tmp_path: Path) -> None:
    script = tmp_path / "rec.trader"
    script.write_text("# an older recording\n")
    assert run_line(obj, f"record start {script}") == 0
    assert "replacing the file there" in said(obj)
    assert script.read_text() == "# an older recording\n"  # replaced only when the recording is written


def test_a_file_being_recorded_is_not_recorded_twice(obj: AppContext, tmp_path: Path) -> None:
    script = tmp_path / "rec.trader"
    assert run_line(obj, f"record start {script}") == 0
    other = make_context(renderer=Renderer(out=io.StringIO(), err=io.StringIO(), width=200))
    assert run_line(other, f"record start {script}") == 1
    assert "being recorded by another trader-cli" in said(other) and other.recording is None
    assert run_line(obj, "record stop") == 0 and script.exists()


# -- the lines reach disk as they come --------------------------------------------------------------


def test_the_lines_are_on_disk_as_they_are_recorded(obj: AppContext, tmp_path: Path) -> None:
    obj.interactive = True
    script = tmp_path / "rec.trader"
    journal = tmp_path / "rec.trader.partial"
    for line in (f"record start {script}", "system start --paused", "time advance 30m", "add symbol TSLA"):
        assert run_line(obj, line) == 0, line
        assert journal.exists(), line
    kept = body(journal)
    assert kept == [START, "time advance 30m", "add symbol TSLA"] and not script.exists()
    assert run_line(obj, "record stop") == 0
    assert body(script) == kept and not journal.exists()


def test_the_exit_question_names_the_recording(obj: AppContext, tmp_path: Path) -> None:
    assert run_line(obj, "system start --paused") == 0
    assert run_line(obj, f"record start {tmp_path / 'rec.trader'}") == 0
    question = exit_question(obj) or ""
    assert f"save the recording to {tmp_path / 'rec.trader'}" in question and question.endswith("[y/N] ")


def test_exit_in_a_script_that_cannot_save_fails_and_says_where_the_lines_are(obj: AppContext, tmp_path: Path) -> None:
    script = tmp_path / "rec.trader"
    for line in (f"record start {script}", "system start --paused", "time advance 5m"):
        assert run_line(obj, line) == 0, line
    script.mkdir()  # the file's place taken by a folder: it cannot be written
    assert run_line(obj, "exit") == 1
    journal = tmp_path / "rec.trader.partial"
    assert "the recording was not saved" in said(obj) and str(journal) in said(obj)
    assert body(journal)[-1] == "time advance 5m" and obj.recording is not None


# -- the end of a script run writes it --------------------------------------------------------------


def _trader_cli(args: list[str], tmp_path: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TRADER_CLI), "-q", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=SLOW,
        cwd=tmp_path,
        env=shell_env(tmp_path),
    )


RECORDED = ["system start --paused", "record start {script}", "time advance 30m", "add symbol TSLA"]


@pytest.mark.parametrize("how", ["exit at the end of stdin", "run FILE", "run FILE with a failing line", "exec"])
def test_the_end_of_a_script_run_saves_the_recording(tmp_path: Path, how: str) -> None:
    script = tmp_path / "rec.trader"
    lines = [line.format(script=script) for line in RECORDED]
    commands = tmp_path / "session.trader"
    code = 0
    if how == "exit at the end of stdin":
        res = _trader_cli([], tmp_path, stdin="\n".join([*lines, "exit"]) + "\n")
    elif how == "exec":
        res = _trader_cli(["exec", *lines], tmp_path)
    else:
        failing = ["add symbol NOPE"] if how.endswith("failing line") else []
        code = 1 if failing else 0
        commands.write_text("\n".join([*lines, *failing]) + "\n")
        res = _trader_cli(["run", str(commands)], tmp_path)
    assert res.returncode == code, res.stderr
    assert f"recording saved to {script} (3 command(s))" in res.stderr
    assert body(script) == [START, "time advance 30m", "add symbol TSLA"]
    assert not (tmp_path / "rec.trader.partial").exists()


def test_the_end_of_stdin_saves_the_recording(tmp_path: Path) -> None:
    script = tmp_path / "rec.trader"
    res = _trader_cli([], tmp_path, stdin="\n".join(line.format(script=script) for line in RECORDED) + "\n")
    assert res.returncode == 0, res.stderr
    assert f"recording saved to {script}" in res.stderr and body(script)[-1] == "add symbol TSLA"


# -- the shell: exit, quit, Ctrl-D, kill -9 ---------------------------------------------------------


def _record(repl: Repl) -> None:
    run(repl, "system start --paused", r"started in")
    run(repl, "record start rec.trader", r"recording to")
    run(repl, "time advance 30m", r"advanced 30")


@pytest.mark.parametrize("leave_by", ["exit", "exit --yes", "Ctrl-D"])
def test_leaving_the_shell_saves_the_recording(spawn: Callable[[], Repl], tmp_path: Path, leave_by: str) -> None:  # noqa: F811
    repl = spawn()
    _record(repl)
    repl.child.send("\x04" if leave_by == "Ctrl-D" else leave_by + "\r")
    if leave_by != "exit --yes":
        repl.expect(r"a session is active; stop it, save the recording to rec\.trader and exit\? \[y/N\]")
        repl.child.sendline("y")
    code, text = leave(repl)
    assert code == 0 and "recording saved to rec.trader (2 command(s))" in text, text
    assert body(tmp_path / "rec.trader") == [START, "time advance 30m"]
    assert not (tmp_path / "rec.trader.partial").exists()


@pytest.mark.slow
def test_a_killed_shell_leaves_its_recording_and_the_next_shell_names_it(
    spawn: Callable[[], Repl],  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    repl = spawn()
    _record(repl)
    run(repl, "add symbol TSLA", r"provisioned TSLA")
    repl.child.kill(signal.SIGKILL)
    repl.child.close(force=True)
    script, journal = tmp_path / "rec.trader", tmp_path / "rec.trader.partial"
    assert not script.exists() and body(journal) == [START, "time advance 30m", "add symbol TSLA"]

    named = f"an unfinished recording to {script} is in {journal}"
    repl = spawn()
    assert named in repl.banner and f"mv {journal} {script}" in repl.banner, repl.banner
    out = run(repl, "record start rec.trader", r"error:")
    assert "unfinished recording" in out and "then record start again" in out
    repl.child.sendline("exit")
    assert leave(repl)[0] == 0 and body(journal)[-1] == "add symbol TSLA"  # nothing went over it

    replayed = _trader_cli(["run", str(journal)], tmp_path)  # the journal is a script run replays
    assert replayed.returncode == 0, replayed.stderr
    journal.rename(script)
    assert named not in spawn().banner  # kept: no longer named
