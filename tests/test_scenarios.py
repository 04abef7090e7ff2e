"""The five reference scenarios end to end: ``examples/scenarios.trader`` and
``examples/upgrade.trader`` run by the real ``trader-cli`` binary, checked through the session
export they write (validated against ``session schema``) and the JSON results they print."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parent.parent
TRADER_CLI = ROOT / ".venv" / "bin" / "trader-cli"
EXAMPLES = ROOT / "examples"
SCENARIOS = EXAMPLES / "scenarios.trader"
UPGRADE = EXAMPLES / "upgrade.trader"
CONFIG = EXAMPLES / "scenarios.json"
TIMEOUT = 120  # a whole script, on a loaded machine
ENV_VARS = ("TRADER_CLI_CONFIG", "TRADER_CLI_DATA_DIR", "TRADER_CLI_OUTPUT", "TRADER_CLI_HISTORY")


def cli(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run ``trader-cli ARGS`` from the project root with a fresh HOME; capture both streams."""
    full = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    full.update(HOME=str(tmp_path / "home"), XDG_STATE_HOME=str(tmp_path / "home" / "state"), **env)
    return subprocess.run([str(TRADER_CLI), *args], env=full, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)


def json_documents(text: str) -> list[Any]:
    """Every JSON document in ``text``, in order; lines that are not JSON (tables, messages) are
    skipped."""
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    i = 0
    while i < len(text):
        if text[i] in "{[":
            try:
                doc, i = decoder.raw_decode(text, i)
            except json.JSONDecodeError:
                pass
            else:
                docs.append(doc)
                continue
        nl = text.find("\n", i)
        i = len(text) if nl < 0 else nl + 1
    return docs


