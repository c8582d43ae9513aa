# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Approximate-time pairing and as-of lookup with synthetic stamps.

The pairing tests run on the fallback and, where a ROS install provides it, on
message_filters' ApproximateTimeSynchronizer: the rules are theirs.
"""

from types import SimpleNamespace

import pytest
from sage_perception.sync import ApproxTimeSync, AsOfBuffer, make_synchronizer


def _msg(t, label):
    from builtin_interfaces.msg import Time

    ns = round(t * 1e9)
    return SimpleNamespace(header=SimpleNamespace(stamp=Time(sec=ns // 10**9, nanosec=ns % 10**9)),
                           label=label)


@pytest.fixture(params=['sage_perception.sync', 'message_filters'])
def impl(request):
    if request.param == 'message_filters':
        try:
            import message_filters  # noqa: F401
        except ImportError:
            pytest.skip('message_filters is not importable (the PyPI ROS wheels lack it)')
    return request.param


@pytest.fixture
def make(impl):
    def _sync(slop, queue=10, n=2):
        out = []
        sync, name = make_synchronizer(n, queue, slop,
                                       lambda *msgs: out.append(tuple(m.label for m in msgs)),
                                       prefer_message_filters=impl == 'message_filters')
        assert name == impl
        return sync, out
    return _sync


def test_pairs_within_slop_in_either_arrival_order(make):
    sync, pairs = make(0.01)
    sync.add(0, _msg(1.000, 'c1'))
    sync.add(1, _msg(1.004, 'd1'))      # depth after colour
    sync.add(1, _msg(1.0333, 'd2'))     # depth before colour
    sync.add(0, _msg(1.0340, 'c2'))
    assert pairs == [('c1', 'd1'), ('c2', 'd2')]


def test_no_pair_outside_slop_and_older_messages_stay_queued(make):
    sync, pairs = make(0.005)
    sync.add(0, _msg(1.0, 'c1'))
    sync.add(1, _msg(1.02, 'd1'))       # 20 ms apart: no pair
    assert pairs == []
    sync.add(0, _msg(1.021, 'c2'))      # pairs with d1; only the matched pair leaves
    sync.add(1, _msg(1.0, 'd0'))        # c1 is still queued: it pairs now
    assert pairs == [('c2', 'd1'), ('c1', 'd0')]
    if isinstance(sync, ApproxTimeSync):
        assert sync.dropped == 0 and sync.emitted == 2


def test_slop_is_strict(make):
    sync, pairs = make(0.005)
    sync.add(0, _msg(1.0, 'c1'))
    sync.add(1, _msg(1.005, 'd1'))      # exactly slop apart: no pair
    sync.add(1, _msg(1.0049, 'd2'))     # just inside: pairs
    assert pairs == [('c1', 'd2')]


def test_closest_candidate_wins_and_queue_is_bounded(make):
    sync, pairs = make(0.02, queue=2)
    for i, t in enumerate((1.0, 1.01, 1.02)):
        sync.add(1, _msg(t, f'd{i}'))
    sync.add(0, _msg(1.0005, 'c'))      # d0 fell out of the 2-deep queue; d1 is closest
    assert pairs == [('c', 'd1')]


def test_a_full_queue_drops_its_oldest_stamp_not_its_first_arrival(make):
    sync, pairs = make(0.002, queue=2)
    for t, label in ((1.02, 'd2'), (1.0, 'd0'), (1.01, 'd1')):   # out of order
        sync.add(1, _msg(t, label))     # d0 (oldest stamp) goes, though d2 came first
    for t, label in ((1.0, 'c0'), (1.01, 'c1'), (1.02, 'c2')):
        sync.add(0, _msg(t, label))
    assert pairs == [('c1', 'd1'), ('c2', 'd2')]


def test_equidistant_candidates_go_in_queue_order_and_a_repeated_stamp_replaces(make):
    sync, pairs = make(0.01)
    sync.add(1, _msg(1.004, 'late'))
    sync.add(1, _msg(0.996, 'early'))
    sync.add(0, _msg(1.0, 'c'))         # both 4 ms away: the first queued wins
    sync.add(1, _msg(1.5, 'x'))
    sync.add(1, _msg(1.5, 'y'))         # same stamp: y replaces x
    sync.add(0, _msg(1.501, 'c2'))
    assert pairs == [('c', 'late'), ('c2', 'y')]


def test_three_streams_take_the_first_combination_within_slop(make):
    sync, sets = make(0.01, n=3)
    sync.add(1, _msg(1.000, 'b0'))
    sync.add(1, _msg(1.009, 'b1'))
    sync.add(2, _msg(0.998, 'c0'))
    # a at 1.005: b1 (4 ms) is tried before b0 (5 ms), but a, b1, c0 span 11 ms; a, b0, c0
    # span 7 ms, within the 10-ms slop
    sync.add(0, _msg(1.005, 'a'))
    sync.add(2, _msg(1.010, 'c1'))      # b1 is still there, but no a is left
    assert sets == [('a', 'b0', 'c0')]


def test_custom_stamp_in_seconds():
    pairs = []
    sync = ApproxTimeSync(2, 10, 0.01, lambda a, b: pairs.append((a.label, b.label)),
                          stamp=lambda m: m.t)
    sync.add(0, SimpleNamespace(t=1.0, label='c'))
    sync.add(1, SimpleNamespace(t=1.004, label='d'))
    assert pairs == [('c', 'd')]


def test_make_synchronizer_falls_back_without_message_filters():
    sync, impl = make_synchronizer(2, 5, 0.01, lambda *a: None)
    try:
        import message_filters  # noqa: F401
        assert impl == 'message_filters'
    except ImportError:
        assert impl == 'sage_perception.sync' and isinstance(sync, ApproxTimeSync)


def test_as_of_buffer():
    buf = AsOfBuffer(size=4)
    assert buf.as_of(1.0, 1.0) is None
    for t in (1.0, 1.01, 1.02, 1.03, 1.04):
        buf.add(t, t * 10)
    assert buf.latest_stamp() == 1.04
    assert buf.as_of(1.025, 0.1) == (1.02, 10.2)
    assert buf.as_of(1.025, 0.1, tolerance=0.006) == (1.03, 10.3)  # slightly newer allowed
    assert buf.as_of(1.2, 0.1) is None                             # too old: silent
    assert buf.as_of(1.005, 0.1) is None                           # 1.0 fell out (size 4)
