"""Peer engines running the same ``ema_cross`` strategy: NautilusTrader, backtrader, vectorbt.

The scripts are ``/work/shared/peers/strategy/*_strategy.py`` (see its README): 5m bars from the
1m bars, EMA(10)/EMA(30) crosses, market buy/sell 100, long only. Each prints one JSON line
(``peer, version, symbols, bars, run_s, bars_per_s, orders, fills, fill_model, peak_rss_mb``);
``run_s`` is the engine run only (nautilus: ``engine.run()``; backtrader: ``cerebro.run()``;
vectorbt: its second, warm pass in the same process, after the numba JIT run).

- ``ensure_env(name)``: the peer's venv in ``~/.cache/trader-cli/peers/NAME`` (system python3,
  3.11–3.13) with its pinned requirements; a ``.pins`` marker records them, so a ready venv costs
  nothing. Returns the venv's python, or None (with a progress line) when it cannot be installed.
- ``peer_data(n)``: ``synth_bars.py`` output for n symbols × 2024-12-02..06 in
  ``bench/out/peer-data-N/`` (``bars.csv`` for ``trader-cli data import``, ``peer/SYM.parquet``),
  built once and reused while its ``.complete`` marker is there.
- ``run_peer(name, n, runs)``: median ``bars_per_s`` / ``run_s`` of ``runs`` processes.

Run alone: ``.venv/bin/python bench/_peers.py --setup`` builds the three venvs; without flags it
runs every peer once on 50 symbols and prints the rows (``--symbols N``, ``--runs R``, names).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _util import PYTHON, SHARED, SYNTH_BARS, Row, median_of, print_rows, progress

STRATEGY_DIR = SHARED / "peers" / "strategy"
ENV_ROOT = Path.home() / ".cache" / "trader-cli" / "peers"
OUT = Path(__file__).resolve().parent / "out"
FIRST, LAST = "2024-12-02", "2024-12-06"
RUN_TIMEOUT_S = 1800  # nautilus' setup alone is ~50 s at 500 symbols


class Peer(TypedDict):
    """How to install and run one peer: its venv, pins, script and how the data dir is passed."""

    venv: Path
    pins: list[str]
    script: Path
    data_env: bool  # True: PEER_DATA=DIR/peer (nautilus); False: --data DIR/peer


_COMMON = ["numpy==2.4.6", "pyarrow==26.0.1"]
PEERS: dict[str, Peer] = {
    "nautilus": Peer(
        venv=ENV_ROOT / "nautilus",
        pins=["nautilus_trader==1.221.0", "pandas==2.3.3", "exchange-calendars==4.13.2", *_COMMON],
        script=STRATEGY_DIR / "nautilus_strategy.py",
        data_env=True,
    ),
    "backtrader": Peer(
        venv=ENV_ROOT / "backtrader",
        pins=["backtrader==1.9.78.123", "pandas==3.1.1", *_COMMON],
        script=STRATEGY_DIR / "backtrader_strategy.py",
        data_env=False,
    ),
    "vectorbt": Peer(
        venv=ENV_ROOT / "vectorbt",
        pins=["vectorbt==1.2.0", "pandas==3.1.1", *_COMMON],
        script=STRATEGY_DIR / "vectorbt_strategy.py",
        data_env=False,
    ),
}


def _tail(text: str, lines: int = 5) -> str:
    return " | ".join(text.strip().splitlines()[-lines:])[-500:]


def _base_python() -> str | None:
    """The first system interpreter of 3.11–3.13 (the versions nautilus_trader 1.221 has wheels for)."""
    pyenv = sorted(Path.home().glob(".pyenv/versions/3.1[123]*/bin/python3"))
    for cand in ["python3", *map(str, pyenv), "python3.12", "python3.13", "python3.11"]:
        exe = shutil.which(cand)
        if exe is None:
            continue
        check = "import sys; print(sys.executable if (3, 11) <= sys.version_info[:2] <= (3, 13) else '')"
        r = subprocess.run([exe, "-c", check], capture_output=True, text=True)
        if r.returncode == 0 and r.stdout.strip():
            return r.stdout.strip()
    return None


def ensure_env(name: str) -> Path | None:
    """The python of peer ``name``'s venv, created and pip-installed first if its marker differs."""
    peer = PEERS[name]
    venv, python = peer["venv"], peer["venv"] / "bin" / "python"
    marker, want = peer["venv"] / ".pins", "\n".join(peer["pins"]) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == want:
        return python
    base = _base_python()
    if base is None:
        progress(f"{name}: no python 3.11–3.13 to create its venv with")
        return None
    progress(f"{name}: creating {venv} ({base}) and installing {' '.join(peer['pins'])}")
    t0 = time.perf_counter()
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    for cmd in ([base, "-m", "venv", str(venv)], [str(python), "-m", "pip", "install", "-q", *peer["pins"]]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            progress(f"{name}: `{' '.join(cmd[:4])} …` failed (rc {r.returncode}): {_tail(r.stderr or r.stdout)}")
            return None
    freeze = subprocess.run([str(python), "-m", "pip", "freeze"], capture_output=True, text=True).stdout
    (venv / "freeze.txt").write_text(freeze)
    marker.write_text(want)
    progress(f"{name}: venv ready in {time.perf_counter() - t0:.0f} s")
    return python


def peer_data(n: int) -> Path:
    """``synth_bars.py`` data for ``n`` symbols over 2024-12-02..06 (built once, then reused)."""
    out = OUT / f"peer-data-{n}"
    if (out / ".complete").exists():
        return out
    python: Path | None = PYTHON
    probe = [str(PYTHON), "-c", "import exchange_calendars, numpy, pandas, pyarrow"]
    if not PYTHON.exists() or subprocess.run(probe, capture_output=True).returncode != 0:
        python = ensure_env("nautilus")  # the one peer venv with exchange-calendars
    if python is None:
        raise RuntimeError("no python with exchange_calendars, numpy, pandas, pyarrow for synth_bars.py")
    progress(f"generating {n} symbols × {FIRST}..{LAST} with synth_bars.py into {out}")
    shutil.rmtree(out, ignore_errors=True)
    r = subprocess.run([str(python), str(SYNTH_BARS), str(out), str(n), FIRST, LAST], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"synth_bars.py failed (rc {r.returncode}): {_tail(r.stderr)}")
    (out / ".complete").write_text(f"{n} {FIRST} {LAST}\n")
    return out


def _command(name: str, python: Path, data: Path, n: int, fills_csv: Path | None) -> tuple[list[str], dict[str, str]]:
    peer = PEERS[name]
    cmd, env = [str(python), str(peer["script"]), "--symbols", str(n)], dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    if peer["data_env"]:
        env["PEER_DATA"] = str(data / "peer")
    else:
        cmd += ["--data", str(data / "peer")]
    if fills_csv is not None:
        cmd += ["--fills-csv", str(fills_csv)]
    return cmd, env


def run_peer(name: str, n: int, runs: int = 3, fills_csv: Path | None = None) -> dict[str, Any] | None:
    """Peer ``name`` on ``n`` symbols, ``runs`` processes: the median ``bars_per_s`` and ``run_s``,
    every run's rate (``all_bars_per_s``), the largest ``peak_rss_mb``, and the last run's
    ``version``, ``bars``, ``orders``, ``fills``, ``fill_model``. With ``fills_csv`` every run
    writes its fills there (and the peers log fills while running). None when the venv cannot
    be had or a run fails (a progress line says why)."""
    python = ensure_env(name)
    if python is None:
        return None
    try:
        data = peer_data(n)
    except RuntimeError as e:
        progress(f"{name} {n} symbols: no data: {e}")
        return None
    cmd, env = _command(name, python, data, n, fills_csv)
    results: list[dict[str, Any]] = []
    for i in range(runs):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=OUT, timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            progress(f"{name} {n} symbols, run {i + 1}: no result after {RUN_TIMEOUT_S} s")
            return None
        lines = [line for line in r.stdout.splitlines() if line.startswith("{")]
        if r.returncode != 0 or not lines:
            progress(f"{name} {n} symbols, run {i + 1} failed (rc {r.returncode}): {_tail(r.stderr)}")
            return None
        results.append(json.loads(lines[-1]))
        progress(f"{name} {n} symbols, run {i + 1}/{runs}: {results[-1]['bars_per_s']:,.0f} bars/s")
    last, keep = results[-1], ("version", "symbols", "bars", "orders", "fills", "fill_model")
    rates, run_s = [r["bars_per_s"] for r in results], [r["run_s"] for r in results]
    peak = max(r["peak_rss_mb"] for r in results)
    out = {k: last[k] for k in keep} | {"bars_per_s": median_of(rates), "run_s": median_of(run_s)}
    return {"peer": name, **out, "all_bars_per_s": rates, "peak_rss_mb": peak}


def rows(res: dict[str, Any]) -> list[Row]:
    """A peer result as table rows: 1m bars/s, orders, fills."""
    label = f"{res['peer']} {res['version']} ema_cross, {res['symbols']} symbols"
    figures = {"bars_per_s": ("rate", "1m bars/s"), "orders": ("orders", "orders"), "fills": ("fills", "fills")}
    return [(f"{label}: {what}", float(res[key]), unit) for key, (what, unit) in figures.items()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("peers", nargs="*", help=f"some of {', '.join(PEERS)} (default: all)")
    ap.add_argument("--setup", action="store_true", help="only create the venvs")
    ap.add_argument("--symbols", type=int, default=50)
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    names = a.peers or list(PEERS)
    if unknown := set(names) - set(PEERS):
        ap.error(f"unknown peers: {', '.join(sorted(unknown))}")
    if a.setup:
        t0 = time.perf_counter()
        ok = [name for name in names if ensure_env(name) is not None]
        progress(f"venvs ready: {', '.join(ok) or 'none'} ({time.perf_counter() - t0:.0f} s)")
        sys.exit(0 if len(ok) == len(names) else 1)
    out: list[Row] = []
    for name in names:
        res = run_peer(name, a.symbols, a.runs)
        out += rows(res) if res else [(f"{name} ema_cross, {a.symbols} symbols: rate", float("nan"), "1m bars/s")]
    print_rows(out)


if __name__ == "__main__":
    main()
