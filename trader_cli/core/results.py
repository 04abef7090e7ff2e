"""Result values that commands return and ``render/`` shows as a table, JSON or CSV."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from trader_cli.core.errors import few
from trader_cli.core.lifecycle import SessionState

if TYPE_CHECKING:
    from trader_cli.core.provisioning.executor import ProvisioningReport
    from trader_cli.core.provisioning.requirements import ProvisioningRequirements
    from trader_cli.core.provisioning.validation import SymbolValidationResult


class Message(BaseModel):
    """A one-line outcome ("AAPL is already loaded in full; nothing changed")."""

    kind: str = "message"
    text: str
    level: Literal["info", "ok", "warn"] = "info"


ClockAction = Literal["pause", "resume", "stop", "speed", "wait", "advance", "until"]
ExportFormat = Literal["json", "csv"]


class ClockReport(Message):
    """What a clock command did (start aside: pause, resume, stop, speed, wait, time advance,
    time until) and where the session is after it; shown as its line, its JSON the fields."""

    kind: str = "clock"
    action: ClockAction
    state: SessionState
    time: dt.datetime | None  # the simulated time after it, New York
    trading_day: dt.date | None
    minutes: int | None = None  # trading minutes stepped (advance, until)
    interrupted: bool = False  # Ctrl-C stopped it early
    speed: float
    minutes_replayed: int
    bars_replayed: int


class ExportReport(Message):
    """What ``session export`` wrote."""

    kind: str = "export"
    path: str
    format: ExportFormat
    with_bars: bool
    symbols: int


class Tabular(BaseModel):
    """Rows under named columns; JSON output is the list of row objects."""

    kind: Literal["table"] = "table"
    title: str = ""
    columns: list[str]
    rows: list[list[Any]] = Field(default_factory=list)
    caption: str | None = None
    show_header: bool = True  # key/value tables read better without one
    # A result that reports a failure (config check's problems): shown, then this one error
    # line, and the command exits 1 ("" for a success).
    failed_text: str = ""
    interrupted: bool = False  # Ctrl-C stopped the command early (what it shows is what it got to)

    def records(self) -> list[dict[str, Any]]:
        """Rows as objects keyed by column name."""
        return [dict(zip(self.columns, r, strict=False)) for r in self.rows]


class Document(BaseModel):
    """Free-form data (a JSON-able object) with a title, e.g. a JSON Schema."""

    kind: Literal["document"] = "document"
    title: str = ""
    data: Any


class ScriptSummary(BaseModel):
    """What a script run did; its exit code is the run's (0 ok, 1 failed, 2 usage)."""

    kind: Literal["script"] = "script"
    script: str
    commands_run: int
    failed: int
    failed_lines: list[str] = Field(default_factory=list)
    seconds: float
    exit_code: int = 0

    def line(self) -> str:
        """One summary line, e.g. 'demo.trader: 12 command(s) run, 1 failed (line 7), 0.41 s'."""
        where = f" ({', '.join(self.failed_lines)})" if self.failed_lines else ""
        return f"{self.script}: {self.commands_run} command(s) run, {self.failed} failed{where}, {self.seconds:.2f} s"


@dataclass
class AdditionResult:
    """The outcome of one addition: the plan, the step report (None for a duplicate)."""

    requirements: ProvisioningRequirements
    report: ProvisioningReport | None

    def to_json(self) -> dict[str, Any]:
        """JSON data: the plan and the step report (schema: core/outputs.py AdditionOut)."""
        from trader_cli.core.outputs import AdditionOut

        message = self.requirements.message or (self.report.message if self.report else "")
        return AdditionOut(requirements=self.requirements, report=self.report, message=message).model_dump(mode="json")


@dataclass
class AdditionBatch:
    """Several additions in one command (``add symbol A B C``): each its own addition, in order;
    one that fails is listed with its reason and the others go on."""

    results: list[AdditionResult]
    failures: list[tuple[str, str]]
    recorded_as: str | None = None  # failed in part: the line a recording keeps (what was added)

    @property
    def failed_text(self) -> str:
        """One line naming the failed additions ('' when none failed)."""
        if not self.failures:
            return ""
        done = [r.requirements.symbol for r in self.results]
        went_on = f" (the other {len(done)} were added: {few(done, limit=3)})" if done else " (nothing was added)"
        return f"{len(self.failures)} of {len(done) + len(self.failures)} addition(s) failed{went_on}: " + few(
            (f"{s}: {why}" for s, why in self.failures), limit=3, sep="; "
        )

    def to_json(self) -> dict[str, Any]:
        """JSON data: each addition's plan and report, and the failures (schema: BatchOut)."""
        return {
            "additions": [r.to_json() for r in self.results],
            "failed": [{"symbol": s, "reason": why} for s, why in self.failures],
        }


@dataclass
class StartResult:
    """What ``system start`` did: validation of every config symbol and each one's provisioning."""

    validations: list[SymbolValidationResult]
    reports: list[ProvisioningReport]
    seconds: float
    # symbol -> the backtest's trading days the source has no bars for (those days replay empty)
    days_without_bars: dict[str, list[dt.date]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON data: validation of every config symbol, each provisioning report, the days
        without bars (schema: core/outputs.py StartOut)."""
        from trader_cli.core.outputs import StartOut

        out = StartOut(
            validation=self.validations,
            provisioning=self.reports,
            days_without_bars=self.days_without_bars,
            seconds=round(self.seconds, 4),
        )
        return out.model_dump(mode="json")

    def gaps_text(self) -> str:
        """One line naming the symbols with backtest days without bars ('' when none)."""
        if not self.days_without_bars:
            return ""
        return f"no bars on some backtest days for {len(self.days_without_bars)} symbol(s): " + few(
            (f"{s} ({few([d.isoformat() for d in ds], limit=3)})" for s, ds in sorted(self.days_without_bars.items())),
            limit=3,
            sep="; ",
        )

    @staticmethod
    def nothing_started(validations: list[SymbolValidationResult]) -> str:
        """Why no session started: no symbols, or every one failed (a few named)."""
        if not validations:
            return (
                "the config lists no symbols; the session did not start "
                '(add some to session_data_config.symbols, e.g. "symbols": ["AAPL"])'
            )
        return f"every config symbol failed validation ({len(validations)}); the session did not start: " + few(
            (f"{v.symbol}: {v.reason}" for v in validations), limit=3, sep="; "
        )
