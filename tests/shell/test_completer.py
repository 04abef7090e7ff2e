"""The completer's values against a real started session (the default config: AAPL and RIVN with
sma_20_5m, on the bundled sample store of 12 symbols), through prompt_toolkit's Document."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from trader_cli.app import make_context
from trader_cli.dispatch import run_line
from trader_cli.render import Renderer
from trader_cli.shell.completer import CommandCompleter

from .conftest import DEFAULT_CONFIG, ROOT


def session_completer(*lines: str) -> Iterator[CommandCompleter]:
    """A completer on a paused session of the default config after ``lines`` ran (each must
    succeed); the session is shut down after."""
    out = io.StringIO()
    obj = make_context(renderer=Renderer(out=out, err=out, width=120), config_path=str(DEFAULT_CONFIG))
    obj.data_dir_option = str(ROOT / "data")
    try:
        for line in ("system start --paused", *lines):
            assert run_line(obj, line) == 0, out.getvalue()
        yield CommandCompleter(obj)
    finally:
        if obj.has_coordinator:
            obj.coordinator.shutdown()


@pytest.fixture(scope="module")
def completer() -> Iterator[CommandCompleter]:
    """A completer on a paused session that also holds rsi_14_5m on AAPL."""
    yield from session_completer("add indicator AAPL rsi 14 --interval 5m")


def offered(completer: CommandCompleter, text: str) -> list[str]:
    """The completion texts offered with the cursor at the end of ``text``."""
    doc = Document(text, len(text))
    return [c.text for c in completer.get_completions(doc, CompleteEvent(completion_requested=True))]


def test_add_symbol_offers_the_store_and_the_session(completer: CommandCompleter) -> None:
    got = offered(completer, "add symbol ")
    assert {"AAPL", "RIVN", "TSLA", "MSFT"} <= set(got)


def test_add_symbol_offers_each_ticker_once(completer: CommandCompleter) -> None:
    got = offered(completer, "add symbol TSLA aapl ")
    assert "MSFT" in got and "TSLA" not in got and "AAPL" not in got
    assert offered(completer, "add symbol TSLA ms") == ["MSFT"]


def test_remove_symbol_offers_only_the_session_symbols(completer: CommandCompleter) -> None:
    assert offered(completer, "remove symbol ") == ["AAPL", "RIVN"]
    assert offered(completer, "remove symbol r") == ["RIVN"]


def test_session_data_commands_offer_only_the_session_symbols(completer: CommandCompleter) -> None:
    for command in ("data symbol ", "data bars ", "data quality ", "data chart "):
        assert offered(completer, command) == ["AAPL", "RIVN"], command


def test_chart_with_offers_the_session_indicator_keys(completer: CommandCompleter) -> None:
    assert offered(completer, "data chart AAPL 5m --with ") == ["rsi_14_5m", "sma_20_5m"]
    assert offered(completer, "data chart RIVN -w ") == ["sma_20_5m"]  # RIVN holds only the config's
    assert offered(completer, "data chart NOPE --with ") == ["rsi_14_5m", "sma_20_5m"]  # not loaded: all


def test_chart_with_completes_the_key_after_a_comma(completer: CommandCompleter) -> None:
    doc = Document("data chart AAPL --with sma_20_5m,r")
    got = list(completer.get_completions(doc, CompleteEvent(completion_requested=True)))
    assert [(c.text, c.start_position) for c in got] == [("rsi_14_5m", -1)]


def test_macd_parameters_are_offered_one_position_each(completer: CommandCompleter) -> None:
    assert offered(completer, "add indicator AAPL macd ") == ["12"]  # fast
    assert offered(completer, "add indicator AAPL macd 10 ") == ["26"]  # slow
    assert offered(completer, "add indicator AAPL macd 10 30 ") == ["9"]  # signal
    assert offered(completer, "add indicator AAPL macd 10 30 7 ") == []  # no fourth parameter
    assert offered(completer, "add indicator AAPL macd 10 --interval 5m ") == ["26"]  # options skipped


def test_plan_add_indicator_offers_the_parameter_defaults(completer: CommandCompleter) -> None:
    assert offered(completer, "plan add indicator AAPL macd ") == ["12"]
    assert offered(completer, "plan add indicator AAPL sma ") == ["20"]


def test_a_command_with_all_its_arguments_offers_no_more_values(completer: CommandCompleter) -> None:
    assert offered(completer, "remove symbol AAPL ") == []
    assert offered(completer, "add bar AAPL 15m ") == []


def test_watch_offers_only_what_it_re_runs(completer: CommandCompleter) -> None:
    """watch re-runs read-only commands: after ``watch 2`` the commands that change things are
    not offered (watch would refuse them), and a group offers only its read-only commands."""
    top = offered(completer, "watch 2 ")
    assert {"positions", "orders", "account", "report", "data", "system"} <= set(top), top
    assert not {"add", "exit", "exec", "demo", "order", "remove", "record"} & set(top), top
    assert offered(completer, "watch 2 system ") == ["status"]
    assert "session" in offered(completer, "watch 2 data ") and "import" not in offered(completer, "watch 2 data ")
    assert offered(completer, "watch 2 data symbol ") == ["AAPL", "RIVN"]  # its arguments as usual
