# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
from setuptools import find_packages, setup

package_name = 'sage_bench'

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
        'The SAGE benchmarks (make bench): simulator and teacher, perception, control, '
        'recording, sleep and the learning bench. Depends on every runtime package; none '
        'depends on it.'
    ),
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'sage_bench = sage_bench.suite:main',
        ],
    },
)
