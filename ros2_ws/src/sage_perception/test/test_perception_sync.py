# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Approximate-time pairing and as-of lookup with synthetic stamps."""

from types import SimpleNamespace

from sage_perception.sync import ApproxTimeSync, AsOfBuffer, make_synchronizer


def _msg(t, label):
    return SimpleNamespace(t=t, label=label)


def _sync(slop, queue=10):
    pairs = []
    sync = ApproxTimeSync(2, queue, slop, lambda a, b: pairs.append((a.label, b.label)),
                          stamp=lambda m: m.t)
    return sync, pairs


def test_pairs_within_slop_in_either_arrival_order():
    sync, pairs = _sync(0.01)
    sync.add(0, _msg(1.000, 'c1'))
    sync.add(1, _msg(1.004, 'd1'))      # depth after colour
    sync.add(1, _msg(1.0333, 'd2'))     # depth before colour
    sync.add(0, _msg(1.0340, 'c2'))
    assert pairs == [('c1', 'd1'), ('c2', 'd2')]


def test_no_pair_outside_slop_and_stale_messages_are_dropped():
    sync, pairs = _sync(0.005)
    sync.add(0, _msg(1.0, 'c1'))
    sync.add(1, _msg(1.02, 'd1'))       # 20 ms apart: no pair
    assert pairs == []
    sync.add(0, _msg(1.021, 'c2'))      # pairs with d1; c1 is older than the match: dropped
    sync.add(1, _msg(1.0, 'd0'))        # would have matched c1, but c1 is gone
    assert pairs == [('c2', 'd1')]
    assert sync.dropped == 1


def test_closest_candidate_wins_and_queue_is_bounded():
    sync, pairs = _sync(0.02, queue=2)
    for i, t in enumerate((1.0, 1.01, 1.02)):
        sync.add(1, _msg(t, f'd{i}'))
    sync.add(0, _msg(1.0005, 'c'))      # d0 fell out of the 2-deep queue; d1 is closest
    assert pairs == [('c', 'd1')]


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
