"""``sweep CONFIG --strategy FILE --param …`` / ``sweep show DIR`` / ``sweep best DIR``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from trader_cli.commands.common import OutputOpt, app_ctx


def register(app: typer.Typer) -> None:
    """Add ``sweep`` to the root app."""

    @app.command("sweep")
    def sweep(
        ctx: typer.Context,
        target: Annotated[
            list[str],
            typer.Argument(help="CONFIG to sweep, or: show DIR (the leaderboard), best DIR (its best config)."),
        ],
        strategy: Annotated[str | None, typer.Option("--strategy", help="FILE[:CLASS] of the strategy swept.")] = None,
        param: Annotated[
            list[str] | None,
            typer.Option("--param", help="NAME=V1,V2,… or NAME=START:STOP:STEP (once a NAME; repeat for a grid)."),
        ] = None,
        from_: Annotated[str | None, typer.Option("--from", help="First day (default: the config's).")] = None,
        to: Annotated[str | None, typer.Option("--to", help="Last day (default: the config's).")] = None,
        engine: Annotated[
            str, typer.Option("--engine", help="local: a process pool here; dask: a Dask cluster (the sweep extra).")
        ] = "local",
        address: Annotated[str | None, typer.Option("--address", help="Dask scheduler, e.g. tcp://host:8786.")] = None,
        scheduler_file: Annotated[
            str | None, typer.Option("--scheduler-file", help="Dask scheduler file (dask scheduler --scheduler-file).")
        ] = None,
        workers: Annotated[int | None, typer.Option("--workers", min=1, help="Processes (default: cores).")] = None,
        metric: Annotated[
            str | None,
            typer.Option(
                "--metric", help="Report key to rank by, higher first (default: sharpe; show, best: the sweep's)."
            ),
        ] = None,
        search: Annotated[str, typer.Option("--search", help="grid: every combination; tpe: Optuna's TPE.")] = "grid",
        trials: Annotated[int | None, typer.Option("--trials", min=1, help="Trials of --search tpe.")] = None,
        out: Annotated[
            str, typer.Option("--out", help="Folder of results.jsonl (the same sweep there: resumed).")
        ] = "sweep-out",
        replace: Annotated[
            bool, typer.Option("--replace", help="Start --out over: drop the results there, of any sweep.")
        ] = False,
        top: Annotated[int, typer.Option("--top", min=1, help="Rows of the leaderboard shown.")] = 20,
        output: OutputOpt = None,
    ) -> object:
        """Many backtests of one config over a strategy's parameter grid, in parallel; results
        append to DIR/results.jsonl (a re-run skips what is done; another sweep there is refused). Examples:
        sweep configs/default.json --strategy examples/strategies/ema_cross.py --param fast=5,10 --param slow=20:40:10
        · sweep show sweep-out · sweep best sweep-out"""
        from trader_cli.core.errors import UsageError
        from trader_cli.sweep.driver import check_metric

        obj = app_ctx(ctx)
        if metric is not None:
            check_metric(metric)  # before anything runs: a sweep ranked by nothing is no sweep
        if target[0] in ("show", "best"):
            if len(target) != 2:
                raise UsageError(f"sweep {target[0]} takes one DIR, e.g. sweep {target[0]} sweep-out")
            folder = Path(target[1])
            if target[0] == "show":
                return _show(folder, metric, top, obj.renderer)
            return _best(folder, metric, obj.renderer)
        if len(target) != 1:
            raise UsageError("sweep takes one CONFIG (or: sweep show DIR, sweep best DIR)")
        if strategy is None:
            raise UsageError("sweep needs --strategy FILE[:CLASS] (e.g. examples/strategies/ema_cross.py)")
        if search not in ("grid", "tpe"):
            raise UsageError(f"--search {search}: use grid (every combination) or tpe (Optuna's TPE, with --trials N)")
        if trials is not None and search != "tpe":
            raise UsageError("--trials is for --search tpe (a grid runs every combination)")
        if engine not in ("local", "dask"):
            raise UsageError(f"--engine {engine}: use local (a process pool here) or dask (a Dask cluster)")
        if engine == "local" and (address or scheduler_file):
            raise UsageError("--address and --scheduler-file are for --engine dask")
        from trader_cli.sweep.driver import build_specs, check_folder, run_sweep, sweep_meta
        from trader_cli.sweep.engines import Engine, LocalEngine

        metric = metric or "sharpe"
        config = Path(target[0])
        obj.config_path = str(config)
        from trader_cli.core.config import data_dir_text
        from trader_cli.core.objectstore import is_uri

        given = data_dir_text(obj.data_dir_option, obj.config(), str(config))
        where: Path | str = given if is_uri(given) else obj.data_dir()  # workers mirror an s3:// store themselves
        specs = build_specs(config, where, strategy, list(param or []), from_, to)
        tasks = (trials or min(len(specs), 20)) if search == "tpe" else len(specs)
        meta = sweep_meta(specs, list(param or []), metric, engine, search, tasks)
        folder = Path(out)
        check_folder(folder, meta, replace)  # before an engine starts: another sweep's folder changes nothing
        runner: Engine
        if engine == "dask":
            from trader_cli.sweep.dask_engine import DaskEngine

            runner = DaskEngine(address, scheduler_file, workers)
        else:
            runner = LocalEngine(workers)
        board = _LiveBoard(obj.renderer, metric, tasks)
        interrupted = False
        ran = skipped = repeated = 0
        try:
            with board:
                if search == "tpe":
                    from trader_cli.sweep.driver import run_tpe

                    grid = list(param or [])
                    ran, skipped, repeated = run_tpe(
                        specs, grid, tasks, metric, folder, runner, meta, board.add, replace=replace
                    )
                else:
                    ran, skipped = run_sweep(specs, folder, runner, meta, board.add, replace=replace)
        except KeyboardInterrupt:  # the pending tasks were cancelled; what finished is in results.jsonl
            interrupted = True
            ran = board.count
        finally:
            runner.close()
        res = _show(folder, metric, top, obj.renderer)
        head = "interrupted (Ctrl-C): the pending tasks were cancelled; " if interrupted else ""
        tail = "; re-run the same sweep to finish it" if interrupted else ""
        again = f", {repeated} suggested again by TPE (told its result, not run twice)" if repeated else ""
        res.caption = (
            f"{head}{ran} run, {skipped} already in {folder / 'results.jsonl'}{again}; {res.caption or ''}{tail}"
        )
        res.failed_text = _all_failed(folder, metric)
        res.interrupted = interrupted
        return res


class _LiveBoard:
    """While results arrive in a terminal: the top rows so far and a count, redrawn in place
    (rich's Live, transient: the final leaderboard replaces it). Scripts and pipes see nothing."""

    def __init__(self, renderer: Any, metric: str, total: int) -> None:
        self.console = renderer.err  # stderr, as the progress bars
        self.metric, self.total, self.count = metric, total, 0
        self.rows: list[dict[str, Any]] = []
        self.live: Any = None

    def __enter__(self) -> _LiveBoard:
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self._table(), console=self.console, transient=True, refresh_per_second=4)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def add(self, row: dict[str, Any], done: int, total: int) -> None:
        """One result arrived."""
        from trader_cli.sweep.driver import leaderboard

        self.count, self.total = done, total
        self.rows = leaderboard([*self.rows, row], self.metric)[:5]
        if self.live is not None:
            self.live.update(self._table())

    def _table(self) -> Any:
        from rich.table import Table

        t = Table(title=f"sweep: {self.count} of {self.total} done, best by {self.metric}")
        figures = _figures(self.metric, ("total_return",))
        for col in ("params", *figures, "error"):
            t.add_column(col)
        for r in self.rows:
            rep = r.get("report") or {}
            params = " ".join(f"{k}={v}" for k, v in r["params"].items())
            t.add_row(params, *(f"{rep.get(c)}" for c in figures), str(r.get("error") or ""))
        return t


