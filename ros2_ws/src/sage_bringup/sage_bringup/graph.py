# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The SAGE node graph, declared once in `launch/sage_graph.yaml`.

Both `launch/sage.launch.py` (ros2 launch, on a machine with a ROS distro) and
`sage_supervisor` (separate OS processes, on machines without ros2 launch) read it through
this module, so the set of nodes, their parameters files, parameter overrides, remappings
and conditions exist in one place only. The file is installed with sage_bringup
(share/sage_bringup/launch/), so an installed workspace finds it without the source tree.
A node's command line (`NodeSpec.argv`) is `sage_common.processes.ros_args`, the one the
tests and the benchmarks start nodes with.

File format::

    arguments:                                # launch arguments
      <name>: {default: <str>, description: <str>, choices: [<str>, ...]}
    nodes:                                    # in start order
      - name: <node name>
        package: <package>
        executable: <console script in lib/<package>>
        params_files: [config/<node>.yaml]   # relative to the package's share directory
        params: {<param>: <value or '${argument}'>}
        remaps: {<from>: <to or '${argument}'>}
        arguments: [<argv before --ros-args>]
        required: true | false                # the graph stops when a required node exits
        respawn: true | false                 # restart the node when it exits (ros2 launch's
        respawn_delay: <seconds>              # names); a respawning node never stops the graph
        when: <argument> == <value>           # or !=, or a list of them that must all
                                              # hold; the node is omitted otherwise

A name may be declared more than once when every declaration has a `when`: variants of one
node under different arguments (at most one may be selected).

