# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
from glob import glob

from setuptools import find_packages, setup

package_name = 'sage_hl_control'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
        ('share/' + package_name + '/config', glob('config/*.yaml')),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='SAGE authors',
    maintainer_email='sage@example.com',
    description=(
        'H-module (4096 to 256) and L-module (256 plus joints to commands), the safety '
        'filter and their nodes.'
    ),
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'h_module = sage_hl_control.h_node:main',
            'l_module = sage_hl_control.l_node:main',
            'command_monitor = sage_hl_control.command_monitor_node:main',
        ],
    },
)
