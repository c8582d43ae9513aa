# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
launch/sage.rviz and the graph cannot drift apart: every topic a display reads is published
by the running graph, with the display's message type and a QoS the display can match.
"""

from pathlib import Path

import pytest
from rclpy.qos import DurabilityPolicy, ReliabilityPolicy
from sage_bringup import graph as graph_mod
from sage_common.registry import ModelRegistry
from sage_sleep.models_cli import init_models
import yaml

REPO = Path(__file__).resolve().parents[2]
RVIZ = REPO / 'launch' / 'sage.rviz'
TYPES = {'rviz_default_plugins/Image': 'sensor_msgs/msg/Image',
         'rviz_default_plugins/MarkerArray': 'visualization_msgs/msg/MarkerArray',
         'rviz_default_plugins/Marker': 'visualization_msgs/msg/Marker'}


def rviz_topics():
    """Return {topic: (type, reliable, transient_local)} the config's displays subscribe to."""
    config = yaml.safe_load(RVIZ.read_text())
    topics = {}
    for display in config['Visualization Manager']['Displays']:
        if 'Topic' not in display:
            continue
        assert display['Class'] in TYPES, f'a display the test does not know: {display}'
        topic = display['Topic']
        topics[topic['Value']] = (TYPES[display['Class']],
                                  topic['Reliability Policy'] == 'Reliable',
                                  topic['Durability Policy'] == 'Transient Local')
    return topics


def test_the_config_parses_and_the_graph_starts_rviz_with_it():
    assert set(rviz_topics()) == {'/sim/markers', '/sage/sleep_status_text',
                                  '/camera/color/image_raw', '/camera/depth/image_rect_raw',
                                  '/sage/context_heatmap'}
    data = yaml.safe_load((REPO / 'launch' / 'sage_graph.yaml').read_text())
    rviz = next(n for n in data['nodes'] if n['name'] == 'rviz')
    assert rviz['arguments'] == ['-d', '${graph_dir}/sage.rviz'] and rviz['when'] == \
        'rviz == true'
    assert data['arguments']['rviz']['default'] == 'false'
    names = [s.name for s in graph_mod.load(REPO / 'launch' / 'sage_graph.yaml').resolve()]
    assert 'rviz' not in names


@pytest.mark.integration
def test_every_displayed_topic_is_published_by_the_graph(command, tools, tmp_path, ros_domain,
                                                         ros_node):
    models = tmp_path / 'models'
    init_models(ModelRegistry(models), seed=0, log=lambda *_: None)
    data = yaml.safe_load((REPO / 'launch' / 'sage_graph.yaml').read_text())
    overrides = {'sim_robot': {'width': 64, 'height': 48},
                 'sleep_manager': {'bag_root': str(tmp_path / 'bags')}}
    for node in data['nodes']:
        node.setdefault('params', {}).update(overrides.get(node['name'], {}))
    graph_file = tmp_path / 'graph.yaml'
    graph_file.write_text(yaml.safe_dump(data))
    proc = command(tools.supervisor_argv(
        '--graph', str(graph_file), '--domain-id', str(ros_domain), '--only',
        'sim_robot,context_node,sleep_manager', f'model_dir:={models}'))
    wanted = rviz_topics()

    def published():
        found = dict(ros_node.node.get_topic_names_and_types())
        return {t for t, (kind, _, _) in wanted.items() if kind in found.get(t, [])}

    ros_node.wait_for(lambda: published() == set(wanted), timeout=90,
                      what=f'every rviz topic: {sorted(wanted)}; output:\n{proc.output()[-3000:]}')
    for topic, (kind, reliable, latched) in wanted.items():
        infos = ros_node.node.get_publishers_info_by_topic(topic)
        assert infos, topic
        for info in infos:
            if reliable:
                assert info.qos_profile.reliability == ReliabilityPolicy.RELIABLE, topic
            if latched:
                assert info.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL, topic
