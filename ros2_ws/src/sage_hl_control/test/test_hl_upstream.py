# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Which upstream model versions the nodes accept."""

from sage_common.registry import ModelRegistry
from sage_hl_control.upstream import VersionGate


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_fixed_list_and_any(tmp_path):
    gate = VersionGate('enc_a, enc_b', tmp_path, 'encoder')
    assert gate.accepts('enc_a') and gate.accepts('enc_b')
    assert not gate.accepts('enc_c') and not gate.accepts('')
    anything = VersionGate('any', tmp_path, 'encoder')
    assert anything.accepts('whatever') and not anything.accepts('')


def test_registry_versions_are_reread_at_most_once_per_refresh(tmp_path):
    registry = ModelRegistry(tmp_path)
    clock = FakeClock()
    gate = VersionGate('', tmp_path, 'encoder', refresh_s=1.0, clock=clock)
    assert not gate.accepts('v0001')  # nothing published yet
    registry.publish('encoder', {'notes.txt': b'x'}, [], [])
    clock.now = 0.5
    assert not gate.accepts('v0001')  # within the refresh interval: not re-read
    clock.now = 1.5
    assert gate.accepts('v0001')      # newly deployed versions become accepted
    assert not gate.accepts('v0002')


def test_vector_refuses_wrong_size_non_finite_and_unknown_versions(tmp_path):
    import array
    import types

    from sage_common.rejects import RejectCounter

    gate = VersionGate('enc_a', tmp_path, 'encoder')
    rejects = RejectCounter()

    def msg(values, version='enc_a'):
        return types.SimpleNamespace(data=array.array('f', values), model_version=version)

    assert list(gate.vector(msg([0.5] * 4), 4, rejects)) == [0.5] * 4
    assert gate.vector(msg([0.5] * 3), 4, rejects) is None
    assert gate.vector(msg([0.5] * 3 + [float('nan')]), 4, rejects) is None
    assert gate.vector(msg([0.5] * 4, 'enc_b'), 4, rejects) is None
    assert rejects.counts == {'wrong_size': 1, 'non_finite': 1, 'unknown_version': 1}
