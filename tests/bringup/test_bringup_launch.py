# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
launch/sage.launch.py against the graph description it shares with the supervisor.

`launch`/`launch_ros` are not installable here (not wheels), so the launch file is imported
with minimal recording stand-ins for the five modules it uses: this runs its real code
(argument declaration, the OpaqueFunction resolving them into Node actions) but not
ros2 launch. Where launch_ros is importable (a robot with a ROS distro), the same checks run
against the real classes.
"""

import importlib.util
from pathlib import Path
import sys
import types

import pytest
from sage_bringup import graph
from sage_common.processes import package_share
import yaml

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILE = ROOT / 'launch' / 'sage.launch.py'
GRAPH_FILE = ROOT / 'launch' / 'sage_graph.yaml'


def _real_launch_available():
    try:
        return importlib.util.find_spec('launch_ros') is not None
    except ValueError:
        return False


class _Recorded:
    """A stand-in action: remembers its constructor arguments."""

    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs


class _LaunchConfiguration:
    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context.launch_configurations[self.name]


def _stand_in_modules():
    def module(name, **members):
        mod = types.ModuleType(name)
        mod.__dict__.update(members)
        return mod

    kinds = {name: type(name, (_Recorded,), {})
             for name in ('LaunchDescription', 'DeclareLaunchArgument', 'OpaqueFunction',
                          'Shutdown', 'Node')}
    return kinds, {
        'launch': module('launch', LaunchDescription=kinds['LaunchDescription']),
        'launch.actions': module('launch.actions', **{
            k: kinds[k] for k in ('DeclareLaunchArgument', 'OpaqueFunction', 'Shutdown')}),
        'launch.substitutions': module('launch.substitutions',
                                       LaunchConfiguration=_LaunchConfiguration),
        'launch_ros': module('launch_ros'),
        'launch_ros.actions': module('launch_ros.actions', Node=kinds['Node']),
    }


def _import_launch_file():
    spec = importlib.util.spec_from_file_location('sage_launch_under_test', LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def stand_in_launch(monkeypatch):
    """Import the launch file with the recording stand-ins; return (module, kinds)."""
    kinds, modules = _stand_in_modules()
    for name, mod in modules.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return _import_launch_file(), kinds


@pytest.fixture
def fake_install(tmp_path, monkeypatch):
    """Build an install prefix holding every package, executable and params file named."""
    root = tmp_path / 'install'
    for node in graph.load(GRAPH_FILE).nodes:
        package = node['package']
        (root / 'share/ament_index/resource_index/packages').mkdir(parents=True, exist_ok=True)
        (root / 'share/ament_index/resource_index/packages' / package).write_text('')
        exe = root / 'lib' / package / node['executable']
        exe.parent.mkdir(parents=True, exist_ok=True)
        exe.write_text('#!/bin/sh\n')
        exe.chmod(0o755)
        for relative in node.get('params_files', []):
            path = root / 'share' / package / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump({node['name']: {'ros__parameters': {}}}))
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(root))
    monkeypatch.setenv('SAGE_ROOT', '/sage')
    return root


def test_declared_arguments_equal_the_description(stand_in_launch):
    module, kinds = stand_in_launch
    description = module.generate_launch_description()
    entities = description.args[0]
    declared = [e for e in entities if isinstance(e, kinds['DeclareLaunchArgument'])]
    expected = graph.load(GRAPH_FILE).arguments
    assert [d.args[0] for d in declared] == list(expected)
    for action in declared:
        arg = expected[action.args[0]]
        assert action.kwargs['default_value'] == arg.default
        assert action.kwargs['description'] == arg.description
        assert tuple(action.kwargs.get('choices', ())) == arg.choices
    assert isinstance(entities[-1], kinds['OpaqueFunction'])


@pytest.mark.parametrize('overrides', [{}, {'robot': 'hardware', 'color_topic': '/rgb'}])
def test_node_actions_equal_the_resolved_description(stand_in_launch, fake_install,
                                                     overrides):
    module, kinds = stand_in_launch
    description = graph.load(GRAPH_FILE)
    values = {**description.defaults(), **overrides}
    context = types.SimpleNamespace(launch_configurations=values)
    opaque = module.generate_launch_description().args[0][-1]
    actions = opaque.kwargs['function'](context)
    specs = description.resolve(overrides)
    assert len(actions) == len(specs)
    for action, spec in zip(actions, specs):
        assert isinstance(action, kinds['Node'])
        kw = action.kwargs
        assert (kw['package'], kw['executable'], kw['name']) == \
            (spec.package, spec.executable, spec.name)
        files = [str(p) for p in spec.params_files]
        assert kw['parameters'] == files + ([spec.params] if spec.params else [])
        assert kw['remappings'] == list(spec.remaps)
        assert kw['arguments'] == list(spec.arguments)
        # ros2 launch restarts a respawning node; only a final exit of a required one stops
        assert kw.get('respawn', False) == spec.respawn
        assert kw.get('respawn_delay', 0.0) == spec.respawn_delay
        assert ('on_exit' in kw) == (spec.required and not spec.respawn)
        if 'on_exit' in kw:
            assert isinstance(kw['on_exit'], kinds['Shutdown'])
    names = {a.kwargs['name'] for a in actions}
    assert ('sim_robot' in names) == (values['robot'] == 'sim')


@pytest.mark.skipif(not _real_launch_available(), reason='launch_ros is not installed here')
def test_real_launch_ros_builds_the_described_nodes():
    import launch
    from launch.utilities import normalize_to_list_of_substitutions, perform_substitutions
    from launch_ros.actions import Node

    module = _import_launch_file()
    description = module.generate_launch_description()
    context = launch.LaunchContext()
    for entity in description.entities[:-1]:
        entity.visit(context)
    actions = description.entities[-1].visit(context)
    specs = graph.load(GRAPH_FILE).resolve()
    assert [type(a) for a in actions] == [Node] * len(specs)

    def text(value):
        return perform_substitutions(context, normalize_to_list_of_substitutions(value))

    for action, spec in zip(actions, specs):
        assert text(action.node_package) == spec.package
        assert text(action.node_executable) == spec.executable
        action._perform_substitutions(context)
        assert action.node_name.rsplit('/', 1)[-1] == spec.name
        assert list(action.expanded_remapping_rules) == list(spec.remaps)


@pytest.mark.parametrize('robot', ['sim', 'hardware'])
@pytest.mark.parametrize('driver', ['teacher', 'sage'])
def test_every_node_names_an_installed_executable(robot, driver):
    """Against the real workspace install: every node of the graph is built and installed."""
    specs = graph.load(GRAPH_FILE).resolve({'robot': robot, 'driver': driver})
    for spec in specs:
        assert spec.executable_path.is_file(), spec
        assert all(path.is_file() for path in spec.params_files), spec


def test_the_graph_and_launch_file_are_installed_with_sage_bringup():
    """An installed workspace finds them through the ament index, without the source tree."""
    installed = package_share('sage_bringup') / 'launch'
    for name in ('sage_graph.yaml', 'sage.launch.py', 'sage.rviz'):
        assert (installed / name).read_bytes() == (ROOT / 'launch' / name).read_bytes(), name
