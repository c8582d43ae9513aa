# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Unit tests of the graph description: loading, validation, resolution, argv."""

from pathlib import Path

import pytest
from sage_bringup import graph
import yaml

REPO_GRAPH = Path(__file__).resolve().parents[4] / 'launch' / 'sage_graph.yaml'


def make_install(root, nodes):
    """Build a fake install prefix with {package: {executable: config node name or None}}."""
    for package, executables in nodes.items():
        index = root / 'share' / 'ament_index' / 'resource_index' / 'packages'
        index.mkdir(parents=True, exist_ok=True)
        (index / package).write_text('')
        for executable, node_name in executables.items():
            exe = root / 'lib' / package / executable
            exe.parent.mkdir(parents=True, exist_ok=True)
            exe.write_text('#!/bin/sh\n')
            exe.chmod(0o755)
            if node_name:
                config = root / 'share' / package / 'config' / f'{node_name}.yaml'
                config.parent.mkdir(parents=True, exist_ok=True)
                config.write_text(yaml.safe_dump({node_name: {'ros__parameters': {'a': 1}}}))
    return root


@pytest.fixture
def install(tmp_path):
    return make_install(tmp_path / 'install', {
        'pkg': {'talker': 'talker', 'listener': 'listener'},
    })


def small_graph(**node_overrides):
    node = {'name': 'talker', 'package': 'pkg', 'executable': 'talker',
            'params_files': ['config/talker.yaml'],
            'params': {'rate': '${rate}', 'label': 'x-${robot}', 'flag': True},
            'remaps': {'/chatter': '${topic}'}, 'required': True}
    node.update(node_overrides)
    return {
        'arguments': {
            'robot': {'default': 'sim', 'choices': ['sim', 'hardware'], 'description': 'r'},
            'rate': {'default': 10, 'description': 'hz'},
            'topic': {'default': '/chatter', 'description': 't'},
        },
        'nodes': [node, {'name': 'listener', 'package': 'pkg', 'executable': 'listener',
                         'when': 'robot == sim'}],
    }


def test_resolve_builds_specs_and_argv(install):
    specs = graph.parse(small_graph()).resolve({'topic': '/other'}, prefixes=[install])
    assert [s.name for s in specs] == ['talker', 'listener']
    talker = specs[0]
    assert talker.required and not specs[1].required
    assert (talker.respawn, talker.respawn_delay) == (False, 0.0)
    assert talker.params == {'rate': 10, 'label': 'x-sim', 'flag': True}
    assert talker.argv() == [
        str(install / 'lib/pkg/talker'), '--ros-args', '-r', '__node:=talker',
        '--params-file', str(install / 'share/pkg/config/talker.yaml'),
        '-p', 'rate:=10', '-p', 'label:=x-sim', '-p', 'flag:=true',
        '-r', '/chatter:=/other']


def test_graph_dir_is_the_directory_of_the_graph_file(install, tmp_path):
    data = small_graph(arguments=['-d', '${graph_dir}/view.rviz'])
    path = tmp_path / 'graphs' / 'g.yaml'
    path.parent.mkdir()
    path.write_text(yaml.safe_dump(data))
    talker = graph.load(path).resolve(prefixes=[install])[0]
    assert talker.arguments == ('-d', f'{path.parent}/view.rviz')


def test_respawn_and_its_delay_reach_the_spec(install):
    description = graph.parse(small_graph(respawn=True, respawn_delay=2))
    talker = description.resolve(prefixes=[install])[0]
    assert (talker.respawn, talker.respawn_delay) == (True, 2.0)


def test_condition_omits_node(install):
    description = graph.parse(small_graph())
    names = [s.name for s in description.resolve({'robot': 'hardware'}, prefixes=[install])]
    assert names == ['talker']
    unequal = graph.parse(small_graph(when='robot != sim'))
    assert [s.name for s in unequal.resolve({}, prefixes=[install])] == ['listener']


def test_variants_of_a_node_are_selected_by_conditions(install):
    data = small_graph()
    listener = data['nodes'][1]
    data['nodes'].append(dict(listener, when=['robot == hardware', 'rate == 5'],
                              params={'variant': 'slow'}))
    description = graph.parse(data)
    sim = description.resolve({}, prefixes=[install])
    assert [(s.name, s.params) for s in sim][1:] == [('listener', {})]
    assert [s.name for s in description.resolve({'robot': 'hardware'}, prefixes=[install])] \
        == ['talker']
    slow = description.resolve({'robot': 'hardware', 'rate': '5'}, prefixes=[install])
    assert [(s.name, s.params) for s in slow][1:] == [('listener', {'variant': 'slow'})]
    data['nodes'][-1]['when'] = 'rate == 5'
    with pytest.raises(graph.GraphError, match='select node.*listener more than once'):
        graph.parse(data).resolve({'rate': '5'}, prefixes=[install])