def additions(docs: list[Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The ``add …`` results among the documents, by (operation, symbol)."""
    return {
        (d["requirements"]["operation"], d["requirements"]["symbol"]): d
        for d in docs
        if isinstance(d, dict) and "requirements" in d
    }


@pytest.fixture(scope="module")
def export_schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The JSON Schema of the session export, as ``trader-cli session schema`` prints it."""
    proc = cli(tmp_path_factory.mktemp("schema"), "session", "schema", "--output", "json")
    assert proc.returncode == 0, proc.stderr
    schema = json.loads(proc.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``trader-cli run examples/scenarios.trader examples/scenarios.json OUT.json``, run once."""
    tmp = tmp_path_factory.mktemp("scenarios")
    out = tmp / "session.json"
    proc = cli(tmp, "run", str(SCENARIOS), str(CONFIG), str(out))
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(out.read_text(encoding="utf-8"))


def test_the_script_runs_cleanly(scenarios: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    proc, export = scenarios
    assert "Traceback" not in proc.stderr and "error" not in proc.stderr
    assert "scenarios.trader:" in proc.stderr and "0 failed" in proc.stderr  # the summary
    assert set(export["symbols"]) == {"AAPL", "RIVN", "TSLA", "MSFT", "NVDA"}
    assert export["session"]["state"] == "paused"
    assert export["session"]["current_time"] == "2024-12-02T16:30:00Z"  # 09:30 + 90 + 15 + 15 minutes


def test_the_export_validates_against_session_schema(
    scenarios: tuple[subprocess.CompletedProcess[str], dict[str, Any]], export_schema: dict[str, Any]
) -> None:
    jsonschema.validate(scenarios[1], export_schema)


def test_1_config_symbols_bad_one_dropped_with_its_reason(
    scenarios: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    proc, export = scenarios
    assert "BADTICKER" not in export["symbols"]
    assert "BADTICKER dropped: no bars stored for BADTICKER" in proc.stderr
    start = next(d for d in json_documents(proc.stdout) if isinstance(d, dict) and "validation" in d)
    checks = {v["symbol"]: v for v in start["validation"]}
    assert not checks["BADTICKER"]["can_proceed"] and "no bars stored" in checks["BADTICKER"]["reason"]
    assert checks["AAPL"]["can_proceed"] and checks["RIVN"]["can_proceed"]
    assert [p["symbol"] for p in start["provisioning"]] == ["AAPL", "RIVN"]
    for sym in ("AAPL", "RIVN"):
        assert export["symbols"][sym]["metadata"] == {
            "meets_session_config_requirements": True,
            "added_by": "config",
            "auto_provisioned": False,
            "added_at": None,
            "upgraded_from_adhoc": False,
            "plugin": None,
            "rule": None,
        }
        assert list(export["symbols"][sym]["intervals"]) == ["1m", "5m", "15m"]
        assert list(export["symbols"][sym]["indicators"]) == ["sma_20_5m"]


def test_2_mid_session_full_add(scenarios: tuple[subprocess.CompletedProcess[str], dict[str, Any]]) -> None:
    proc, export = scenarios
    tsla = export["symbols"]["TSLA"]
    assert tsla["metadata"] == {
        "meets_session_config_requirements": True,
        "added_by": "strategy",
        "auto_provisioned": False,
        "added_at": "2024-12-02T16:00:00Z",
        "upgraded_from_adhoc": False,
        "plugin": None,
        "rule": None,
    }  # 11:00 New York
    assert list(tsla["intervals"]) == ["1m", "5m", "15m"]
    assert tsla["intervals"]["1m"]["historical_bars"] > 0  # the config's trailing days
    assert list(tsla["indicators"]) == ["sma_20_5m"]
    added = additions(json_documents(proc.stdout))[("symbol", "TSLA")]
    assert added["requirements"]["outcome"] == "create"
    assert all(step["status"] == "ok" for step in added["report"]["steps"])


def test_3_adhoc_indicator_auto_provisions_lightweight(
    scenarios: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    proc, export = scenarios
    msft = export["symbols"]["MSFT"]
    assert msft["metadata"] == {
        "meets_session_config_requirements": False,
        "added_by": "adhoc",
        "auto_provisioned": True,
        "added_at": "2024-12-02T16:15:00Z",
        "upgraded_from_adhoc": False,
        "plugin": None,
        "rule": None,
    }
    assert list(msft["intervals"]) == ["1m", "5m"]  # what sma 20 on 5m needs, no 15m
    assert list(msft["indicators"]) == ["sma_20_5m"]
    assert msft["indicators"]["sma_20_5m"]["ready"]  # warmed up from history
    added = additions(json_documents(proc.stdout))[("indicator", "MSFT")]
    assert added["requirements"]["outcome"] == "create"


def test_4_upgrade_adhoc_bar_then_full_symbol(
    scenarios: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    proc, export = scenarios
    found = additions(json_documents(proc.stdout))
    lightweight = found[("bar", "NVDA")]["requirements"]
    assert lightweight["outcome"] == "create" and lightweight["required_intervals"] == ["1m", "15m"]
    assert lightweight["metadata"]["meets_session_config_requirements"] is False
    assert found[("symbol", "NVDA")]["requirements"]["outcome"] == "upgrade"
    nvda = export["symbols"]["NVDA"]
    assert nvda["metadata"] == {
        "meets_session_config_requirements": True,
        "added_by": "strategy",
        "auto_provisioned": True,
        "added_at": "2024-12-02T16:30:00Z",
        "upgraded_from_adhoc": True,
        "plugin": None,
        "rule": None,
    }
    assert list(nvda["intervals"]) == ["1m", "5m", "15m"]
    assert list(nvda["indicators"]) == ["sma_20_5m"]


def test_5_duplicate_full_symbol_succeeds_and_changes_nothing(
    scenarios: tuple[subprocess.CompletedProcess[str], dict[str, Any]],
) -> None:
    proc, export = scenarios
    docs = json_documents(proc.stdout)
    dup = additions(docs)[("symbol", "AAPL")]
    assert dup["report"] is None and dup["requirements"]["outcome"] == "duplicate"
    assert "already loaded in full" in dup["message"] and "nothing changed" in dup["message"]
    # `data symbol AAPL -o json` right before and right after the duplicate add
    snapshots = [d for d in docs if isinstance(d, dict) and d.get("symbol") == "AAPL" and "metadata" in d]
    assert len(snapshots) == 2
    assert snapshots[0] == snapshots[1]
    exported = export["symbols"]["AAPL"]
    assert exported["metadata"]["added_by"] == "config"
    meta = snapshots[1]["metadata"]
    assert {k: v for k, v in exported["metadata"].items() if k != "added_at"} == {
        k: v for k, v in meta.items() if k != "added_at"
    }
    assert [i["key"] for i in snapshots[1]["indicators"]] == list(exported["indicators"])


def test_the_upgrade_script_upgrades_tsla(tmp_path: Path, export_schema: dict[str, Any]) -> None:
    out = tmp_path / "upgrade.json"
    proc = cli(tmp_path, "run", str(UPGRADE), str(CONFIG), str(out))
    assert proc.returncode == 0, proc.stderr
    found = additions(json_documents(proc.stdout))
    assert found[("bar", "TSLA")]["requirements"]["outcome"] == "create"
    assert found[("symbol", "TSLA")]["requirements"]["outcome"] == "upgrade"
    export = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(export, export_schema)
    tsla = export["symbols"]["TSLA"]
    meta = tsla["metadata"]
    assert meta["upgraded_from_adhoc"] is True and meta["added_by"] == "strategy"
    assert meta["meets_session_config_requirements"] is True and meta["auto_provisioned"] is True
    assert meta["added_at"] is not None
    assert list(tsla["intervals"]) == ["1m", "5m", "15m"] and list(tsla["indicators"]) == ["sma_20_5m"]
    assert set(export["symbols"]) == {"AAPL", "RIVN", "TSLA"}


def test_the_scenarios_script_prints_only_json_when_asked(tmp_path: Path) -> None:
    """With TRADER_CLI_OUTPUT=json every result of the script is a JSON document on stdout."""
    out = tmp_path / "session.json"
    proc = cli(tmp_path, "run", str(SCENARIOS), str(CONFIG), str(out), TRADER_CLI_OUTPUT="json")
    assert proc.returncode == 0, proc.stderr
    decoder = json.JSONDecoder()
    text, i, docs = proc.stdout, 0, 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i == len(text):
            break
        _, i = decoder.raw_decode(text, i)  # raises if anything but JSON is on stdout
        docs += 1
    commands = [
        ln
        for ln in SCENARIOS.read_text(encoding="utf-8").splitlines()
        if ln.strip() and not ln.lstrip().startswith("#")
    ]
    assert docs == len(commands) == 13  # every command of the script prints one result


def test_every_config_symbol_bad_fails_with_each_reason_and_the_line(tmp_path: Path) -> None:
    config = json.loads(CONFIG.read_text(encoding="utf-8"))
    config["data_dir"] = str(ROOT / "data")
    config["session_data_config"]["symbols"] = ["BADTICKER", "NOPE"]
    (tmp_path / "bad.json").write_text(json.dumps(config), encoding="utf-8")
    script = tmp_path / "allbad.trader"
    script.write_text(
        "# every config symbol is bad\n\nsystem start --config $1 --paused\ndata session\n", encoding="utf-8"
    )
    out = tmp_path / "never.json"
    proc = cli(tmp_path, "run", str(script), str(tmp_path / "bad.json"), str(out))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "allbad.trader:3" in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    assert "did not start" in errors[0]
    for sym in ("BADTICKER", "NOPE"):
        assert f"{sym}: no bars stored for {sym}" in errors[0]
    assert not out.exists()
