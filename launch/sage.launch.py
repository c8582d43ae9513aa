# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Start the SAGE graph with ros2 launch (on a machine with a ROS 2 distro).

    ros2 launch launch/sage.launch.py [robot:=hardware] [model_dir:=...] [color_topic:=...]

The nodes, their parameters files, overrides, remappings and conditions come from
sage_graph.yaml beside this file, through sage_bringup.graph: the same description
`sage_supervisor` starts where ros2 launch is not available. Only the translation into
launch actions lives here.
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from sage_bringup import graph

GRAPH_FILE = Path(__file__).resolve().with_name('sage_graph.yaml')


def node_actions(context):
    """Resolve the launch arguments and return one Node action per node of the graph."""
    description = graph.load(GRAPH_FILE)
    values = {name: LaunchConfiguration(name).perform(context)
              for name in description.arguments}
    actions = []
    for spec in description.resolve(values):
        parameters = [str(path) for path in spec.params_files]
        if spec.params:
            parameters.append(dict(spec.params))
        extra = {}
        if spec.respawn:
            extra.update(respawn=True, respawn_delay=spec.respawn_delay)
        elif spec.required:
            extra['on_exit'] = Shutdown(reason=f'required node {spec.name} exited')
        actions.append(Node(package=spec.package, executable=spec.executable, name=spec.name,
                            arguments=list(spec.arguments), parameters=parameters,
                            remappings=list(spec.remaps), output='screen', **extra))
    return actions


def generate_launch_description():
    description = graph.load(GRAPH_FILE)
    actions = []
    for arg in description.arguments.values():
        kwargs = {'choices': list(arg.choices)} if arg.choices else {}
        actions.append(DeclareLaunchArgument(arg.name, default_value=arg.default,
                                             description=arg.description, **kwargs))
    actions.append(OpaqueFunction(function=node_actions))
    return LaunchDescription(actions)
