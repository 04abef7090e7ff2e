"""Indicators: TA-Lib is the oracle for batch and bank; vwap against the per-day formula;
parameter validation, registry, keys, lane management and the Streaming wrapper."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import numpy as np
import pytest
import talib

from tests.conftest import make_bars
from trader_cli.core.bars import Bars
from trader_cli.core.calendar import ny_dates
from trader_cli.core.errors import IndicatorError
from trader_cli.core.indicators import (
    IndicatorRequest,
    ParamSpec,
    Streaming,
    get_indicator,
    indicator_names,
)

Arrays = dict[str, np.ndarray]
TALIB_RTOL = 1e-8
BANK_RTOL = 1e-9
DAYS = [
    dt.date(2024, 11, 25),
    dt.date(2024, 11, 26),
    dt.date(2024, 11, 27),
    dt.date(2024, 11, 29),
    dt.date(2024, 12, 2),
    dt.date(2024, 12, 3),
    dt.date(2024, 12, 4),
    dt.date(2024, 12, 5),
]  # across Thanksgiving and an early close


def _talib(name: str, p: tuple[int | float, ...], b: Bars) -> Arrays:
    h, lo, c, v = b.high, b.low, b.close, b.volume
    if name == "macd":
        return dict(zip(("macd", "signal", "histogram"), talib.MACD(c, *p), strict=True))
    if name == "bbands":
        out = talib.BBANDS(c, int(p[0]), p[1], p[1], 0)
        return dict(zip(("upper", "middle", "lower"), out, strict=True))
    if name == "stoch":
        out = talib.STOCH(h, lo, c, int(p[0]), int(p[1]), 0, int(p[2]), 0)
        return dict(zip(("slowk", "slowd"), out, strict=True))
    single: dict[str, Callable[[], np.ndarray]] = {
        "sma": lambda: talib.SMA(c, *p),
        "ema": lambda: talib.EMA(c, *p),
        "wma": lambda: talib.WMA(c, *p),
        "rsi": lambda: talib.RSI(c, *p),
        "atr": lambda: talib.ATR(h, lo, c, *p),
        "obv": lambda: talib.OBV(c, v),
    }
    return {"value": single[name]()}


def _vwap_direct(b: Bars) -> np.ndarray:
    """The textbook formula, day by day: cumulative typical price * volume / cumulative volume."""
    out = np.empty(len(b))
    dates = ny_dates(b.ts)
    for day in np.unique(dates):
        i = np.flatnonzero(dates == day)
        tp = (b.high[i] + b.low[i] + b.close[i]) / 3
        out[i] = np.cumsum(tp * b.volume[i]) / np.cumsum(b.volume[i])
    return out


def reference(name: str, params: tuple[int | float, ...], b: Bars) -> Arrays:
    """TA-Lib's outputs (the per-day formula for vwap, which TA-Lib lacks)."""
    if name == "vwap":
        return {"value": _vwap_direct(b)}
    return _talib(name, params, b)


def assert_matches(actual: Arrays, expected: Arrays, rtol: float) -> None:
    """Same NaN positions; values within ``rtol`` relative to each value or, for values near zero
    (a histogram crossing zero), to the output's scale."""
    scale = max(float(np.nanmax(np.abs(e))) if np.isfinite(e).any() else 0.0 for e in expected.values())
    for name, e in expected.items():
        a = actual[name]
        np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{name}: NaN positions")
        np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * scale, equal_nan=True, err_msg=name)


def feed_bar_by_bar(name: str, params: tuple[int | float, ...], b: Bars) -> Arrays:
    """Every bar through update() of a one-lane bank; latest() after each (NaN when None)."""
    bank = get_indicator(name).new_bank(params)
    lane = bank.add_lane()
    out = {o: np.full(len(b), np.nan) for o in get_indicator(name).outputs}
    for i in range(len(b)):
        bank.update(
            [lane],
            b.ts[i : i + 1],
            b.open[i : i + 1],
            b.high[i : i + 1],
            b.low[i : i + 1],
            b.close[i : i + 1],
            b.volume[i : i + 1],
        )
        got = bank.latest(lane)
        for o, v in (got or {}).items():
            out[o][i] = v
    return out