def test_only_selects_nodes(install):
    description = graph.parse(small_graph())
    assert [s.name for s in description.resolve(only=['listener'], prefixes=[install])] == \
        ['listener']
    with pytest.raises(graph.GraphError, match='no node named ghost'):
        description.resolve(only=['ghost'], prefixes=[install])


@pytest.mark.parametrize('mutate, message', [
    (lambda g: g.update(extra=1), 'unknown key.*extra'),
    (lambda g: g['nodes'][0].update(remap={}), "node 'talker'.*unknown key.*remap"),
    (lambda g: g['nodes'][0].pop('executable'), '"executable" is required'),
    (lambda g: g['nodes'].append(dict(g['nodes'][0])), 'declared twice'),
    (lambda g: g['nodes'][0].update(when=['robot == sim', 'rate']), '"when" must read'),
    (lambda g: g['nodes'][0]['params'].update(x='${nope}'), r'\$\{nope\} is not a declared'),
    (lambda g: g['nodes'][0]['remaps'].update({'/a': '${topic'}), 'malformed reference'),
    (lambda g: g['nodes'][0].update(when='robot = sim'), '"when" must read'),
    (lambda g: g['nodes'][0].update(when='colour == red'), 'undeclared argument'),
    (lambda g: g['nodes'][0].update(required='yes'), '"required" must be a bool'),
    (lambda g: g['nodes'][0]['params'].update(x={'a': 1}), 'must be a scalar'),
    (lambda g: g['nodes'][0].update(respawn=1), '"respawn" must be a bool'),
    (lambda g: g['nodes'][0].update(respawn=True, respawn_delay=-1), r'seconds in \[0, 3600\]'),
    (lambda g: g['nodes'][0].update(respawn=True, respawn_delay='2'), '"respawn_delay" must be'),
    (lambda g: g['nodes'][0].update(respawn_delay=2.0), 'without "respawn: true"'),
    (lambda g: g['arguments']['robot'].update(default='boat'), "default 'boat' is not one"),
    (lambda g: g['arguments']['rate'].pop('description'), 'missing "description"'),
    (lambda g: g.update(nodes=[]), 'non-empty list'),
    (lambda g: g['nodes'][0].update(name='bad name'), 'must be identifiers'),
    (lambda g: g['arguments'].update(graph_dir={'default': '/x', 'description': 'd'}),
     'graph_dir is reserved'),
])
def test_malformed_graphs_are_refused_with_the_reason(mutate, message):
    data = small_graph()
    mutate(data)
    with pytest.raises(graph.GraphError, match=message):
        graph.parse(data)


def test_load_reports_file_problems(tmp_path):
    with pytest.raises(graph.GraphError, match='cannot read graph file'):
        graph.load(tmp_path / 'missing.yaml')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('nodes: [\n')
    with pytest.raises(graph.GraphError, match='not valid YAML'):
        graph.load(bad)
    bad.write_text('- just a list\n')
    with pytest.raises(graph.GraphError, match='expected a mapping'):
        graph.load(bad)


def test_resolve_errors_name_the_problem(install, tmp_path):
    description = graph.parse(small_graph())
    with pytest.raises(graph.GraphError, match='unknown launch argument.*colour'):
        description.resolve({'colour': 'red'}, prefixes=[install])
    with pytest.raises(graph.GraphError, match=r'\$\{rate\} is not a declared argument'):
        description.resolve({'topic': '/a/${rate}'}, prefixes=[install])
    with pytest.raises(graph.GraphError, match='robot:=boat is not one of sim, hardware'):
        description.resolve({'robot': 'boat'}, prefixes=[install])
    with pytest.raises(graph.GraphError, match="package 'other' is not installed"):
        graph.parse(small_graph(package='other')).resolve(prefixes=[install])
    with pytest.raises(graph.GraphError, match="no executable 'ghost'"):
        graph.parse(small_graph(executable='ghost')).resolve(prefixes=[install])
    with pytest.raises(graph.GraphError, match='parameters file .* does not exist'):
        graph.parse(small_graph(params_files=['config/x.yaml'])).resolve(prefixes=[install])
    with pytest.raises(graph.GraphError, match='no section for this node'):
        graph.parse(small_graph(params_files=['config/listener.yaml'])).resolve(
            prefixes=[install])
    with pytest.raises(graph.GraphError, match='AMENT_PREFIX_PATH is empty'):
        description.resolve(prefixes=[])
    env_graph = small_graph(params={'root': '${env:SAGE_TEST_ROOT}/models'})
    with pytest.raises(graph.GraphError, match='SAGE_TEST_ROOT is not set'):
        graph.parse(env_graph).resolve(environ={}, prefixes=[install])
    spec = graph.parse(env_graph).resolve(environ={'SAGE_TEST_ROOT': '/r'},
                                          prefixes=[install])[0]
    assert spec.params == {'root': '/r/models'}