def _figures(metric: str, others: tuple[str, ...]) -> list[str]:
    """The report columns of a leaderboard: the metric ranked by, then the others (each once)."""
    return [metric, *(c for c in others if c != metric)]


def _show(folder: Path, metric: str | None, top: int, renderer: Any) -> Any:
    from trader_cli.core.results import Tabular
    from trader_cli.sweep.driver import board, ranked_value
    from trader_cli.sweep.records import malformed_note

    found = board(folder, metric)
    rows, meta = found.rows, found.meta
    if found.malformed:
        renderer.note(malformed_note(folder, found.malformed))
    key = metric or meta["metric"]
    figures = _figures(key, ("total_return", "max_drawdown", "round_trips"))
    failed = sum(1 for r in rows if r.get("error"))
    unranked = sum(1 for r in rows if not r.get("error") and ranked_value(r, key) is None)
    table = []
    for rank, r in enumerate(rows[:top], start=1):  # ranked rows come first: a rank is their place
        rep = r.get("report") or {}
        params = " ".join(f"{k}={v}" for k, v in r["params"].items())
        place = rank if ranked_value(r, key) is not None else None  # failed, or no value to rank by
        table.append([place, params, *(rep.get(c) for c in figures), r.get("seconds"), r.get("error"), r["spec_hash"]])
    left_out = f"; {found.foreign} row(s) of another sweep left out" if found.foreign else ""
    no_value = f", {unranked} without a {key} value (not ranked)" if unranked else ""
    return Tabular(
        title=f"sweep {folder} by {key}",
        columns=["rank", "params", *figures, "seconds", "error", "spec_hash"],
        rows=table,
        caption=f"{len(rows)} result(s), {failed} failed{no_value}, of {meta.get('tasks', '?')} task(s){left_out}",
    )


def _all_failed(folder: Path, metric: str) -> str:
    """The one error line of a sweep whose every task failed ('' when one ran to its end): such
    a sweep is no result, and a script must see it fail."""
    from trader_cli.sweep.driver import board

    rows = board(folder, metric).rows
    if not rows or any(r.get("error") is None and r.get("report") for r in rows):
        return ""
    first = rows[0]
    params = " ".join(f"{k}={v}" for k, v in first["params"].items()) or "(no params)"
    return (
        f"every task of the sweep failed ({len(rows)} of {len(rows)}); {params}: {first.get('error')} "
        "(fix that, then re-run with --replace)"
    )


def _best(folder: Path, metric: str | None, renderer: Any) -> Any:
    from trader_cli.core.results import Document
    from trader_cli.sweep.driver import best_config, board
    from trader_cli.sweep.records import malformed_note

    found = board(folder, metric)
    if found.malformed:
        renderer.note(malformed_note(folder, found.malformed))
    return Document(
        title=f"the best config of {folder} (save it, then: system start --config FILE)",
        data=best_config(found),
    )
