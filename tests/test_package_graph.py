# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Dependencies point one way: the imports between the workspace's packages, from the sources.

Every `import` (at module level or inside a function) of a runtime module
(`ros2_ws/src/<pkg>/<pkg>/**/*.py`) that names another workspace package must be declared in
`<pkg>/package.xml`; the declared graph has no cycle; the benchmarks' package is at the top;
and no runtime module imports test code (pytest, `sage_common.testing`).
"""

import ast
from pathlib import Path
import xml.etree.ElementTree as ET

import pytest

SRC = Path(__file__).resolve().parents[1] / 'ros2_ws' / 'src'
RUNTIME_DEPENDS = ('depend', 'exec_depend', 'build_depend', 'build_export_depend')
TEST_MODULES = {'sage_common.testing'}          # test code inside a package
TEST_IMPORTS = {'pytest', '_pytest', 'conftest', *TEST_MODULES}
TOP = 'sage_bench'                               # nothing may depend on the benchmarks


def declared_dependencies():
    """Return {package: set of runtime dependencies} from every package.xml under SRC."""
    packages = {}
    for manifest in sorted(SRC.glob('*/package.xml')):
        root = ET.parse(manifest).getroot()
        name = root.findtext('name')
        packages[name] = {e.text.strip() for tag in RUNTIME_DEPENDS for e in root.iter(tag)}
    return packages


def module_name(package_dir, path):
    """Return the dotted module name of path inside its package's source tree."""
    parts = list(path.relative_to(package_dir).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def runtime_modules():
    """Yield (package, module name, path) of every Python module a package installs."""
    for package in declared_dependencies():
        package_dir = SRC / package
        for path in sorted((package_dir / package).rglob('*.py')):
            yield package, module_name(package_dir, path), path


def imports(path):
    """Yield (line, absolute module name) of every import in the file (relative ones skipped)."""
    tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:  # `from sage_common import testing` names a module too
                yield node.lineno, f'{node.module}.{alias.name}'


def imported_packages():
    """Return {(package, imported workspace package): ['file:line', ...]} across packages."""
    workspace = set(declared_dependencies())
    found = {}
    for package, _, path in runtime_modules():
        for line, name in imports(path):
            top = name.split('.')[0]
            if top in workspace and top != package:
                found.setdefault((package, top), []).append(
                    f'{path.relative_to(SRC)}:{line}')
    return {key: sorted(set(where)) for key, where in found.items()}


def find_cycle(graph):
    """Return one cycle of graph {node: successors} as a list of nodes, or None."""
    state = {}

    def visit(node, trail):
        state[node] = 'open'
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 'open':
                return trail[trail.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt, trail + [nxt])
                if cycle:
                    return cycle
        state[node] = 'done'
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start, [start])
            if cycle:
                return cycle
    return None


def test_the_sources_are_found():
    packages = declared_dependencies()
    assert {'sage_common', 'sage_bringup', 'sage_sleep', TOP} <= set(packages)
    assert any(module == 'sage_common.processes' for _, module, _ in runtime_modules())


def test_every_import_between_packages_is_declared():
    packages = declared_dependencies()
    undeclared = [f'{package} imports {target} ({", ".join(where)}) but its package.xml '
                  f'does not depend on it'
                  for (package, target), where in sorted(imported_packages().items())
                  if target not in packages[package]]
    assert not undeclared, '\n'.join(undeclared)


def test_the_package_graph_has_no_cycle():
    packages = declared_dependencies()
    graph = {p: {d for d in deps if d in packages} for p, deps in packages.items()}
    for package, target in imported_packages():
        graph[package].add(target)
    cycle = find_cycle(graph)
    assert cycle is None, f'dependency cycle: {" -> ".join(cycle)}'


def test_the_benchmarks_are_at_the_top():
    packages = declared_dependencies()
    dependents = sorted(p for p, deps in packages.items() if TOP in deps)
    assert not dependents, f'{TOP} must stay at the top; depended on by {dependents}'
    stray = sorted(str(path.relative_to(SRC)) for package, _, path in runtime_modules()
                   if package != TOP and 'bench' in path.stem)
    assert not stray, f'benchmarks outside {TOP}: {stray}'


def test_no_runtime_module_imports_test_code():
    offending = []
    for _, module, path in runtime_modules():
        if module in TEST_MODULES:
            continue
        for line, name in imports(path):
            if name in TEST_IMPORTS or name.split('.')[0] in ('pytest', '_pytest'):
                offending.append(f'{path.relative_to(SRC)}:{line} imports {name}')
    assert not offending, 'runtime modules importing test code:\n' + '\n'.join(offending)


@pytest.mark.parametrize('graph, cycle', [
    ({'a': {'b'}, 'b': {'c'}, 'c': set()}, None),
    ({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}, ['a', 'b', 'c', 'a']),
    ({'a': {'a'}}, ['a', 'a']),
])
def test_find_cycle_finds_one(graph, cycle):
    assert find_cycle(graph) == cycle
