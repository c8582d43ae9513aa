# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The simulator and teacher benchmark's plain parts, without ROS."""

import pytest


def test_settle_time_is_when_the_episode_stayed_successful():
    from sage_bench.sim_teacher import settle_time
    from sage_interfaces.msg import EpisodeState

    def msg(t, success):
        m = EpisodeState(success=success)
        m.header.stamp.sec, m.header.stamp.nanosec = 100 + int(t), int((t % 1) * 1e9)
        return m

    seq = [msg(0.0, False), msg(0.5, True), msg(0.6, False), msg(0.75, True), msg(1.0, True)]
    assert settle_time(seq) == pytest.approx(0.75)
    assert settle_time(seq[:3]) is None


def test_sim_param_overrides_are_typed():
    from sage_bench.sim_teacher import _parse_param
    assert _parse_param('width:=640') == ('width', 640)
    assert _parse_param('perturb.mass_scale:=1.2') == ('perturb.mass_scale', 1.2)
    assert _parse_param('sensor_qos:=reliable') == ('sensor_qos', 'reliable')
    with pytest.raises(ValueError):
        _parse_param('width=640')
