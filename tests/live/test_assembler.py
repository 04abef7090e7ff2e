"""The minute assembler closes every minute once, in order, with every bar that came in time;
late bars are counted and dropped, corrections kept as revisions, never re-stepped — whatever
the order the stream delivers in (hypothesis), and across threads."""

from __future__ import annotations

import threading
import time

from hypothesis import example, given
from hypothesis import strategies as st

from trader_cli.live.assembler import MINUTE_NS, MinuteAssembler, StreamBar
from trader_cli.live.clock import LiveClock

T0 = 1_733_149_800 * 10**9  # 2024-12-02 09:30 New York
GRACE = 2 * 10**9


def bar(sym: str, minute: int, px: float = 100.0) -> StreamBar:
    return StreamBar(sym, T0 + minute * MINUTE_NS, px, px + 1, px - 1, px, 10.0)


def test_a_minute_closes_when_every_symbol_reported_or_at_its_deadline() -> None:
    a = MinuteAssembler({"AAPL", "MSFT"}, T0, GRACE)
    a.add(bar("AAPL", 0))
    assert not a.ready(T0 + MINUTE_NS)  # MSFT not in yet, deadline not passed
    a.add(bar("MSFT", 0))
    assert a.ready(T0 + MINUTE_NS)
    m = a.close_next(T0 + MINUTE_NS)
    assert (m.ts_ns, sorted(m.bars), m.by_timeout) == (T0, ["AAPL", "MSFT"], False)
    a.add(bar("AAPL", 1))
    deadline = T0 + 2 * MINUTE_NS + GRACE
    assert not a.ready(deadline - 1) and a.ready(deadline)
    m = a.close_next(deadline)
    assert sorted(m.bars) == ["AAPL"] and m.by_timeout  # MSFT silent for a minute: missing
    a.add(bar("MSFT", 1))  # too late: counted, dropped
    a.add(bar("MSFT", 0), updated=True)  # a correction: a revision
    assert a.counts.late == {"MSFT": 1} and len(a.counts.revisions) == 1
    assert a.next_ns == T0 + 2 * MINUTE_NS


def test_extended_hours_bars_are_left_out_not_late() -> None:
    close = T0 + 390 * MINUTE_NS
    a = MinuteAssembler({"AAPL"}, T0, GRACE, (T0, close))
    a.add(bar("AAPL", -30))  # 09:00, pre-market: Alpaca streams it
    a.add(bar("AAPL", 0))
    assert a.ready(T0 + MINUTE_NS) and sorted(a.close_next(T0 + MINUTE_NS).bars) == ["AAPL"]
    a.add(bar("AAPL", 390))  # 16:00, after hours
    a.add(bar("AAPL", -1), updated=True)  # a correction of a pre-market bar: not a revision of the session's
    assert a.counts.outside == 3 and a.counts.late == {} and a.counts.revisions == []
    assert a.next_ns == T0 + MINUTE_NS


def test_skip_to_before_the_first_close_lets_the_earlier_minutes_go() -> None:
    a = MinuteAssembler({"AAPL"}, T0, GRACE)
    a.add(bar("AAPL", 0))
    a.add(bar("AAPL", 2))
    a.skip_to(T0 + 2 * MINUTE_NS)  # minutes 0 and 1 come from REST
    a.skip_to(T0)  # never back
    assert a.next_ns == T0 + 2 * MINUTE_NS and a.ready(T0 + 2 * MINUTE_NS)
    assert a.close_next(T0 + 3 * MINUTE_NS).ts_ns == T0 + 2 * MINUTE_NS
    assert a.counts.late == {}


def test_duplicates_unknown_symbols_join_and_leave() -> None:
    a = MinuteAssembler({"AAPL"}, T0, GRACE)
    a.add(bar("AAPL", 0))
    a.add(bar("AAPL", 0, px=999))
    a.add(bar("ZZZZ", 0))
    assert a.counts.duplicates == {"AAPL": 1} and a.counts.unknown == 1
    assert a.close_next(T0 + MINUTE_NS).bars["AAPL"].close == 100.0  # the first one kept
    assert a.join("TSLA") == T0 + MINUTE_NS
    a.add(bar("AAPL", 1))
    assert not a.ready(T0 + 2 * MINUTE_NS)  # waits for TSLA from its first minute on
    a.add(bar("TSLA", 1))
    assert a.ready(T0 + 2 * MINUTE_NS)
    a.close_next(T0 + 2 * MINUTE_NS)
    a.leave("TSLA")
    a.add(bar("AAPL", 2))
    assert a.ready(T0 + 3 * MINUTE_NS)


