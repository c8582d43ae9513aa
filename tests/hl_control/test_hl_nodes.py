# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""H- and L-module nodes as separate processes over real DDS: data path and lifecycle."""

import time

import numpy as np
import pytest
from sage_perception import layout

pytestmark = pytest.mark.integration


def test_h_module_compresses_valid_contexts_and_rejects_bad_ones(launch_node, ros_node, hl,
                                                                 hl_registry):
    from diagnostic_msgs.msg import DiagnosticArray
    from sage_interfaces.msg import CompressedContext, Context

    h = launch_node('sage_hl_control', 'h_module', name='h_module',
                    params=hl.h_params(hl_registry))
    out = ros_node.collect(CompressedContext, '/sage/context_compressed', 100)
    diags = ros_node.collect(DiagnosticArray, '/diagnostics', 50)
    pub = ros_node.node.create_publisher(Context, '/sage/context', 50)
    h.wait_for_output(r'H-module v0001')
    ros_node.wait_for(lambda: pub.get_subscription_count() > 0, 20, 'h_module subscription')
    nan = np.zeros(layout.DIM)
    nan[100] = np.nan
    inf = np.zeros(layout.DIM)
    inf[4000] = np.inf
    bad = [hl.make_context(ros_node, data=nan), hl.make_context(ros_node, data=inf),
           hl.make_context(ros_node, data=np.zeros(4000)),
           hl.make_context(ros_node, version='enc_unknown')]
    good = []
    modalities = layout.PRESENT_COLOR | layout.PRESENT_DEPTH | layout.PRESENT_JOINTS
    for i in range(8):
        msg = hl.make_context(ros_node, presence=modalities)
        good.append(msg)
        pub.publish(msg)
        pub.publish(bad[i % len(bad)])
        time.sleep(0.05)
    ros_node.wait_for(lambda: len(out) >= len(good), 20, 'compressed contexts')
    time.sleep(0.3)
    assert len(out) == len(good)  # exactly one per valid context, none for bad ones
    for src, msg in zip(good, out):
        assert msg.header.stamp == src.header.stamp
        assert msg.header.frame_id == 'camera'
        assert len(msg.data) == layout.COMPRESSED_DIM and np.all(np.isfinite(np.array(msg.data)))
        assert msg.presence == modalities
        assert msg.model_version == 'v0001'
        assert msg.context_model_version == hl.ENCODER
    ros_node.wait_for(lambda: (hl.latest_diag(diags, 'sage: h_module') or {}).get(
        'published') == str(len(good)), 10, 'h_module diagnostics')
    values = hl.latest_diag(diags, 'sage: h_module')
    assert values['rejected_non_finite'] == '4'
    assert values['rejected_wrong_size'] == '2'
    assert values['rejected_unknown_version'] == '2'
    assert h.alive()


def test_l_module_drives_safely_and_follows_its_lifecycle(
        launch_node, ros_node, hl, hl_registry, feeders):
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState, GetState
    from sage_interfaces.msg import Context
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    launch_node('sage_hl_control', 'h_module', name='h_module',
                params=hl.h_params(hl_registry))
    l_node = launch_node('sage_hl_control', 'l_module', name='l_module',
                         params=hl.l_params(hl_registry))
    cmds = ros_node.collect(Float64MultiArray, '/arm_controller/commands', 500)
    feeders(ros_node, JointState, '/joint_states', lambda i: hl.make_joints(ros_node), 100)
    feeders(ros_node, Context, '/sage/context', lambda i: hl.make_context(ros_node), 30)
    l_node.wait_for_output(r'active: publishing')
    ros_node.wait_for(lambda: sum(not hl.is_hold(m) for m in cmds) >= 50, 30,
                      'commands from the model (not holding)')
    hl.assert_commands_safe(list(cmds))

    def transition(tid):
        req = ChangeState.Request()
        req.transition.id = tid
        assert ros_node.call(ChangeState, '/l_module/change_state', req).success

    transition(Transition.TRANSITION_DEACTIVATE)
    state = ros_node.call(GetState, '/l_module/get_state', GetState.Request())
    assert state.current_state.label == 'inactive'
    time.sleep(0.3)
    count = len(cmds)
    time.sleep(1.0)
    assert len(cmds) == count  # nothing while inactive
    transition(Transition.TRANSITION_CLEANUP)
    transition(Transition.TRANSITION_CONFIGURE)
    transition(Transition.TRANSITION_ACTIVATE)
    ros_node.wait_for(lambda: len(cmds) > count + 50, 20, 'commands after re-activation')
    assert l_node.alive()
    hl.assert_commands_safe(list(cmds)[count:])


