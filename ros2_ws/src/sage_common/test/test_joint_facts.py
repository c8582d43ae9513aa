# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Joint names and limits from URDF and MJCF, merged with a node's overrides."""

import importlib.util
import math

import pytest
from sage_common.joint_facts import (JointFacts, load_description, merge, parse_description,
                                     resolve, widened)

URDF = """<?xml version="1.0"?>
<robot name="two_link">
  <link name="base"/><link name="upper"/><link name="fore"/><link name="tip"/>
  <joint name="shoulder" type="revolute">
    <parent link="base"/><child link="upper"/>
    <limit lower="-1.5" upper="1.5" velocity="2.0" effort="10"/>
  </joint>
  <joint name="elbow" type="continuous">
    <parent link="upper"/><child link="fore"/>
    <limit velocity="3.0" effort="5"/>
  </joint>
  <joint name="tool" type="fixed"><parent link="fore"/><child link="tip"/></joint>
</robot>
"""

ROS2_CONTROL = URDF.replace('</robot>', """
  <ros2_control name="arm" type="system">
    <joint name="elbow">
      <command_interface name="position">
        <param name="min">-2.0</param><param name="max">2.5</param>
      </command_interface>
      <command_interface name="velocity">
        <param name="min">-1.0</param><param name="max">1.0</param>
      </command_interface>
      <state_interface name="position"/>
    </joint>
    <joint name="shoulder">
      <command_interface name="position">
        <param name="min">-1.0</param><param name="max">2.0</param>
      </command_interface>
    </joint>
  </ros2_control>
</robot>""")

REACHER = 'python://gymnasium/envs/mujoco/assets/reacher.xml'
nan = math.nan


def same(a, b):
    return len(a) == len(b) and all(x == y or (math.isnan(x) and math.isnan(y))
                                    for x, y in zip(a, b))


def test_urdf_movable_joints_and_limits():
    facts = parse_description(URDF, 'arm.urdf')
    assert facts.names == ['shoulder', 'elbow']
    assert same(facts.lower, [-1.5, nan]) and same(facts.upper, [1.5, nan])
    assert facts.velocity == [2.0, 3.0]
    assert same(facts.acceleration, [nan, nan])  # URDF has none


def test_urdf_ros2_control_commanded_joints_and_tighter_limits():
    facts = parse_description(ROS2_CONTROL)
    assert facts.names == ['elbow', 'shoulder']  # the ros2_control block's joints and order
    assert facts.lower == [-2.0, -1.0] and facts.upper == [2.5, 1.5]
    assert facts.velocity == [1.0, 2.0]


def test_urdf_mimic_joints_are_not_commanded():
    text = URDF.replace('<limit velocity="3.0" effort="5"/>',
                        '<limit velocity="3.0" effort="5"/><mimic joint="shoulder"/>')
    assert parse_description(text).names == ['shoulder']


def test_doctype_and_entities_are_refused():
    bomb = ('<?xml version="1.0"?><!DOCTYPE robot [<!ENTITY a "aaaa">]>'
            '<robot name="r">&a;</robot>')
    with pytest.raises(ValueError, match='DOCTYPE'):
        parse_description(bomb)
    with pytest.raises(ValueError, match='not well-formed'):
        parse_description('<robot name="r">')
    with pytest.raises(ValueError, match='neither a URDF'):
        parse_description('<sdf/>')


@pytest.mark.skipif(importlib.util.find_spec('gymnasium') is None,
                    reason="the simulator's model comes with gymnasium")
def test_the_simulators_mjcf():
    facts = parse_description(load_description(REACHER), 'reacher.xml')
    # the actuated joints only (not the goal's slide joints); joint0 is unlimited
    assert facts.names == ['joint0', 'joint1']
    assert same(facts.lower, [nan, -3.0]) and same(facts.upper, [nan, 3.0])
    assert same(facts.velocity, [nan, nan])


def test_mjcf_defaults_degrees_and_position_actuators():
    text = """<mujoco>
      <default><joint limited="true"/>
        <default class="wrist"><joint range="-90 90"/></default></default>
      <worldbody><body childclass="wrist">
        <joint name="a" type="hinge"/>
        <joint name="b" type="hinge" class="main" range="0 45"/>
        <joint name="c" type="slide" limited="false" range="-1 1"/>
        <joint name="free" type="hinge"/>
      </body></worldbody>
      <actuator><position joint="a"/><motor joint="b" ctrlrange="-1 1"/>
        <position joint="c" ctrlrange="-0.5 0.5"/>
        <velocity joint="a" ctrlrange="-90 90"/></actuator>
    </mujoco>"""
    facts = parse_description(text)
    assert facts.names == ['a', 'b', 'c']  # 'free' has no actuator
    assert facts.lower == pytest.approx([-math.pi / 2, 0.0, -0.5])
    assert facts.upper == pytest.approx([math.pi / 2, math.pi / 4, 0.5])
    assert facts.velocity[0] == pytest.approx(math.pi / 2)


