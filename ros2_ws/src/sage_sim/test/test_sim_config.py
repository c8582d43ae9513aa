# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The installed parameter files hold exactly the nodes' declared defaults."""

from pathlib import Path

import pytest
from sage_sim import sim_robot_node, teacher_node
import yaml

CONFIG = Path(__file__).resolve().parents[1] / 'config'


@pytest.mark.parametrize('node, module, extra', [
    ('sim_robot', sim_robot_node, {}),
    ('teacher', teacher_node, {'joint_names': teacher_node.JOINT_NAMES}),
])
def test_config_matches_declared_defaults(node, module, extra):
    params = yaml.safe_load((CONFIG / f'{node}.yaml').read_text())[node]['ros__parameters']
    declared = {name: spec[0] for name, spec in module.PARAMETERS.items()}
    declared.update(extra)
    assert params == declared
    for name, value in params.items():
        assert type(value) is type(declared[name]), name