def seed_then_update(name: str, params: tuple[int | float, ...], b: Bars, cut: int) -> Arrays:
    """Seed a lane with bars[:cut], update with the rest; values from the cut on (NaN before)."""
    bank = get_indicator(name).new_bank(params)
    bank.add_lane()  # the lane under test is not lane 0
    lane = bank.add_lane()
    bank.seed(lane, b.slice(0, cut))
    out = {o: np.full(len(b), np.nan) for o in get_indicator(name).outputs}
    for i in range(cut - 1, len(b)):
        if i >= cut:
            bank.update(np.array([lane]), b.ts[i], b.open[i], b.high[i], b.low[i], b.close[i], b.volume[i])
        for o, v in (bank.latest(lane) or {}).items():
            out[o][i] = v
    return out


@pytest.fixture(scope="module")
def walk() -> Bars:
    """Eight sessions of 1m bars (3,120 bars, early close included): a random walk in cents."""
    return Bars.concat([make_bars(d, seed=i, start_price=100.0 + i) for i, d in enumerate(DAYS)])


@pytest.fixture(scope="module")
def gapped(walk: Bars) -> Bars:
    """The same series with ~15% of its bars missing (gaps are just absent bars)."""
    keep = np.random.default_rng(7).random(len(walk)) > 0.15
    return walk.take(keep)


CASES = [
    ("sma", ()),
    ("sma", (5,)),
    ("ema", ()),
    ("ema", (50,)),
    ("wma", ()),
    ("wma", (9,)),
    ("rsi", ()),
    ("rsi", (7,)),
    ("macd", ()),
    ("macd", (5, 35, 5)),
    ("bbands", ()),
    ("bbands", (10, 1.5)),
    ("atr", ()),
    ("atr", (5,)),
    ("stoch", ()),
    ("stoch", (14, 3, 5)),
    ("obv", ()),
    ("vwap", ()),
]
IDS = [f"{n}{'-' + '-'.join(map(str, p)) if p else ''}" for n, p in CASES]


@pytest.fixture(scope="module")
def sample() -> Bars:
    """The bundled sample's RIVN (the thin symbol, with missing minutes): 1m bars of the
    regular session, 2024-11-22 .. 2024-12-05 (Thanksgiving and the 11-29 early close)."""
    from pathlib import Path

    from trader_cli.core.bars import session_bars
    from trader_cli.core.calendar import nyse
    from trader_cli.core.store import DataManager

    cal = nyse()
    store = DataManager(Path(__file__).resolve().parents[2] / "data")
    o = cal.open_close(dt.date(2024, 11, 22))[0]
    c = cal.open_close(dt.date(2024, 12, 5))[1]
    bars = session_bars(store.read("RIVN", "1m", o, c), cal)
    assert len(bars) < 9 * 390 + 210  # gaps are in it
    return bars


@pytest.mark.parametrize(("name", "raw"), CASES, ids=IDS)
@pytest.mark.parametrize("series", ["walk", "gapped", "sample"])
def test_batch_and_bank_match_the_reference(
    name: str, raw: tuple[int | float, ...], series: str, request: pytest.FixtureRequest
) -> None:
    b: Bars = request.getfixturevalue(series)
    params = get_indicator(name).resolve_params(raw)
    expected = reference(name, params, b)
    batch = get_indicator(name).batch(b, params)
    assert_matches(batch, expected, TALIB_RTOL)
    fed = feed_bar_by_bar(name, params, b)
    assert_matches(fed, expected, TALIB_RTOL)
    assert_matches(fed, batch, BANK_RTOL)
    cut = len(b) // 2
    seeded = seed_then_update(name, params, b, cut)
    tail = {o: np.where(np.arange(len(b)) >= cut - 1, batch[o], np.nan) for o in batch}
    assert_matches(seeded, tail, BANK_RTOL)


