# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Joint names and limits from the robot description, with a node's parameters as overrides.

A robot's description says which joints it has and how far and fast they may move: the URDF
(`robot_description`, whose `<limit>` and `<ros2_control>` limits ros2_control enforces) on a
ROS robot, the MJCF in the simulator. The nodes read their joint facts from it and take their
hand-set parameter arrays as explicit overrides:

* `parse_description(xml)`: a URDF (`<robot>`) or MJCF (`<mujoco>`) -> JointFacts.
* `load_description(ref)`: XML text, a file path, `file:///path`, or
  `python://<package>/<path>` (a file inside an installed Python package, e.g. the
  simulator's `python://gymnasium/envs/mujoco/assets/reacher.xml`) -> the XML text.
* `merge(description, overrides, required)`: the facts the node runs with; a ValueError
  naming what disagrees, what is missing, or an override looser than the description.

Which joints are commanded: URDF, the joints of the `<ros2_control>` blocks that have a
command interface, else every revolute, prismatic and continuous joint that does not mimic
another (document order); MJCF, the joints driven by an `<actuator>` (actuator order).
Limits: URDF `<limit lower upper velocity>` (a continuous joint has no position limits), and
a `<ros2_control>` command interface's `min`/`max` params (position: lower/upper; velocity:
the speed), the tighter of the two where both are given; an absent attribute is missing, not
zero. MJCF: a limited joint's `range` (degrees converted with `<compiler angle>`; `limited`
and the `<default>` classes resolved), else a `<position>` actuator's `ctrlrange`; a
`<velocity>` actuator's `ctrlrange` gives the speed. Neither format has acceleration limits:
they come from the overrides. XML with a DOCTYPE is refused (no entity expansion). Plain
Python, standard library only; no ROS.
"""

from dataclasses import dataclass, field
import importlib.util
import math
import os
from pathlib import Path
import xml.etree.ElementTree as ET

# The simulator's model (sage_sim's default: gymnasium's Reacher-v5), the nodes' default.
SIM_DESCRIPTION = 'python://gymnasium/envs/mujoco/assets/reacher.xml'
FIELDS = ('lower', 'upper', 'velocity', 'acceleration')
# The parameter that overrides each field (the L-module's names).
PARAMETER_OF = {'names': 'joint_names', 'lower': 'position_lower', 'upper': 'position_upper',
                'velocity': 'max_velocity', 'acceleration': 'max_acceleration'}
MISSING = math.nan  # a limit the description does not give
_MOVABLE_URDF = ('revolute', 'prismatic', 'continuous')
_ONE_DOF_MJCF = ('hinge', 'slide')


@dataclass
class JointFacts:
    """Joint names and per-joint limits (NaN: not given); lists in `names` order."""

    names: list = field(default_factory=list)
    lower: list = field(default_factory=list)
    upper: list = field(default_factory=list)
    velocity: list = field(default_factory=list)
    acceleration: list = field(default_factory=list)
    source: str = ''

    def __post_init__(self):
        """Fill absent limit lists with NaN; check every list has one value per joint."""
        self.names = [str(n) for n in self.names]
        for name in FIELDS:
            values = getattr(self, name)
            values = [MISSING] * len(self.names) if values is None or len(values) == 0 \
                else [float(v) for v in values]
            if len(values) != len(self.names):
                raise ValueError(f'{self.source or "joint facts"}: {len(values)} values of '
                                 f'{name} for {len(self.names)} joints {self.names}')
            setattr(self, name, values)

    def settings(self):
        """Return the L-module parameters these facts set ({parameter: value})."""
        return {PARAMETER_OF[f]: list(getattr(self, f)) for f in ('names',) + FIELDS}


# -- reading ---------------------------------------------------------------------------------
def _parse_xml(text, source):
    if '<!DOCTYPE' in text.upper() or '<!ENTITY' in text.upper():
        raise ValueError(f'{source}: a DOCTYPE or ENTITY declaration is not accepted in a '
                         'robot description')
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f'{source}: not well-formed XML: {exc}') from exc


def load_description(ref):
    """Return the XML text of ref: XML text, a path, file:///path or python://pkg/path."""
    ref = (ref or '').strip()
    if not ref:
        raise ValueError('empty robot description')
    if ref.startswith('<'):
        return ref
    if ref.startswith('python://'):
        package, _, rest = ref[len('python://'):].partition('/')
        spec = importlib.util.find_spec(package) if package else None
        if spec is None or not spec.submodule_search_locations:
            raise ValueError(f'robot description {ref}: no installed Python package '
                             f'{package!r}')
        path = Path(list(spec.submodule_search_locations)[0]) / rest
    elif ref.startswith('file://'):
        path = Path(ref[len('file://'):])
    else:
        path = Path(os.path.expanduser(ref))
    try:
        return path.read_text()
    except OSError as exc:
        raise ValueError(f'robot description {ref}: cannot read {path}: {exc}') from exc


