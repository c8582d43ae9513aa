# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
from glob import glob

from setuptools import find_packages, setup

package_name = 'sage_groot'

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
    description='GR00T inference-service protocol for SAGE: a GR00T teacher node and a '
                'GR00T-protocol policy server.',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'groot_teacher = sage_groot.teacher_node:main',
            'sage_policy_server = sage_groot.server:main',
        ],
    },
)
