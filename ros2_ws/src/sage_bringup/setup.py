# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
from glob import glob

from setuptools import find_packages, setup

package_name = 'sage_bringup'
# The graph (and the launch file and rviz view beside it) live in the repository's launch/;
# installed with the package so an installed workspace finds them through the ament index.
LAUNCH = '../../../launch/'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/config', glob('config/*.yaml')),
        ('share/' + package_name + '/launch',
         [LAUNCH + name for name in ('sage_graph.yaml', 'sage.launch.py', 'sage.rviz')]),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='SAGE authors',
    maintainer_email='sage@example.com',
    description=(
        'Starting the SAGE graph: the node description shared by the launch file and the '
        'supervisor, and the supervisor itself.'
    ),
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'sage_supervisor = sage_bringup.supervisor:main',
            'sage_test_node = sage_bringup.fault_node:main',
        ],
    },
)
