# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
from glob import glob

from setuptools import find_packages, setup

package_name = 'sage_sleep'

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
        'Recording, bag reading, consolidation, dreaming, model registry and the '
        'sleep-manager node.'
    ),
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'sleep_manager = sage_sleep.sleep_manager_node:main',
            'sage_train = sage_sleep.learning.trainer:main',
            'sage_models = sage_sleep.models_cli:main',
            'sage_bc_baseline = sage_sleep.learning.baseline:main',
            'sage_evaluate = sage_sleep.learning.evaluate:main',
            'sage_replay = sage_sleep.recording.replay:main',
        ],
    },
)