def test_merge_takes_the_description_when_nothing_overrides():
    facts = merge(parse_description(URDF), {'acceleration': [5.0, 6.0],
                                            'lower': [nan, -3.0], 'upper': [nan, 3.0]})
    assert facts.names == ['shoulder', 'elbow']
    assert facts.lower == [-1.5, -3.0] and facts.upper == [1.5, 3.0]
    assert facts.velocity == [2.0, 3.0] and facts.acceleration == [5.0, 6.0]


def test_merge_overrides_win_and_may_reorder():
    description = parse_description(URDF)
    facts = merge(description, {'names': ['elbow', 'shoulder'], 'lower': [-3.0, -1.0],
                                'upper': [3.0, 1.0], 'velocity': [], 'acceleration': [7, 8]})
    assert facts.names == ['elbow', 'shoulder']
    assert facts.lower == [-3.0, -1.0] and facts.upper == [3.0, 1.0]
    assert facts.velocity == [3.0, 2.0]  # the description's, in the override's order
    assert facts.acceleration == [7.0, 8.0]
    looser = {'names': ['shoulder', 'elbow'], 'lower': [-2.0, -1], 'upper': [1.0, 1],
              'acceleration': [1, 1]}
    with pytest.raises(ValueError, match='joint shoulder: position_lower -2.0 is looser than '
                       "the robot description's -1.5: remove or tighten"):
        merge(description, looser)
    assert widened(description, merge(description, looser, allow_looser=True)) == [
        "joint shoulder: position_lower -2.0 is looser than the robot description's -1.5"]


def test_merge_refuses_names_that_disagree():
    with pytest.raises(ValueError) as error:
        merge(parse_description(URDF, 'arm.urdf'), {'names': ['shoulder', 'wrist']})
    message = str(error.value)
    assert "['shoulder', 'wrist']" in message and "['shoulder', 'elbow']" in message
    assert 'arm.urdf' in message
    with pytest.raises(ValueError, match='disagree'):
        merge(parse_description(URDF), {'names': ['shoulder']})


def test_merge_refuses_a_missing_limit_naming_joint_and_field():
    with pytest.raises(ValueError, match=r'joint elbow: no lower limit \(position_lower\)'):
        merge(parse_description(URDF), {'acceleration': [1.0, 1.0]})
    with pytest.raises(ValueError, match=r'joint shoulder: no acceleration limit'):
        merge(parse_description(URDF), {'lower': [nan, -1], 'upper': [nan, 1]})
    # only the required fields must be there (the context node needs the names alone)
    assert merge(parse_description(URDF), required=()).names == ['shoulder', 'elbow']


def test_merge_without_a_description_and_bad_values():
    facts = merge(None, {'names': ['j'], 'lower': [-1], 'upper': [1], 'velocity': [1],
                         'acceleration': [1]})
    assert facts.settings() == {'joint_names': ['j'], 'position_lower': [-1.0],
                                'position_upper': [1.0], 'max_velocity': [1.0],
                                'max_acceleration': [1.0]}
    with pytest.raises(ValueError, match='no joint names'):
        merge(None, {})
    with pytest.raises(ValueError, match='2 values for 1 joints'):
        merge(None, {'names': ['j'], 'lower': [1, 2]})
    with pytest.raises(ValueError, match='not below'):
        merge(None, {'names': ['j'], 'lower': [1], 'upper': [0]}, required=())
    with pytest.raises(ValueError, match='> 0'):
        merge(None, {'names': ['j'], 'velocity': [0]}, required=())
    with pytest.raises(ValueError, match='3 values of lower'):
        JointFacts(['a'], [1, 2, 3])


def test_load_description_references(tmp_path):
    path = tmp_path / 'arm.urdf'
    path.write_text(URDF)
    assert load_description(str(path)) == URDF
    assert load_description('file://' + str(path)) == URDF
    assert load_description(URDF) == URDF.strip()
    with pytest.raises(ValueError, match='cannot read'):
        load_description(str(tmp_path / 'none.urdf'))
    with pytest.raises(ValueError, match='no installed Python package'):
        load_description('python://no_such_package_here/x.xml')
    overrides = {'acceleration': [1, 1], 'lower': [nan, -1], 'upper': [nan, 1]}
    facts, description = resolve(str(path), overrides)
    assert description.source == str(path) and facts.lower == [-1.5, -1.0]
    assert resolve('', {'names': ['j']}, required=())[1] is None
