# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The L-module and context node take their joints from the robot description, or refuse."""

import pytest

pytestmark = pytest.mark.integration

URDF = """<?xml version="1.0"?>
<robot name="two_link">
  <link name="base"/><link name="upper"/><link name="fore"/>
  <joint name="joint0" type="revolute"><parent link="base"/><child link="upper"/>
    <limit lower="-2.5" upper="2.5" velocity="4.0" effort="10"/></joint>
  <joint name="joint1" type="revolute"><parent link="upper"/><child link="fore"/>
    <limit lower="-1.5" upper="1.5" velocity="3.0" effort="10"/></joint>
</robot>
"""


def exit_output(node, timeout=60.0):
    """Wait for the node to exit; return (code, output)."""
    node.proc.wait(timeout)
    return node.proc.returncode, node.output()


def test_l_module_refuses_overrides_that_disagree_with_the_description(
        launch_node, hl, hl_registry, tmp_path):
    urdf = tmp_path / 'arm.urdf'
    urdf.write_text(URDF)
    node = launch_node('sage_hl_control', 'l_module', name='l_module', params=hl.l_params(
        hl_registry, robot_description=str(urdf), joint_names=['joint0', 'wrist']))
    code, output = exit_output(node)
    assert code == 1
    assert "joint names disagree: joint_names ['joint0', 'wrist']" in output
    assert f"robot description ({urdf}) ['joint0', 'joint1']" in output
    assert 'l_module: fatal: autostart: configure failed' in output


def test_l_module_refuses_a_joint_without_an_acceleration_limit(launch_node, hl, hl_registry):
    params = hl.l_params(hl_registry)  # the sim's MJCF by default: no acceleration limits
    del params['max_acceleration']
    code, output = exit_output(launch_node('sage_hl_control', 'l_module', name='l_module',
                                           params=params))
    assert code == 1
    assert 'joint joint0: no acceleration limit (max_acceleration)' in output


def test_l_module_reads_the_latched_robot_description_topic(launch_node, ros_node, hl,
                                                            hl_registry):
    from sage_common.qos import latched_qos
    from std_msgs.msg import String

    pub = ros_node.node.create_publisher(String, '/robot_description', latched_qos())
    pub.publish(String(data=URDF))
    params = {k: v for k, v in hl.l_params(hl_registry).items()
              if k not in ('joint_names', 'position_lower', 'position_upper', 'max_velocity')}
    node = launch_node('sage_hl_control', 'l_module', name='l_module', params=dict(
        params, robot_description='', robot_description_topic='/robot_description'))
    node.wait_for_output(r"joints \['joint0', 'joint1'\] from /robot_description, "
                         r'overridden by max_acceleration')
    node.wait_for_output('configured: L-module')
    assert node.alive()


def test_nodes_refuse_to_start_without_the_description_on_the_topic(launch_node, hl,
                                                                      hl_registry):
    l_node = launch_node('sage_hl_control', 'l_module', name='l_module', params=dict(
        hl.l_params(hl_registry), robot_description='', robot_description_topic='/nobody',
        robot_description_timeout=1.0))
    context = launch_node('sage_perception', 'context_node', name='context_node', params={
        'model_dir': str(hl_registry), 'robot_description': '',
        'robot_description_topic': '/nobody', 'robot_description_timeout': 1.0})
    for node, name in ((l_node, 'l_module'), (context, 'context_node')):
        code, output = exit_output(node)
        assert code == 1, output
        assert 'no robot description on /nobody within 1 s' in output, output


def test_l_module_refuses_overrides_looser_than_the_description(launch_node, hl, hl_registry,
                                                                tmp_path):
    urdf = tmp_path / 'arm.urdf'
    urdf.write_text(URDF)  # joint1 +-1.5 rad; the overrides below say +-3.0
    node = launch_node('sage_hl_control', 'l_module', name='l_module', params=hl.l_params(
        hl_registry, robot_description=str(urdf)))
    code, output = exit_output(node)
    assert code == 1
    assert "joint joint1: position_lower -3.0 is looser than the robot description's -1.5" \
        in output
    assert 'allow_looser_limits' in output
