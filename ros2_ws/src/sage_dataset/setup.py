# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
from setuptools import find_packages, setup

package_name = 'sage_dataset'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='SAGE authors',
    maintainer_email='sage@example.com',
    description='LeRobot v3.0 and GR00T (LeRobot v2.1 + modality.json) datasets out of '
                "SAGE's recorded bags, and back into bags the sleep trainer reads.",
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'sage_dataset = sage_dataset.cli:main',
        ],
    },
)