def test_l_module_waits_for_activation_and_shadows_as_trajectory(launch_node, ros_node, hl,
                                                                 hl_registry, feeders):
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    from sage_interfaces.msg import CompressedContext
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray
    from trajectory_msgs.msg import JointTrajectory

    l_node = launch_node('sage_hl_control', 'l_module', name='l_module',
                         params=hl.l_params(hl_registry, autostart=False, mode='shadow',
                                            output_type='joint_trajectory'))
    shadow = ros_node.collect(JointTrajectory, '/sage/shadow/commands', 500)
    drive = ros_node.collect(Float64MultiArray, '/arm_controller/commands', 10)
    drive_traj = ros_node.collect(JointTrajectory, '/arm_controller/joint_trajectory', 10)
    feeders(ros_node, JointState, '/joint_states', lambda i: hl.make_joints(ros_node), 100)
    feeders(ros_node, CompressedContext, '/sage/context_compressed',
            lambda i: hl.make_compressed(ros_node), 30)
    for tid in (Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE):
        assert not shadow  # unconfigured / inactive: silent
        time.sleep(1.0)
        assert not shadow
        req = ChangeState.Request()
        req.transition.id = tid
        assert ros_node.call(ChangeState, '/l_module/change_state', req).success
    ros_node.wait_for(lambda: sum(not hl.is_hold(m) for m in shadow) >= 20, 20,
                      'shadow trajectory commands')
    msg = shadow[-1]
    assert list(msg.joint_names) == hl.JOINTS and len(msg.points) == 1
    hl.assert_commands_safe(list(shadow))
    assert not drive and not drive_traj  # shadow mode never drives the robot
    assert l_node.alive()


def test_l_module_drops_the_previous_episode_at_an_episode_start(launch_node, ros_node, hl,
                                                                 hl_registry, feeders):
    from builtin_interfaces.msg import Time
    from diagnostic_msgs.msg import DiagnosticArray
    from sage_common.qos import reliable_qos
    from sage_interfaces.msg import CompressedContext
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray, Header

    l_node = launch_node('sage_hl_control', 'l_module', name='l_module',
                         params=hl.l_params(hl_registry, diagnostics_period=0.2))
    cmds = ros_node.collect(Float64MultiArray, '/arm_controller/commands', 1000)
    diags = ros_node.collect(DiagnosticArray, '/diagnostics', 50)
    feeders(ros_node, JointState, '/joint_states', lambda i: hl.make_joints(ros_node), 100)
    feeders(ros_node, CompressedContext, '/sage/context_compressed',
            lambda i: hl.make_compressed(ros_node), 30)
    ros_node.wait_for(lambda: len(cmds) > 20 and not hl.is_hold(cmds[-1]), 30, 'driving')
    # The next episode starts 3 s from now: contexts stamped before it are the old episode's.
    start = ros_node.node.get_clock().now().nanoseconds + 3 * 10**9
    pub = ros_node.node.create_publisher(Header, '/sage/episode_start', reliable_qos())
    ros_node.wait_for(lambda: pub.get_subscription_count() > 0, 10, 'episode_start subscriber')
    pub.publish(Header(stamp=Time(sec=start // 10**9, nanosec=start % 10**9), frame_id='1'))
    l_node.wait_for_output(r'episode start \(1\)')
    ros_node.wait_for(lambda: hl.is_hold(cmds[-1]), 5, 'hold: only old-episode contexts')
    assert ros_node.node.get_clock().now().nanoseconds < start
    ros_node.wait_for(lambda: int((hl.latest_diag(diags, 'sage: l_module') or {}).get(
        'rejected_previous_episode', 0)) > 0, 5, 'old-episode chunks refused')
    ros_node.wait_for(lambda: not hl.is_hold(cmds[-1]), 10, 'driving in the new episode')
    values = hl.latest_diag(diags, 'sage: l_module')
    assert values['episodes'] == '1'
    hl.assert_commands_safe(list(cmds))
    assert l_node.alive()
