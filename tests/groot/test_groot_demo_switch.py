# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The demo's `teacher: groot` switch: configuration and the node specs it starts."""

import pytest
from sage_bringup import demo_config, demo_phases
from sage_bringup import graph as graph_mod


def write(tmp_path, text):
    path = tmp_path / 'demo.yaml'
    path.write_text(text)
    return path


def test_teacher_key_is_validated(tmp_path):
    assert demo_config.load_config(write(tmp_path, 'seed: 0\n')).teacher == 'scripted'
    assert demo_config.load_config(write(tmp_path, 'teacher: groot\n')).teacher == 'groot'
    with pytest.raises(demo_config.ConfigError, match='teacher must be scripted or groot'):
        demo_config.load_config(write(tmp_path, 'teacher: gemini\n'))


def test_groot_replaces_the_scripted_teacher_with_server_and_node():
    specs = graph_mod.load().resolve({'robot': 'sim', 'driver': 'teacher'},
                                     only=['teacher', 'l_module'])
    replaced = demo_phases.groot_teacher(specs)
    names = [s.name for s in replaced]
    assert names == ['groot_server', 'groot_teacher', 'l_module']
    server, teacher = replaced[0], replaced[1]
    assert server.executable == demo_phases.GROOT_SERVER and server.executable_path.is_file()
    port = teacher.params['port']
    assert server.arguments == ('--protocol', 'n1.5', '--port', str(port))
    assert teacher.params['output_topic'] == '/arm_controller/commands'
    assert all(path.is_file() for path in teacher.params_files)
    assert teacher.remaps == specs[[s.name for s in specs].index('teacher')].remaps