def test_repository_graph_resolves_for_sim_and_hardware(tmp_path):
    description = graph.load(REPO_GRAPH)
    packages = {}
    for node in description.nodes:
        packages.setdefault(node['package'], {})[node['executable']] = node['name']
    install = make_install(tmp_path / 'install', packages)
    environ = {'SAGE_ROOT': '/sage'}
    sim = description.resolve({}, environ=environ, prefixes=[install])
    names = {s.name for s in sim}
    assert {'sim_robot', 'teacher', 'context_node', 'h_module', 'l_module',
            'sleep_manager'} <= names
    assert all(s.params.get('model_dir', '') == '' for s in sim)
    custom = description.resolve({'model_dir': '${env:SAGE_ROOT}/m'}, environ=environ,
                                 prefixes=[install])
    assert {s.params.get('model_dir') for s in custom} == {'/sage/m', None}
    hardware = description.resolve({'robot': 'hardware', 'joint_states_topic': '/arm/joints'},
                                   environ=environ, prefixes=[install])
    assert not {'sim_robot', 'teacher'} & {s.name for s in hardware}
    context = next(s for s in hardware if s.name == 'context_node')
    assert ('/joint_states', '/arm/joints') in context.remaps
    shadow = {s.name: s for s in sim}
    assert shadow['l_module'].params['mode'] == 'shadow'
    assert shadow['teacher'].params['output_topic'] == '/arm_controller/commands'
    driven = {s.name: s for s in description.resolve({'driver': 'sage'}, environ=environ,
                                                     prefixes=[install])}
    assert driven['l_module'].params['mode'] == 'drive'
    assert ('/arm_controller/commands', '/arm_controller/commands') in driven['l_module'].remaps
    assert driven['teacher'].params['output_topic'] == '/teacher/commands'
    respawning = {s.name for s in sim if s.respawn}
    assert respawning == names - {'sim_robot'}  # restarting the sim would reset the world
    # Joint facts: the sim's MJCF from the nodes' config files in the sim; on a robot the
    # latched /robot_description topic, or the robot_description argument.
    for spec in sim:
        assert 'robot_description' not in spec.params, spec.name
    for driver in ('teacher', 'sage'):
        for given in ('', '/robot/arm.urdf'):
            on_robot = {s.name: s for s in description.resolve(
                {'robot': 'hardware', 'driver': driver, 'robot_description': given},
                environ=environ, prefixes=[install])}
            for name in ('context_node', 'l_module'):
                assert on_robot[name].params['robot_description'] == given
                assert on_robot[name].params['robot_description_topic'] == '/robot_description'


def test_default_graph_file_is_the_checkouts_else_the_installed_one(tmp_path, monkeypatch):
    checkout = tmp_path / 'checkout'
    (checkout / 'launch').mkdir(parents=True)
    (checkout / 'launch' / 'sage_graph.yaml').write_text('nodes: []\n')
    install = make_install(tmp_path / 'install', {'sage_bringup': {}})
    installed = install / 'share' / 'sage_bringup' / 'launch' / 'sage_graph.yaml'
    installed.parent.mkdir(parents=True)
    installed.write_text('nodes: []\n')
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(install))
    monkeypatch.setenv('SAGE_ROOT', str(checkout))
    assert graph.default_graph_file() == checkout / 'launch' / 'sage_graph.yaml'
    monkeypatch.delenv('SAGE_ROOT')
    assert graph.default_graph_file() == installed
    installed.unlink()
    with pytest.raises(graph.GraphError, match='cannot find sage_graph.yaml'):
        graph.default_graph_file()