def parse_description(text, source='robot description'):
    """Return the JointFacts of a URDF or MJCF document (text)."""
    root = _parse_xml(text, source)
    if root.tag == 'robot':
        return parse_urdf(root, source)
    if root.tag == 'mujoco':
        return parse_mjcf(root, source)
    raise ValueError(f'{source}: neither a URDF (<robot>) nor an MJCF (<mujoco>) document '
                     f'(root element <{root.tag}>)')


def _float(value, what):
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f'{what}: not a number: {value!r}') from None


def _tighter(a, b, pick):
    """Combine two limits (NaN = not given) with pick (max for lower bounds, min for upper)."""
    if math.isnan(a):
        return b
    return a if math.isnan(b) else pick(a, b)


def parse_urdf(root, source='URDF'):
    """Return the JointFacts of a parsed URDF <robot> element."""
    if isinstance(root, str):
        root = _parse_xml(root, source)
    joints = {}
    order = []
    for joint in root.iter('joint'):
        name, kind = joint.get('name'), joint.get('type')
        if kind not in _MOVABLE_URDF or joint.find('mimic') is not None or name in joints:
            continue
        limit = joint.find('limit')
        get = (lambda key: MISSING) if limit is None else (
            lambda key: _float(limit.get(key), f'{source}: joint {name} limit {key}')
            if limit.get(key) is not None else MISSING)
        lower, upper = (MISSING, MISSING) if kind == 'continuous' else (get('lower'),
                                                                        get('upper'))
        joints[name] = [lower, upper, abs(get('velocity'))]
        order.append(name)
    commanded = []
    for block in root.iter('ros2_control'):
        for joint in block.findall('joint'):
            name = joint.get('name')
            interfaces = joint.findall('command_interface')
            if not interfaces:
                continue
            if name not in joints:
                raise ValueError(f'{source}: <ros2_control> commands joint {name!r}, which is '
                                 f'not a movable <joint> of the robot ({order})')
            if name not in commanded:
                commanded.append(name)
            for interface in interfaces:
                params = {p.get('name'): p.text for p in interface.findall('param')}
                what = f'{source}: ros2_control joint {name} {interface.get("name")}'
                low = _float(params['min'], what + ' min') if 'min' in params else MISSING
                high = _float(params['max'], what + ' max') if 'max' in params else MISSING
                facts = joints[name]
                if interface.get('name') == 'position':
                    facts[0] = _tighter(facts[0], low, max)
                    facts[1] = _tighter(facts[1], high, min)
                elif interface.get('name') == 'velocity':
                    speed = min((abs(v) for v in (low, high) if not math.isnan(v)),
                                default=MISSING)
                    facts[2] = _tighter(facts[2], speed, min)
    names = commanded or order
    return JointFacts(names, [joints[n][0] for n in names], [joints[n][1] for n in names],
                      [joints[n][2] for n in names], None, source)


def _mjcf_defaults(root):
    """Return {class: {element: {attribute: value}}}, each class over its parents'."""
    classes = {}

    def walk(node, inherited, name):
        own = {tag: dict(attrs) for tag, attrs in inherited.items()}
        for child in node:
            if child.tag != 'default':
                own.setdefault(child.tag, {}).update(child.attrib)
        classes[name] = own
        for child in node.findall('default'):
            walk(child, own, child.get('class', 'main'))

    for top in root.findall('default'):
        walk(top, {}, top.get('class', 'main'))
    return classes