@pytest.mark.parametrize("name", sorted(n for n, _ in CASES))
def test_many_lanes_with_missing_bars_match_each_lanes_own_series(name: str, walk: Bars) -> None:
    """Three lanes share a time grid; each misses different bars and is only in ``lanes`` when it
    has one. Each lane must equal the batch (and TA-Lib) of its own gapped series."""
    rng = np.random.default_rng(3)
    n = 1200
    grid = walk.slice(0, n)
    series = []
    for k in range(3):
        scale = 1.0 + 0.5 * k
        shifted = Bars(
            grid.ts, grid.open * scale, grid.high * scale, grid.low * scale, grid.close * scale, grid.volume + 100 * k
        )
        series.append((shifted, rng.random(n) > 0.1 * (k + 1)))
    bank = get_indicator(name).new_bank(capacity=1)
    lanes = [bank.add_lane() for _ in series]
    seen = {o: [np.full(n, np.nan) for _ in series] for o in get_indicator(name).outputs}
    for i in range(n):
        has = [k for k, (_, mask) in enumerate(series) if mask[i]]
        if not has:
            continue
        cols = [
            np.array([getattr(series[k][0], f)[i] for k in has])
            for f in ("ts", "open", "high", "low", "close", "volume")
        ]
        bank.update(np.array([lanes[k] for k in has])[::-1], *(c[::-1] for c in cols))
        now = bank.latest_all()
        for o in seen:
            for k in has:
                seen[o][k][i] = now[o][lanes[k]]
    for k, (b, mask) in enumerate(series):
        own = b.take(mask)
        got = {o: seen[o][k][mask] for o in seen}
        assert_matches(got, get_indicator(name).batch(own), BANK_RTOL)
        expected = reference(name, get_indicator(name).resolve_params(()), own)
        assert_matches(got, expected, TALIB_RTOL)


def test_vwap_resets_at_each_new_york_day(walk: Bars) -> None:
    out = get_indicator("vwap").batch(walk)["value"]
    starts = np.flatnonzero(np.r_[True, np.diff(ny_dates(walk.ts)) != 0])
    assert len(starts) == len(DAYS)
    tp = (walk.high + walk.low + walk.close) / 3
    np.testing.assert_allclose(out[starts], tp[starts], rtol=1e-12)


def test_vwap_without_volume_is_not_ready() -> None:
    b = make_bars(DAYS[0], 5)
    b = Bars(b.ts, b.open, b.high, b.low, b.close, np.array([0.0, 0.0, 10.0, 0.0, 5.0]))
    out = get_indicator("vwap").batch(b)["value"]
    assert np.isnan(out[:2]).all() and np.isfinite(out[2:]).all()
    s = Streaming("vwap")
    got = [s.update(int(b.ts[i]), b.open[i], b.high[i], b.low[i], b.close[i], b.volume[i]) for i in range(len(b))]
    assert got[0] is None and got[1] is None
    assert got[2] is not None and got[2]["value"] == pytest.approx(out[2], rel=1e-12)


def test_warmup_bars_is_talib_lookback_plus_one(walk: Bars) -> None:
    for name, raw in CASES:
        ind = get_indicator(name)
        params = ind.resolve_params(raw)
        first = reference(name, params, walk)[ind.outputs[0]]
        assert ind.warmup_bars(params) == int(np.flatnonzero(~np.isnan(first))[0]) + 1, name


def test_batch_of_a_short_series_is_all_nan() -> None:
    b = make_bars(DAYS[0], 10)
    assert np.isnan(get_indicator("sma").batch(b, (11,))["value"]).all()
    out = get_indicator("macd").batch(b.slice(0, 0))
    assert set(out) == {"macd", "signal", "histogram"} and all(len(a) == 0 for a in out.values())


# -- parameters, registry and keys -----------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "raw", "message"),
    [
        ("sma", [-3], "sma period must be a whole number >= 1 (got -3)"),
        ("sma", [2.5], "sma period must be a whole number >= 1 (got 2.5)"),
        ("sma", ["abc"], "sma period must be a whole number >= 1 (got abc)"),
        ("sma", [0], "sma period must be a whole number >= 1 (got 0)"),
        ("sma", [100_001], "sma period must be a whole number <= 100000 (got 100001)"),
        ("rsi", [1], "rsi period must be a whole number >= 2 (got 1)"),
        ("bbands", [20, -1], "bbands nbdev must be a number >= 0 (got -1)"),
        ("bbands", [20, "nan"], "bbands nbdev must be a number >= 0 (got nan)"),
        ("macd", [26, 12], "macd fast period must be shorter than slow (got fast 26, slow 12)"),
        ("macd", [12, 12], "macd fast period must be shorter than slow (got fast 12, slow 12)"),
        ("sma", [20, 5], "sma takes at most 1 parameter (period) (got 2: 20, 5)"),
        ("obv", [1], "obv takes no parameters (got 1: 1)"),
    ],
)
def test_bad_params_raise_one_actionable_line(name: str, raw: list[object], message: str) -> None:
    with pytest.raises(IndicatorError) as err:
        get_indicator(name).resolve_params(raw)  # type: ignore[arg-type]
    assert str(err.value) == message
    assert "\n" not in str(err.value)


