# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The nodes' default description is the simulator's model, read as MuJoCo compiles it."""

import os

import mujoco
import numpy as np
from sage_common.joint_facts import load_description, parse_description, SIM_DESCRIPTION
from sage_sim.robot import default_model_path, load_model, MujocoRobot


def test_the_default_description_is_the_simulators_model():
    assert load_description(SIM_DESCRIPTION) == open(default_model_path()).read()
    assert os.path.isfile(default_model_path())


def test_mjcf_joint_facts_agree_with_the_compiled_model():
    facts = parse_description(load_description(SIM_DESCRIPTION), 'reacher.xml')
    model = load_model(camera='')
    robot = MujocoRobot(width=32, height=32)
    assert facts.names == list(robot.joint_names)  # the actuated joints, in the sim's order
    for name, lower, upper in zip(facts.names, facts.lower, facts.upper):
        joint = model.joint(name).id
        if model.jnt_limited[joint]:
            assert np.allclose([lower, upper], model.jnt_range[joint]), name
        else:
            assert np.isnan(lower) and np.isnan(upper), name
    assert mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, 'target_x') >= 0  # not commanded