def parse_mjcf(root, source='MJCF'):
    """Return the JointFacts of a parsed MJCF <mujoco> element (its actuated joints)."""
    if isinstance(root, str):
        root = _parse_xml(root, source)
    if root.find('include') is not None or root.find('.//include') is not None:
        raise ValueError(f'{source}: <include> is not supported in a robot description; '
                         'pass the flattened model (MuJoCo mj_saveLastXML)')
    compiler = root.find('compiler')
    degrees = compiler is None or compiler.get('angle', 'degree') != 'radian'
    autolimits = compiler is None or compiler.get('autolimits', 'true') == 'true'
    defaults = _mjcf_defaults(root)

    def attrs(element, tag, childclass):
        cls = element.get('class') or childclass or 'main'
        if cls not in defaults and cls != 'main':
            raise ValueError(f'{source}: <{tag}> uses undefined default class {cls!r}')
        merged = dict(defaults.get(cls, {}).get(tag, {}))
        merged.update(element.attrib)
        return merged

    joints = {}

    def walk(body, childclass):
        childclass = body.get('childclass', childclass)
        for joint in body.findall('joint'):
            a = attrs(joint, 'joint', childclass)
            joints[a.get('name')] = a
        for child in body.findall('body'):
            walk(child, childclass)

    worldbody = root.find('worldbody')
    if worldbody is not None:
        walk(worldbody, None)
    facts = {}
    names = []
    actuators = root.find('actuator')
    for actuator in (list(actuators) if actuators is not None else []):
        a = attrs(actuator, actuator.tag, None)
        name = a.get('joint')
        if name is None:
            continue  # a tendon, site or body actuator: no joint of its own
        if name not in joints:
            raise ValueError(f'{source}: actuator drives unknown joint {name!r}')
        joint = joints[name]
        kind = joint.get('type', 'hinge')
        if kind not in _ONE_DOF_MJCF:
            raise ValueError(f'{source}: actuated joint {name} is a {kind} joint; only hinge '
                             'and slide joints are commanded')
        scale = math.pi / 180.0 if degrees and kind == 'hinge' else 1.0
        if name not in facts:
            names.append(name)
            lower = upper = velocity = MISSING
            limited = joint.get('limited', 'auto')
            if 'range' in joint and (limited == 'true' or (limited == 'auto' and autolimits)):
                lower, upper = (_float(v, f'{source}: joint {name} range') * scale
                                for v in joint['range'].split())
            facts[name] = [lower, upper, velocity]
        ctrllimited = a.get('ctrllimited', 'auto')
        if 'ctrlrange' in a and (ctrllimited == 'true' or (ctrllimited == 'auto'
                                                           and autolimits)):
            low, high = (_float(v, f'{source}: actuator of {name} ctrlrange')
                         for v in a['ctrlrange'].split())
            if actuator.tag == 'position':
                facts[name][0] = _tighter(facts[name][0], low * scale, max)
                facts[name][1] = _tighter(facts[name][1], high * scale, min)
            elif actuator.tag == 'velocity':
                facts[name][2] = _tighter(facts[name][2], max(abs(low), abs(high)) * scale,
                                          min)
    return JointFacts(names, [facts[n][0] for n in names], [facts[n][1] for n in names],
                      [facts[n][2] for n in names], None, source)


# -- merging ---------------------------------------------------------------------------------
def _given(values):
    return values is not None and len(values) > 0


