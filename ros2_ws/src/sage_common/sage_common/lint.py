# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Copyright/licence header check (ament_copyright is not available as a wheel)."""

from pathlib import Path
import re

HEADER = re.compile(r'Copyright \d{4}[^\n]*(?:\n[^\n]*){0,2}Apache License, Version 2\.0')
SKIP_DIRS = {'__pycache__', 'build', 'install', 'log', '.pytest_cache'}


def files_missing_copyright(package_dir):
    """Return the Python files under package_dir whose first lines lack the header."""
    missing = []
    for path in sorted(Path(package_dir).rglob('*.py')):
        if SKIP_DIRS.intersection(path.parts):
            continue
        head = ''.join(path.read_text(encoding='utf-8').splitlines(keepends=True)[:5])
        if not HEADER.search(head):
            missing.append(path)
    return missing
