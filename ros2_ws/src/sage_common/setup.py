# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
from setuptools import find_packages, setup

package_name = 'sage_common'

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
    description=(
        'Shared plumbing of the SAGE nodes: the node layer (parameters, process runner, side '
        'services), model registry, ONNX Runtime models, message helpers, QoS, diagnostics, '
        'the test harness.'
    ),
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
        ],
    },
)
