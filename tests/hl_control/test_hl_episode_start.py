# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The H-module node over real DDS: /sage/episode_start and ~/reset_history empty its window."""

import time

import numpy as np
import pytest
from sage_perception import layout

pytestmark = pytest.mark.integration


def test_h_module_window_restarts_at_each_episode_start(launch_node, ros_node, hl, hl_registry):
    from diagnostic_msgs.msg import DiagnosticArray
    from sage_common.qos import reliable_qos
    from sage_interfaces.msg import CompressedContext, Context
    from std_msgs.msg import Header
    from std_srvs.srv import Trigger

    # contexts never age out of the window here: only a reset can empty it
    h = launch_node('sage_hl_control', 'h_module', name='h_module',
                    params=hl.h_params(hl_registry, window_max_age=60.0,
                                       diagnostics_period=0.2))
    out = ros_node.collect(CompressedContext, '/sage/context_compressed', 100)
    diags = ros_node.collect(DiagnosticArray, '/diagnostics', 50)
    pub = ros_node.node.create_publisher(Context, '/sage/context', reliable_qos(50))
    episode_start = ros_node.node.create_publisher(Header, '/sage/episode_start',
                                                   reliable_qos())
    h.wait_for_output(r'H-module v0001')
    ros_node.wait_for(lambda: pub.get_subscription_count() > 0
                      and episode_start.get_subscription_count() > 0
                      and ros_node.node.count_publishers('/sage/context_compressed') > 0,
                      20, 'h_module discovery')
    rng = np.random.default_rng(0)
    first, second = rng.standard_normal(layout.DIM), rng.standard_normal(layout.DIM)

    def compress(data):
        msg = hl.make_context(ros_node, data=data)
        pub.publish(msg)
        ros_node.wait_for(lambda: out and out[-1].header.stamp == msg.header.stamp, 10,
                          'compressed context')
        return np.array(out[-1].data)

    def count(key):
        return int((hl.latest_diag(diags, 'sage: h_module') or {}).get(key, -1))

    def start_episode(at_ns, resets):
        header = Header(frame_id=str(resets))
        header.stamp.sec, header.stamp.nanosec = divmod(at_ns, 10 ** 9)
        episode_start.publish(header)
        ros_node.wait_for(lambda: count('history_resets') == resets, 10, f'reset {resets}')

    def now_ns():
        return ros_node.node.get_clock().now().nanoseconds

    fresh = compress(first)  # a new node's window: just this context
    assert not np.allclose(compress(second), fresh)
    assert not np.allclose(compress(first), fresh)
    start_episode(now_ns(), 1)
    np.testing.assert_allclose(compress(first), fresh, atol=1e-6)
    compress(second)

    # a context stamped before the episode's start but arriving after it stays out
    start_episode(now_ns() + 500_000_000, 2)
    sent = len(out)
    pub.publish(hl.make_context(ros_node, data=second))
    ros_node.wait_for(lambda: count('dropped_before_episode_start') == 1, 10, 'drop counted')
    assert len(out) == sent
    time.sleep(0.5)
    np.testing.assert_allclose(compress(first), fresh, atol=1e-6)

    compress(second)
    response = ros_node.call(Trigger, '/h_module/reset_history', Trigger.Request())
    assert response.success, response.message
    np.testing.assert_allclose(compress(first), fresh, atol=1e-6)
    ros_node.wait_for(lambda: count('history_resets') == 3, 10, 'service reset counted')
    assert h.alive()