def test_bool_is_not_a_period() -> None:
    with pytest.raises(IndicatorError):
        get_indicator("sma").resolve_params([True])


def test_params_convert_and_fill_defaults() -> None:
    assert get_indicator("sma").resolve_params([]) == (20,)
    assert get_indicator("rsi").resolve_params([]) == (14,)
    assert get_indicator("atr").resolve_params([]) == (14,)
    assert get_indicator("macd").resolve_params(["5"]) == (5, 26, 9)
    assert get_indicator("bbands").resolve_params(["20", "2.5"]) == (20, 2.5)
    assert get_indicator("sma").resolve_params([20.0]) == (20,)
    assert get_indicator("stoch").resolve_params([]) == (5, 3, 3)
    nbdev = get_indicator("bbands").resolve_params([10])[1]
    assert isinstance(nbdev, float) and nbdev == 2.0


def test_unknown_indicator_suggests_the_closest_name() -> None:
    with pytest.raises(IndicatorError) as err:
        get_indicator("smaa")
    text = str(err.value)
    assert text.startswith("unknown indicator 'smaa' (did you mean sma? known: atr, bbands, ")
    with pytest.raises(IndicatorError) as err:
        get_indicator("zzz")
    assert "did you mean" not in str(err.value) and "known: atr, bbands" in str(err.value)


def test_registry_lists_every_family_with_declared_outputs() -> None:
    assert indicator_names() == ["atr", "bbands", "ema", "macd", "obv", "rsi", "sma", "stoch", "vwap", "wma"]
    assert get_indicator(" SMA ").name == "sma"
    assert get_indicator("macd").outputs == ("macd", "signal", "histogram")
    assert get_indicator("bbands").outputs == ("upper", "middle", "lower")
    assert get_indicator("stoch").outputs == ("slowk", "slowd")
    assert get_indicator("sma").outputs == ("value",)
    for name in indicator_names():
        ind = get_indicator(name)
        assert ind.description and "\n" not in ind.description
        assert all(isinstance(p, ParamSpec) and p.kind in (int, float) for p in ind.params)


@pytest.mark.parametrize(
    ("name", "raw", "interval", "key"),
    [
        ("sma", [20], "5m", "sma_20_5m"),
        ("sma", [], "1m", "sma_20_1m"),
        ("bbands", [20, 2.5], "5m", "bbands_20_2.5_5m"),
        ("bbands", [20, 2.0], "5m", "bbands_20_2_5m"),
        ("bbands", ["20", "2"], "15m", "bbands_20_2_15m"),
        ("macd", [], "1m", "macd_12_26_9_1m"),
        ("vwap", [], "1m", "vwap_1m"),
        ("RSI", ["7"], "1h", "rsi_7_1h"),
    ],
)
def test_request_key(name: str, raw: list[int | float | str], interval: str, key: str) -> None:
    assert IndicatorRequest.parse(name, raw, interval).key == key


# -- banks: lanes, readiness, Streaming -------------------------------------------------------
def _step(bank: object, lanes: list[int], b: Bars, i: int) -> None:
    n = len(lanes)
    bank.update(
        np.array(lanes),
        np.full(n, b.ts[i]),
        np.full(n, b.open[i]),  # type: ignore[attr-defined]
        np.full(n, b.high[i]),
        np.full(n, b.low[i]),
        np.full(n, b.close[i]),
        np.full(n, b.volume[i]),
    )


def test_lanes_grow_keep_their_state_and_freed_lanes_are_reused(walk: Bars) -> None:
    bank = get_indicator("sma").new_bank((3,), capacity=2)
    a, b = bank.add_lane(), bank.add_lane()
    for i in range(3):
        _step(bank, [a, b], walk, i)
    before = bank.latest(a)
    assert before is not None
    lanes = [bank.add_lane() for _ in range(5)]  # grows past the initial capacity
    assert lanes == [2, 3, 4, 5, 6] and bank.capacity >= 7
    assert bank.latest(a) == before and bank.latest(lanes[0]) is None
    bank.free_lane(b)
    assert bank.latest(b) is None
    assert bank.add_lane() == b  # the freed lane comes back, reset
    assert bank.latest(b) is None
    assert list(bank.ready()[:3]) == [True, False, False]
    values = bank.latest_all()["value"]
    assert len(values) == bank.capacity and values[a] == before["value"] and np.isnan(values[b])


