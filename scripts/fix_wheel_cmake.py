#!/usr/bin/env python3
# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Point the ROS 2 wheels' CMake exports at this venv's Python and numpy headers.

The message wheels were built in a manylinux container; their exported CMake targets name
`/opt/python/cp3XX-cp3XX/include/python3.X` and that container's numpy include directory,
which do not exist here, so any package that links against them (our rosidl interface
package) fails to configure. This rewrites those paths inside the venv only.
"""

import pathlib
import re
import sys
import sysconfig

import numpy


def main(venv: str) -> int:
    """Rewrite the builder paths in every CMake file of the venv; print how many changed."""
    root = pathlib.Path(venv)
    py_include = sysconfig.get_paths()['include']
    np_include = numpy.get_include()
    numpy_pat = re.compile(
        r'/opt/python/cp3\d+-cp3\d+/lib/python3\.\d+/site-packages/numpy/(?:_?core/)?include')
    python_pat = re.compile(r'/opt/python/cp3\d+-cp3\d+/include/python3\.\d+')
    changed = 0
    for path in list(root.glob('share/**/*.cmake')) + list(root.glob('lib/**/cmake/**/*.cmake')):
        text = path.read_text(errors='surrogateescape')
        if '/opt/python/' not in text:
            continue
        new = python_pat.sub(py_include, numpy_pat.sub(np_include, text))
        if new != text:
            path.write_text(new, errors='surrogateescape')
            changed += 1
    print(f'[setup] fixed wheel CMake paths in {changed} files')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