Strings may reference launch arguments as `${name}`, environment variables as
`${env:NAME}`, and in nodes the directory of the graph file as `${graph_dir}`. A parameter
whose whole value is one `${name}` gets the argument's value parsed as a YAML scalar
(`true` -> bool, `3` -> int), like ros2 launch does.
"""

from dataclasses import dataclass, field
import os
from pathlib import Path
import re

from sage_common.processes import package_prefix, package_share, PackageNotFound, ros_args
import yaml

GRAPH_FILE_NAME = 'sage_graph.yaml'
GRAPH_KEYS = {'arguments', 'nodes'}
ARGUMENT_KEYS = {'default', 'description', 'choices'}
NODE_KEYS = {'name', 'package', 'executable', 'params_files', 'params', 'remaps', 'arguments',
             'required', 'respawn', 'respawn_delay', 'when'}
NODE_REQUIRED_KEYS = ('name', 'package', 'executable')

_IDENT = r'[A-Za-z_][A-Za-z0-9_]*'
GRAPH_DIR = 'graph_dir'  # a reference every node may use: the graph file's directory
_REFERENCE = re.compile(r'\$\{(env:)?(' + _IDENT + r')\}')
_WHOLE_REFERENCE = re.compile(r'^\$\{(' + _IDENT + r')\}$')
_CONDITION = re.compile(r'^\s*(' + _IDENT + r')\s*(==|!=)\s*(\S+)\s*$')
_NODE_NAME = re.compile(r'^' + _IDENT + r'$')


class GraphError(ValueError):
    """The graph file is malformed, or cannot be resolved on this machine."""


def default_graph_file():
    """
    Return the graph file: this checkout's, else the one installed with sage_bringup.

    `$SAGE_ROOT/launch/sage_graph.yaml` when SAGE_ROOT is set (scripts/env.sh sets it) and the
    file is there, else `share/sage_bringup/launch/sage_graph.yaml` of the sourced workspace
    (found through the ament index), so an installed workspace needs no source tree.
    """
    if os.environ.get('SAGE_ROOT'):
        candidate = Path(os.environ['SAGE_ROOT']) / 'launch' / GRAPH_FILE_NAME
        if candidate.is_file():
            return candidate
    try:
        installed = package_share('sage_bringup') / 'launch' / GRAPH_FILE_NAME
    except PackageNotFound as exc:
        raise GraphError(f'cannot find {GRAPH_FILE_NAME}: {exc}; or pass the graph file '
                         f'explicitly') from None
    if not installed.is_file():
        raise GraphError(f'cannot find {GRAPH_FILE_NAME}: not in $SAGE_ROOT/launch nor at '
                         f'{installed} (make setup)')
    return installed


@dataclass(frozen=True)
class Argument:
    """A launch argument: name, default (a string, may hold ${env:...}), description."""

    name: str
    default: str
    description: str
    choices: tuple = ()


@dataclass(frozen=True)
class NodeSpec:
    """One node of the resolved graph: everything needed to start it."""

    name: str
    package: str
    executable: str
    executable_path: Path
    params_files: tuple = ()
    params: dict = field(default_factory=dict)
    remaps: tuple = ()
    arguments: tuple = ()
    required: bool = False
    respawn: bool = False
    respawn_delay: float = 0.0

    def argv(self):
        """Return the command line that starts this node, like ros2 launch builds it."""
        return [str(self.executable_path), *self.arguments,
                *ros_args(self.name, self.params, self.remaps, self.params_files)]


def find_package_prefix(package, prefixes=None):
    """Return the install prefix holding package (the ament index); raise GraphError."""
    try:
        return package_prefix(package, prefixes)
    except PackageNotFound as exc:
        raise GraphError(str(exc)) from None


class Graph:
    """A loaded and validated graph description."""

    def __init__(self, arguments, nodes, source='<graph>'):
        self.arguments = arguments
        self.nodes = nodes
        self.source = source

    def defaults(self):
        """Return {argument: default}."""
        return {name: arg.default for name, arg in self.arguments.items()}

    def resolve(self, values=None, only=None, environ=None, prefixes=None):
        """
        Resolve launch argument values into the list of nodes to start.

        values: {argument: str} overriding the defaults (unknown names are an error);
        only: node names to keep (others are dropped, unknown names are an error);
        environ: environment for ${env:...} (default os.environ); prefixes: install prefixes
        (default AMENT_PREFIX_PATH). Raise GraphError naming the problem.
        """
        environ = os.environ if environ is None else environ
        args = self.resolve_arguments(values, environ)
        args[GRAPH_DIR] = str(Path(self.source).resolve().parent)
        names = [node['name'] for node in self.nodes]
        if only is not None:
            unknown = sorted(set(only) - set(names))
            if unknown:
                raise GraphError(f'{self.source}: no node named {", ".join(unknown)} '
                                 f'(nodes: {", ".join(names)})')
        specs = []
        for node in self.nodes:
            if only is not None and node['name'] not in only:
                continue
            if not _condition_holds(node.get('when'), args):
                continue
            specs.append(self._resolve_node(node, args, environ, prefixes))
        selected = [spec.name for spec in specs]
        twice = sorted({name for name in selected if selected.count(name) > 1})
        if twice:
            raise GraphError(f'{self.source}: these arguments select node(s) '
                             f'{", ".join(twice)} more than once: make their "when" '
                             f'conditions exclusive')
        return specs

    def resolve_arguments(self, values, environ):
        """Return {argument: final string} from defaults, overrides and the environment."""
        values = dict(values or {})
        unknown = sorted(set(values) - set(self.arguments))
        if unknown:
            raise GraphError(f'{self.source}: unknown launch argument(s) {", ".join(unknown)} '
                             f'(declared: {", ".join(self.arguments)})')
        resolved = {}
        for name, arg in self.arguments.items():
            value = str(values.get(name, arg.default))
            _check_references(value, {}, f'launch argument {name}:={value}')
            value = _substitute(value, {}, environ, f'argument {name!r}')
            if arg.choices and value not in arg.choices:
                raise GraphError(f'launch argument {name}:={value} is not one of '
                                 f'{", ".join(arg.choices)}')
            resolved[name] = value
        return resolved

    def _resolve_node(self, node, args, environ, prefixes):
        name = node['name']
        what = f'node {name!r}'
        package = node['package']
        prefix = find_package_prefix(package, prefixes)
        executable = prefix / 'lib' / package / node['executable']
        if not (executable.is_file() and os.access(executable, os.X_OK)):
            raise GraphError(f'{what}: package {package} has no executable '
                             f'{node["executable"]!r} in {executable.parent} (make setup)')
        share = prefix / 'share' / package
        params_files = []
        for relative in node.get('params_files', []):
            path = share / _substitute(relative, args, environ, what)
            _check_params_file(path, name)
            params_files.append(path)
        params = {key: _resolve_param(value, args, environ, f'{what} parameter {key!r}')
                  for key, value in node.get('params', {}).items()}
        remaps = tuple((_substitute(src, args, environ, what), _substitute(dst, args, environ,
                                                                           what))
                       for src, dst in node.get('remaps', {}).items())
        arguments = tuple(_substitute(str(a), args, environ, what)
                          for a in node.get('arguments', []))
        return NodeSpec(name=name, package=package, executable=node['executable'],
                        executable_path=executable, params_files=tuple(params_files),
                        params=params, remaps=remaps, arguments=arguments,
                        required=bool(node.get('required', False)),
                        respawn=bool(node.get('respawn', False)),
                        respawn_delay=float(node.get('respawn_delay', 0.0)))


def load(path=None):
    """Load and validate a graph file (default: default_graph_file()); raise GraphError."""
    path = Path(path) if path is not None else default_graph_file()
    try:
        text = path.read_text(encoding='utf-8')
    except OSError as exc:
        raise GraphError(f'cannot read graph file {path}: {exc.strerror}') from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise GraphError(f'{path}: not valid YAML: {exc}') from exc
    return parse(data, source=str(path))


def parse(data, source='<graph>'):
    """Validate a graph description already parsed from YAML; return a Graph."""
    if not isinstance(data, dict):
        raise GraphError(f'{source}: expected a mapping with keys {sorted(GRAPH_KEYS)}')
    _check_keys(data, GRAPH_KEYS, source, 'the graph')
    arguments = {}
    for name, spec in (data.get('arguments') or {}).items():
        arguments[name] = _parse_argument(name, spec, source)
    nodes_data = data.get('nodes')
    if not isinstance(nodes_data, list) or not nodes_data:
        raise GraphError(f'{source}: "nodes" must be a non-empty list')
    nodes, seen = [], set()
    for index, node in enumerate(nodes_data):
        node = _parse_node(index, node, arguments, source)
        if node['name'] in seen and not all('when' in n for n in nodes + [node]
                                            if n['name'] == node['name']):
            raise GraphError(f'{source}: node name {node["name"]!r} is declared twice '
                             f'(variants of a node need a "when" each)')
        seen.add(node['name'])
        nodes.append(node)
    return Graph(arguments, nodes, source)


def _parse_argument(name, spec, source):
    where = f'{source}: argument {name!r}'
    if not isinstance(name, str) or not re.fullmatch(_IDENT, name):
        raise GraphError(f'{where}: names must be identifiers')
    if name == GRAPH_DIR:
        raise GraphError(f"{where}: {GRAPH_DIR} is reserved (the graph file's directory)")
    if not isinstance(spec, dict):
        raise GraphError(f'{where}: expected a mapping with keys {sorted(ARGUMENT_KEYS)}')
    _check_keys(spec, ARGUMENT_KEYS, source, f'argument {name!r}')
    for key in ('default', 'description'):
        if key not in spec:
            raise GraphError(f'{where}: missing "{key}"')
    default = spec['default']
    if isinstance(default, (dict, list)) or default is None:
        raise GraphError(f'{where}: "default" must be a scalar')
    if not isinstance(spec['description'], str):
        raise GraphError(f'{where}: "description" must be a string')
    choices = spec.get('choices', [])
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        raise GraphError(f'{where}: "choices" must be a list of strings')
    default = 'true' if default is True else 'false' if default is False else str(default)
    if choices and default not in choices:
        raise GraphError(f'{where}: default {default!r} is not one of {choices}')
    _check_references(default, {}, where)
    return Argument(name, default, spec['description'], tuple(choices))


def _parse_node(index, node, arguments, source):
    where = f'{source}: node #{index + 1}'
    if not isinstance(node, dict):
        raise GraphError(f'{where}: expected a mapping with keys {sorted(NODE_KEYS)}')
    if isinstance(node.get('name'), str):
        where = f'{source}: node {node["name"]!r}'
    _check_keys(node, NODE_KEYS, source, where.split(': ', 1)[1])
    for key in NODE_REQUIRED_KEYS:
        if not isinstance(node.get(key), str) or not node[key]:
            raise GraphError(f'{where}: "{key}" is required and must be a non-empty string')
    if not _NODE_NAME.match(node['name']):
        raise GraphError(f'{where}: node names must be identifiers')
    expected = {'params_files': list, 'params': dict, 'remaps': dict, 'arguments': list,
                'required': bool, 'respawn': bool, 'respawn_delay': (int, float),
                'when': (str, list)}
    for key, kind in expected.items():
        if key in node and not isinstance(node[key], kind):
            kinds = kind if isinstance(kind, tuple) else (kind,)
            raise GraphError(f'{where}: "{key}" must be a '
                             f'{" or ".join(k.__name__ for k in kinds)}')
    delay = node.get('respawn_delay', 0.0)
    if isinstance(delay, bool) or not 0.0 <= delay <= 3600.0:
        raise GraphError(f'{where}: "respawn_delay" must be seconds in [0, 3600], got {delay!r}')
    if 'respawn_delay' in node and not node.get('respawn', False):
        raise GraphError(f'{where}: "respawn_delay" without "respawn: true" has no effect')
    for text in [*node.get('params_files', []), *node.get('remaps', {}).keys(),
                 *node.get('remaps', {}).values(), *map(str, node.get('arguments', []))]:
        if not isinstance(text, str):
            raise GraphError(f'{where}: params_files and remaps must be strings')
        _check_references(text, {**arguments, GRAPH_DIR: None}, where)
    for key, value in node.get('params', {}).items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, (dict, list)) or item is None:
                raise GraphError(f'{where}: parameter {key!r} must be a scalar or a list of '
                                 f'scalars')
            if isinstance(item, str):
                _check_references(item, {**arguments, GRAPH_DIR: None}, where)
    conditions = node.get('when', [])
    for condition in conditions if isinstance(conditions, list) else [conditions]:
        match = _CONDITION.match(condition) if isinstance(condition, str) else None
        if not match:
            raise GraphError(f'{where}: "when" must read "<argument> == <value>" or '
                             f'"<argument> != <value>" (or a list of them), got '
                             f'{condition!r}')
        if match.group(1) not in arguments:
            raise GraphError(f'{where}: "when" refers to undeclared argument '
                             f'{match.group(1)!r}')
    return dict(node)


def _check_keys(mapping, allowed, source, what):
    unknown = sorted(str(k) for k in set(mapping) - allowed)
    if unknown:
        raise GraphError(f'{source}: {what}: unknown key(s) {", ".join(unknown)} '
                         f'(allowed: {", ".join(sorted(allowed))})')


def _check_references(text, arguments, where):
    for match in _REFERENCE.finditer(text):
        if not match.group(1) and match.group(2) not in arguments:
            raise GraphError(f'{where}: ${{{match.group(2)}}} is not a declared argument')
    leftover = _REFERENCE.sub('', text)
    if '${' in leftover:
        raise GraphError(f'{where}: malformed reference in {text!r} (use ${{name}} or '
                         f'${{env:NAME}})')


def _substitute(text, args, environ, what):
    def replace(match):
        if match.group(1):
            if match.group(2) not in environ:
                raise GraphError(f'{what}: environment variable {match.group(2)} is not set')
            return environ[match.group(2)]
        return args[match.group(2)]
    return _REFERENCE.sub(replace, text)


def _resolve_param(value, args, environ, what):
    if isinstance(value, list):
        return [_resolve_param(v, args, environ, what) for v in value]
    if not isinstance(value, str):
        return value
    whole = _WHOLE_REFERENCE.match(value)
    if whole:
        text = args[whole.group(1)]
        try:
            parsed = yaml.safe_load(text)
        except yaml.YAMLError:
            return text
        return parsed if isinstance(parsed, (bool, int, float, str)) else text
    return _substitute(value, args, environ, what)


def _condition_holds(condition, args):
    if condition is None:
        return True
    if isinstance(condition, list):
        return all(_condition_holds(c, args) for c in condition)
    name, op, value = _CONDITION.match(condition).groups()
    return (args[name] == value) == (op == '==')


def _check_params_file(path, node_name):
    if not path.is_file():
        raise GraphError(f'node {node_name!r}: parameters file {path} does not exist '
                         "(is it in the package's data_files? run make setup)")
    try:
        data = yaml.safe_load(path.read_text(encoding='utf-8'))
    except yaml.YAMLError as exc:
        raise GraphError(f'node {node_name!r}: parameters file {path} is not valid YAML: '
                         f'{exc}') from exc
    keys = set(data) if isinstance(data, dict) else set()
    if not keys & {node_name, '/' + node_name, '/**', '**'}:
        raise GraphError(f'node {node_name!r}: parameters file {path} has no section for '
                         f'this node (top-level keys: {sorted(map(str, keys))}); ROS would '
                         f'silently ignore it')