def test_update_of_a_lane_not_in_use_is_an_error(walk: Bars) -> None:
    bank = get_indicator("ema").new_bank((3,))
    lane = bank.add_lane()
    bank.free_lane(lane)
    with pytest.raises(IndicatorError, match="not in use"):
        _step(bank, [lane], walk, 0)
    with pytest.raises(IndicatorError, match="not in use"):
        _step(bank, [99], walk, 0)
    with pytest.raises(IndicatorError, match="not in use"):
        bank.seed(5, walk)


def test_not_ready_until_warmup_then_ready(walk: Bars) -> None:
    bank = get_indicator("macd").new_bank()
    lane = bank.add_lane()
    warmup = get_indicator("macd").warmup_bars()
    for i in range(warmup):
        assert bank.latest(lane) is None and not bank.ready()[lane]
        assert np.isnan(bank.latest_all()["macd"][lane])
        _step(bank, [lane], walk, i)
    got = bank.latest(lane)
    assert got is not None and set(got) == {"macd", "signal", "histogram"} and bank.ready()[lane]


def test_seed_replaces_a_lanes_state(walk: Bars) -> None:
    bank = get_indicator("rsi").new_bank()
    lane = bank.add_lane()
    for i in range(100):
        _step(bank, [lane], walk, 500 + i)
    bank.seed(lane, walk.slice(0, 300))
    expected = get_indicator("rsi").batch(walk.slice(0, 300))["value"][-1]
    assert bank.latest(lane) == {"value": pytest.approx(expected, rel=1e-12)}
    bank.seed(lane, walk.slice(0, 0))
    assert bank.latest(lane) is None
    bank.seed(lane, walk.slice(0, 14))  # one short of the warmup
    assert bank.latest(lane) is None
    _step(bank, [lane], walk, 14)
    assert bank.latest(lane) is not None


def test_streaming_equals_batch(walk: Bars) -> None:
    b = walk.slice(0, 200)
    s = Streaming("bbands", (10, 1.5))
    expected = get_indicator("bbands").batch(b, (10, 1.5))
    for i in range(len(b)):
        got = s.update(int(b.ts[i]), b.open[i], b.high[i], b.low[i], b.close[i], b.volume[i])
        if i < 9:
            assert got is None
        else:
            assert got == {k: pytest.approx(expected[k][i], rel=1e-12) for k in expected}
    assert s.seed(b.slice(0, 50)) == {k: pytest.approx(expected[k][49], rel=1e-12) for k in expected}


def test_a_flat_run_has_zero_width_bands_in_batch_and_bank(walk: Bars) -> None:
    close = np.r_[walk.close[:300], np.full(60, walk.close[299])]
    n = len(close)
    b = Bars(walk.ts[:n], close, close + 0.01, close - 0.01, close, walk.volume[:n])
    batch = get_indicator("bbands").batch(b)
    fed = feed_bar_by_bar("bbands", (20, 2.0), b)
    for out in (batch, fed):  # 0 up to rounding of the mean (a plain E[x^2]-E[x]^2 gives ~1e-6)
        assert np.all(out["upper"][-40:] - out["lower"][-40:] <= 1e-12 * close[-1])
        assert np.all(np.abs(out["middle"][-40:] - close[-1]) <= 1e-12 * close[-1])


@pytest.mark.parametrize("name", ["sma", "wma", "bbands"])
def test_running_sums_do_not_drift_over_a_long_trending_series(name: str) -> None:
    """12,000 bar-by-bar updates while the price climbs from 10 to 1,000 and back, with flat runs:
    the bank's running sums stay within 1e-9 of the batch."""
    n = 12_000
    rng = np.random.default_rng(11)
    up = np.linspace(np.log(10), np.log(1000), n // 2)
    close = np.round(np.exp(np.r_[up, up[::-1]] + np.cumsum(rng.normal(0, 2e-3, n)) * 0.1), 2)
    ts = np.arange(n, dtype=np.int64) * 60 * 10**9 + 1_733_149_800 * 10**9
    b = Bars(ts, close, close * 1.001, close * 0.999, close, np.ones(n))
    params = get_indicator(name).resolve_params([14])
    batch = get_indicator(name).batch(b, params)
    assert_matches(feed_bar_by_bar(name, params, b), batch, BANK_RTOL)
