"""The README's examples are tested: every command of its shell transcripts runs and its
``--output json`` validates against the command's schema; every command line of its bash blocks
runs as shown (exit 0, JSON outputs valid); every command of its commands table exists."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.test_app import Shell
from trader_cli.commands.schemas import OUTPUTS, output_schema
from trader_cli.render import OutputMode

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PROMPT = re.compile(r"^(?:trader>|backtest·\S+ \S+ \S+ >) (.+)$")


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def transcript_commands() -> list[str]:
    return [m.group(1) for b in blocks("text") for line in b.splitlines() if (m := PROMPT.match(line))]


def bash_lines() -> list[str]:
    """Command lines of the bash blocks that run without a terminal and finish quickly (the bare
    ./start_cli.sh opens the shell; ./start_cli.sh test is this suite; bench takes minutes)."""
    out = []
    for b in blocks("bash"):
        for line in b.splitlines():
            cmd = line.split("  #")[0].strip()
            skipped = cmd == "./start_cli.sh" or cmd.startswith(("./start_cli.sh test", ".venv/bin/python bench"))
            if not cmd or skipped:
                continue
            if cmd.startswith(("./start_cli.sh", ".venv/bin/trader-cli", "printf")):
                out.append(cmd)
    return out


def schema_key(command: str) -> str | None:
    words = shlex.split(command)
    for n in (3, 2, 1):
        key = " ".join(words[:n])
        if key in OUTPUTS:
            return key
    return None


def validate(command: str, doc: Any) -> None:
    key = schema_key(command)
    assert key is not None, f"no schema for the README's '{command}'"
    jsonschema.validate(doc, output_schema(key))


def test_the_readme_has_examples_to_test() -> None:
    assert len(transcript_commands()) >= 5 and len(bash_lines()) >= 3


def test_every_transcript_command_runs_and_its_json_is_valid() -> None:
    sh = Shell(ROOT / "data")
    sh.obj.data_dir_option = None
    sh.obj.config_path = str(ROOT / "configs" / "default.json")
    sh.obj.output = OutputMode.json
    try:
        for command in transcript_commands():
            res = sh(command)
            assert res.code == 0, (command, res.err)
            validate(command, json.loads(res.out))
    finally:
        sh.obj.coordinator.shutdown()


def _documents(text: str) -> list[Any]:
    decoder, docs, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        doc, i = decoder.raw_decode(text, i)
        docs.append(doc)
    return docs


@pytest.mark.parametrize("line", bash_lines())
def test_every_bash_example_runs_as_shown(line: str, tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_STATE_HOME": str(tmp_path / "state"), "CI": "1"}
    proc = subprocess.run(["bash", "-c", line], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    if " -o json exec " in line:
        commands = shlex.split(line.split(" exec ", 1)[1])
        docs = _documents(proc.stdout)
        assert len(docs) == len(commands)
        for command, doc in zip(commands, docs, strict=True):
            validate(command, doc)


def test_every_command_of_the_commands_table_exists() -> None:
    sh = Shell(ROOT / "data")
    table = README.split("## Commands", 1)[1].strip().split("\n\n", 1)[0]
    firsts = re.findall(r"^\| `([a-z][a-z ]+?)(?: [A-Z\[-]|`)", table, flags=re.M)
    assert len(firsts) >= 12
    for command in firsts:
        res = sh(f"help {command.strip()}")
        assert res.code == 0, (command, res.err)