def merge(description, overrides=None, required=FIELDS, allow_looser=False):
    """
    Return the JointFacts a node runs with: the description's, each given override winning.

    description: JointFacts, or None when there is no description (the overrides alone).
    overrides: {field: list} of the node's parameter arrays, fields `names` and FIELDS; an
    empty list or None is not set, and a NaN entry takes the description's value for that
    joint. Override names must be the description's joints exactly (they may reorder them:
    the limit arrays then follow the override's order). Every field in `required` must end
    up with a finite value for every joint. An override looser than the description's limit
    (beyond what the robot's own controllers enforce) is refused unless allow_looser.
    Raises ValueError naming the disagreement, or the joint and the field that is missing.
    """
    overrides = overrides or {}
    unknown = sorted(set(overrides) - {'names', *FIELDS})
    if unknown:
        raise ValueError(f'unknown joint fact fields {unknown}')
    names = list(overrides.get('names') or [])
    where = description.source if description is not None else ''
    if description is not None:
        if not names:
            names = list(description.names)
        elif sorted(names) != sorted(description.names) or len(set(names)) != len(names):
            raise ValueError(
                f'joint names disagree: {PARAMETER_OF["names"]} {names} against the robot '
                f'description ({where}) {description.names}; leave {PARAMETER_OF["names"]} '
                "unset to use the description's, or give exactly its joints")
    if not names:
        raise ValueError('no joint names: give a robot description or '
                         f'{PARAMETER_OF["names"]}')
    if len(set(names)) != len(names):
        raise ValueError(f'{PARAMETER_OF["names"]} {names} names a joint twice')
    merged = {}
    for name in FIELDS:
        values = [MISSING] * len(names)
        if description is not None:
            index = {n: i for i, n in enumerate(description.names)}
            values = [getattr(description, name)[index[n]] for n in names]
        given = overrides.get(name)
        if _given(given):
            if len(given) != len(names):
                raise ValueError(f'{PARAMETER_OF[name]} has {len(given)} values for '
                                 f'{len(names)} joints {names}')
            values = [values[i] if math.isnan(float(v)) else float(v)
                      for i, v in enumerate(given)]
        merged[name] = values
    for name in required:
        for joint, value in zip(names, merged[name]):
            if not math.isfinite(value):
                raise ValueError(
                    f'joint {joint}: no {name} limit ({PARAMETER_OF[name]}) in the robot '
                    f'description ({where or "none given"}) nor in the parameters; set '
                    f'{PARAMETER_OF[name]} for every joint of {names}')
    for joint, low, high in zip(names, merged['lower'], merged['upper']):
        if math.isfinite(low) and math.isfinite(high) and not low < high:
            raise ValueError(f'joint {joint}: position_lower {low} is not below '
                             f'position_upper {high}')
    for name in ('velocity', 'acceleration'):
        for joint, value in zip(names, merged[name]):
            if math.isfinite(value) and not value > 0:
                raise ValueError(f'joint {joint}: {PARAMETER_OF[name]} must be > 0, got '
                                 f'{value}')
    facts = JointFacts(names, merged['lower'], merged['upper'], merged['velocity'],
                       merged['acceleration'], where or 'parameters')
    looser = widened(description, facts)
    if looser and not allow_looser:
        raise ValueError('; '.join(looser) + ': remove or tighten the override (or set '
                         'allow_looser_limits to run beyond the description)')
    return facts


def widened(description, facts):
    """Return messages for limits the overrides set looser than the description's."""
    if description is None:
        return []
    index = {n: i for i, n in enumerate(description.names)}
    notes = []
    for j, joint in enumerate(facts.names):
        d = index[joint]
        checks = (('lower', facts.lower[j] < description.lower[d]),
                  ('upper', facts.upper[j] > description.upper[d]),
                  ('velocity', facts.velocity[j] > description.velocity[d]))
        for name, looser in checks:
            if looser:  # False whenever the description's value is NaN
                notes.append(f'joint {joint}: {PARAMETER_OF[name]} '
                             f'{getattr(facts, name)[j]} is looser than the robot '
                             f"description's {getattr(description, name)[d]}")
    return notes


def resolve(description_ref, overrides=None, required=FIELDS, text=None, source=None,
            allow_looser=False):
    """
    Return (facts, description facts or None) for a node.

    description_ref: what `load_description` reads ('' = none); text: the XML itself
    instead (e.g. from the /robot_description topic, named by source).
    """
    description = None
    if text is None and description_ref:
        text = load_description(description_ref)
    if text:
        description = parse_description(text, source or description_ref
                                        or 'robot description')
    return merge(description, overrides, required, allow_looser), description
