# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Fault injection over real DDS: bad inputs, a killed H-module, the e-stop, a corrupt model.

In every case no non-finite or out-of-limit command leaves the L-module and it keeps running.
"""

import shutil
import signal
import time

import numpy as np
import pytest
from sage_perception import layout

pytestmark = pytest.mark.integration


def test_bad_compressed_contexts_and_joint_states_never_reach_the_robot(
        launch_node, ros_node, hl, hl_registry, feeders):
    from diagnostic_msgs.msg import DiagnosticArray
    from sage_interfaces.msg import CompressedContext
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    l_node = launch_node('sage_hl_control', 'l_module', name='l_module',
                         params=hl.l_params(hl_registry))
    cmds = ros_node.collect(Float64MultiArray, '/arm_controller/commands', 1000)
    diags = ros_node.collect(DiagnosticArray, '/diagnostics', 50)
    joints = feeders(ros_node, JointState, '/joint_states',
                     lambda i: hl.make_joints(ros_node), 100)
    nan, inf = np.zeros(layout.COMPRESSED_DIM), np.zeros(layout.COMPRESSED_DIM)
    nan[3], inf[7] = np.nan, -np.inf

    def out_of_order():  # valid, but stamped before the context acted on last
        msg = hl.make_compressed(ros_node)
        msg.header.stamp.sec -= 1
        return msg

    bad = [lambda: hl.make_compressed(ros_node, data=nan),
           lambda: hl.make_compressed(ros_node, data=inf),
           lambda: hl.make_compressed(ros_node, data=np.zeros(layout.COMPRESSED_DIM - 1)),
           lambda: hl.make_compressed(ros_node, version='v9999'), out_of_order]
    feeders(ros_node, CompressedContext, '/sage/context_compressed',
            lambda i: bad[(i // 2) % len(bad)]() if i % 2 else hl.make_compressed(ros_node), 60)
    l_node.wait_for_output(r'active: publishing')
    ros_node.wait_for(lambda: sum(not hl.is_hold(m) for m in cmds) >= 30, 20,
                      'model commands despite bad contexts')
    # Joint states missing a joint: refused, so the joints go stale and the node holds.
    joints.make = lambda i: hl.make_joints(ros_node, names=['joint0'], positions=[0.3])
    time.sleep(0.3)
    mark = len(cmds)
    ros_node.wait_for(lambda: len(cmds) > mark + 20, 10, 'commands while joints are stale')
    assert all(hl.is_hold(m) for m in list(cmds)[mark + 5:])
    joints.make = lambda i: hl.make_joints(ros_node)
    ros_node.wait_for(lambda: not hl.is_hold(cmds[-1]), 10, 'resumed after fresh joints')
    ros_node.wait_for(lambda: int((hl.latest_diag(diags, 'sage: l_module') or {}).get(
        'rejected_joint_state_missing_joint', 0)) > 0, 10, 'diagnostics')
    values = hl.latest_diag(diags, 'sage: l_module')
    for key in ('rejected_non_finite', 'rejected_wrong_size', 'rejected_unknown_version',
                'rejected_context_out_of_order', 'safety_hold_stale_joints'):
        assert int(values[key]) > 0, key
    hl.assert_commands_safe(list(cmds))
    assert l_node.alive()


def test_killing_the_h_module_makes_l_hold_then_estop_latches(
        launch_node, ros_node, hl, hl_registry, feeders):
    from sage_interfaces.msg import Context
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Bool, Float64MultiArray
    from sage_common.qos import latched_qos

    h = launch_node('sage_hl_control', 'h_module', name='h_module',
                    params=hl.h_params(hl_registry))
    l_node = launch_node('sage_hl_control', 'l_module', name='l_module',
                         params=hl.l_params(hl_registry))
    cmds = ros_node.collect(Float64MultiArray, '/arm_controller/commands', 1000)
    feeders(ros_node, JointState, '/joint_states', lambda i: hl.make_joints(ros_node), 100)
    feeders(ros_node, Context, '/sage/context', lambda i: hl.make_context(ros_node), 30)
    l_node.wait_for_output(r'active: publishing')
    ros_node.wait_for(lambda: len(cmds) > 20 and not hl.is_hold(cmds[-1]), 30, 'driving')
    h.signal(signal.SIGKILL)
    h.proc.wait(5)
    mark = len(cmds)
    ros_node.wait_for(lambda: len(cmds) > mark + 30, 10, 'commands after the kill')
    assert all(hl.is_hold(m) for m in list(cmds)[-15:])  # holding the measured position
    assert l_node.alive()

    # The H-module comes back: L resumes. Then the e-stop latches until released.
    launch_node('sage_hl_control', 'h_module', name='h_module', params=hl.h_params(hl_registry))
    ros_node.wait_for(lambda: not hl.is_hold(cmds[-1]), 30, 'resumed with a new H-module')
    estop = ros_node.node.create_publisher(Bool, '/sage/estop', latched_qos())
    estop.publish(Bool(data=True))
    ros_node.wait_for(lambda: hl.is_hold(cmds[-1]), 10, 'e-stop hold')
    mark = len(cmds)
    time.sleep(1.0)
    assert all(hl.is_hold(m) for m in list(cmds)[mark:])  # stays latched
    l_node.wait_for_output(r'E-STOP pressed')
    estop.publish(Bool(data=False))
    ros_node.wait_for(lambda: not hl.is_hold(cmds[-1]), 10, 'resumed after release')
    l_node.wait_for_output(r'e-stop released')
    hl.assert_commands_safe(list(cmds))
    assert l_node.alive()


def test_corrupt_model_reload_is_refused_and_good_one_takes_over(launch_node, ros_node, hl,
                                                                 hl_registry, feeders,
                                                                 tmp_path):
    from sage_common.registry import ModelRegistry
    from sage_hl_control.models import publish_initial_h_module, publish_initial_l_module
    from sage_interfaces.msg import CompressedContext, Context
    from sage_interfaces.srv import LoadModel
    from sensor_msgs.msg import JointState
    from std_msgs.msg import Float64MultiArray

    root = tmp_path / 'models'
    shutil.copytree(hl_registry, root)
    registry = ModelRegistry(root)
    h = launch_node('sage_hl_control', 'h_module', name='h_module', params=hl.h_params(root))
    l_node = launch_node('sage_hl_control', 'l_module', name='l_module',
                         params=hl.l_params(root))
    cmds = ros_node.collect(Float64MultiArray, '/arm_controller/commands', 1000)
    compressed = ros_node.collect(CompressedContext, '/sage/context_compressed', 100)
    feeders(ros_node, JointState, '/joint_states', lambda i: hl.make_joints(ros_node), 100)
    feeders(ros_node, Context, '/sage/context', lambda i: hl.make_context(ros_node), 30)
    ros_node.wait_for(lambda: len(cmds) > 20 and not hl.is_hold(cmds[-1]), 30, 'driving')
    # Corrupt versions: a truncated ONNX file (hash mismatch) for each model.
    bad_l = publish_initial_l_module(registry, seed=1)
    bad_h = publish_initial_h_module(registry, seed=1)
    for mv in (bad_l, bad_h):
        path = mv.path('model.onnx')
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    for node, mv in (('l_module', bad_l), ('h_module', bad_h)):
        res = ros_node.call(LoadModel, f'/{node}/load_model',
                            LoadModel.Request(version=mv.version))
        assert not res.success and 'sha256' in res.message, res.message
        assert res.active_version == 'v0001'
    res = ros_node.call(LoadModel, '/l_module/load_model', LoadModel.Request(version='v0077'))
    assert not res.success and res.active_version == 'v0001'
    mark = len(cmds)
    ros_node.wait_for(lambda: len(cmds) > mark + 30, 10, 'still commanding')
    assert not hl.is_hold(cmds[-1])
    # A good version is accepted and takes over at the next context / chunk.
    good_h = publish_initial_h_module(registry, seed=2)
    good_l = publish_initial_l_module(registry, seed=2)
    for node, mv in (('l_module', good_l), ('h_module', good_h)):
        res = ros_node.call(LoadModel, f'/{node}/load_model',
                            LoadModel.Request(version=mv.version))
        assert res.success and res.active_version == mv.version, res.message
    ros_node.wait_for(lambda: compressed and compressed[-1].model_version == good_h.version, 10,
                      'new H version in the compressed contexts')
    l_node.wait_for_output(rf'L-module {good_l.version} took over')
    h.wait_for_output(rf'H-module {good_h.version} took over')
    mark = len(cmds)
    ros_node.wait_for(lambda: len(cmds) > mark + 30 and not hl.is_hold(cmds[-1]), 10,
                      'driving with the new versions')
    hl.assert_commands_safe(list(cmds))
    assert h.alive() and l_node.alive()
