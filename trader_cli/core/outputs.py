"""The JSON shapes of the results that are not reports (``system start``, the additions, the
store listing, imports, the commands table): pydantic models, so their JSON Schema is generated
and outputs are checked against it (``schema COMMAND`` prints it)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from trader_cli.core.provisioning.executor import ProvisioningReport
from trader_cli.core.provisioning.requirements import ProvisioningRequirements
from trader_cli.core.provisioning.validation import SymbolValidationResult


class StartOut(BaseModel):
    """``system start``: every config symbol's validation, each provisioning report, the
    backtest days without bars per symbol, and the seconds it took."""

    validation: list[SymbolValidationResult]
    provisioning: list[ProvisioningReport]
    days_without_bars: dict[str, list[dt.date]]
    seconds: float


class AdditionOut(BaseModel):
    """One addition: its plan (requirements and validation), the step report (null for a
    duplicate, which changes nothing) and its message."""

    requirements: ProvisioningRequirements
    report: ProvisioningReport | None
    message: str


class FailedAddition(BaseModel):
    """An addition of several that failed, and why."""

    symbol: str
    reason: str


class BatchOut(BaseModel):
    """``add symbol A B C``: each addition, then the ones that failed."""

    additions: list[AdditionOut]
    failed: list[FailedAddition]


class StoreRow(BaseModel):
    """``data list``: one stored file (symbol and interval); first/last are bar starts in UTC."""

    symbol: str
    interval: str
    bars: int
    first: str | None
    last: str | None
    days: int
    source: str
    problem: str | None = None


class ImportRow(BaseModel):
    """``data import``: one symbol imported."""

    symbol: str
    interval: str
    imported: int
    first: str
    last: str
    stored: int
    replaced_days: int
    removed_bars: int
    outside_session: int
    off_session_grid: int


class FetchRow(BaseModel):
    """``data fetch``: one symbol fetched."""

    symbol: str
    interval: str
    missing_days: int
    fetched: int
    empty_days: int
    stored: int
    first: str | None
    last: str | None
    note: str | None = None  # what else became of it: repaired, started over, skipped (damaged), no bars


class CommandRow(BaseModel):
    """``help``: one command and what it does."""

    command: str
    what_it_does: str


class ChartOut(BaseModel):
    """``data chart``: what was charted and where the image went."""

    symbol: str
    interval: str
    bars: int
    fills: int = Field(description="the broker's fills of the symbol marked on the charted bars")
    png: str | None