@given(
    st.lists(
        st.tuples(st.sampled_from(["A", "B", "C"]), st.integers(0, 9), st.integers(0, 200)),
        min_size=1,
        max_size=60,
    )
)
def test_any_arrival_order_closes_each_minute_once_in_order(arrivals: list[tuple[str, int, int]]) -> None:
    """Bars arrive at live times (seconds after the open); the clock closes whatever is ready
    at each arrival. Every bar is either in exactly one closed minute or counted late/duplicate."""
    a = MinuteAssembler({"A", "B", "C"}, T0, GRACE)
    closed = []
    arrivals = sorted(arrivals, key=lambda x: x[2] + x[1] * 60)  # a bar never arrives before its minute
    for sym, minute, secs in arrivals:
        now = T0 + minute * MINUTE_NS + secs * 10**9
        while a.ready(now):
            closed.append(a.close_next(now))
        a.add(bar(sym, minute))
        while a.ready(now):
            closed.append(a.close_next(now))
    times = [m.ts_ns for m in closed]
    assert times == sorted(set(times)) and times == [T0 + k * MINUTE_NS for k in range(len(times))]
    placed = sum(len(m.bars) for m in closed) + sum(len(v) for v in a._pending.values())
    dropped = sum(a.counts.late.values()) + sum(a.counts.duplicates.values())
    assert placed + dropped == len(arrivals)


@given(
    st.lists(
        st.lists(
            st.tuples(st.sampled_from(["A", "B", "C", "X"]), st.integers(-1, 3), st.booleans()),
            max_size=12,
        ),
        max_size=6,
    ),
    st.integers(0, 2),
)
@example(  # a joining symbol's bar first in a minute's message: the others' must not replace it
    messages=[[("A", 0, False), ("B", 0, False)], [("C", 1, False), ("A", 1, False)]], close_after=0
)
def test_a_messages_bars_at_once_are_the_same_as_one_by_one(
    messages: list[list[tuple[str, int, bool]]], close_after: int
) -> None:
    """The stream hands a message's bars over at once (``add_many``): whatever they hold (the
    next minute's, later ones, repeats, an unknown symbol, extended hours, a joining symbol),
    what closes and what is counted is what the same bars one by one give."""
    hours = (T0 - MINUTE_NS, T0 + 3 * MINUTE_NS)  # minute 3 is after the close
    one, many = (MinuteAssembler({"A", "B"}, T0, GRACE, hours) for _ in range(2))
    for a in (one, many):
        a.join("C", T0 + MINUTE_NS)
    closed: tuple[list, list] = ([], [])
    for k, msg in enumerate(messages):
        bars = [bar(sym, m, 100.0 + k) for sym, m, _ in msg]
        for b, (_, _, updated) in zip(bars, msg, strict=True):
            one.add(b, updated)
        for updated in (False, True):  # the stream's way: a message's bars, then its corrections
            many.add_many([b for b, (_, _, u) in zip(bars, msg, strict=True) if u is updated], updated)
        if k % 3 == close_after:
            for a, out in zip((one, many), closed, strict=True):
                now = a.next_ns + MINUTE_NS
                if a.ready(now):
                    out.append(a.close_next(now))
    assert [(m.ts_ns, m.bars, m.by_timeout) for m in closed[0]] == [(m.ts_ns, m.bars, m.by_timeout) for m in closed[1]]
    assert one._pending == many._pending
    c1, c2 = one.counts, many.counts
    assert (c1.late, c1.duplicates, c1.unknown, c1.outside) == (c2.late, c2.duplicates, c2.unknown, c2.outside)
    assert sorted(c1.revisions) == sorted(c2.revisions)


def test_wait_next_across_threads_with_a_fast_live_clock() -> None:
    clock = LiveClock(T0, speed=600.0)  # ten live minutes a wall second
    a = MinuteAssembler({"A", "B"}, T0, GRACE)

    def stream() -> None:
        for k in range(5):
            time.sleep(0.01)
            a.add(bar("A", k))
            if k != 2:
                a.add(bar("B", k))

    th = threading.Thread(target=stream)
    th.start()
    got = []
    while len(got) < 5:
        m = a.wait_next(clock.now_ns, 5.0, clock.ns_per_s)
        assert m is not None
        got.append(m)
    th.join()
    assert [len(m.bars) for m in got] == [2, 2, 1, 2, 2]
    assert [m.by_timeout for m in got] == [False, False, True, False, False]
