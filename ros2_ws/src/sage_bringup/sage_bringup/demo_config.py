# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The demo's configuration (config/demo.yaml) as typed dataclasses, validated on creation.

    config = load_config(path)                      # YAML file, then validated
    config = load_config(path, {'domain_id': 70})   # the same with keys overridden
    config = DemoConfig.from_mapping({'cycles': [{'episodes': 10, 'first_seed': 0}]})

Every key has a default (the dataclass fields below); an unknown key or a bad value raises
ConfigError (a ValueError) naming the key, e.g. `sleep.gate.floor must be in [0, 1]`.
"""

import dataclasses
from pathlib import Path

from sage_bringup import graph as graph_mod
import yaml

TEACHERS = ('scripted', 'groot')


class ConfigError(ValueError):
    """The demo configuration is malformed; the message names the key."""


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(key, value):
    if not _number(value) or value <= 0:
        raise ConfigError(f'{key} must be a positive number, got {value!r}')


def _count(key, value, minimum=0):
    if not _integer(value) or value < minimum:
        raise ConfigError(f'{key} must be an integer >= {minimum}, got {value!r}')


def _string(key, value):
    if not isinstance(value, str):
        raise ConfigError(f'{key} must be a string, got {value!r}')


def _build(cls, values, where):
    """Return cls(**values) with nested dataclasses built; errors prefixed with `where`."""
    prefix = f'{where}.' if where else ''
    if isinstance(values, cls):
        return values
    if not isinstance(values, dict):
        raise ConfigError(f'{where or "the configuration"} must be a mapping, got {values!r}')
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f'{where + ": " if where else ""}unknown key(s) {", ".join(unknown)} '
                          f'(allowed: {", ".join(sorted(fields))})')
    kwargs = {}
    for key, value in values.items():
        nested = _NESTED.get((cls, key))
        kwargs[key] = _build(nested, value, prefix + key) if nested else value
    try:
        return cls(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f'{prefix}{exc}') from None


@dataclasses.dataclass(frozen=True)
class CameraConfig:
    """The encoder's input size: the simulator renders at it, nothing is resampled."""

    width: int = 64
    height: int = 64

    def __post_init__(self):
        _count('width', self.width, 1)
        _count('height', self.height, 1)


class _SeedRange:
    """`episodes` consecutive seeds from `first_seed`."""

    @property
    def seeds(self):
        """Return the range of seeds."""
        return range(self.first_seed, self.first_seed + self.episodes)


@dataclasses.dataclass(frozen=True)
class CycleConfig(_SeedRange):
    """One wake period: `episodes` seeded episodes from `first_seed`."""

    episodes: int
    first_seed: int

    def __post_init__(self):
        _count('episodes', self.episodes, 1)
        _count('first_seed', self.first_seed, 0)


@dataclasses.dataclass(frozen=True)
class GateConfig(_SeedRange):
    """A sleep's deployment gate: closed-loop success on development seeds."""

    first_seed: int = 200000
    episodes: int = 30
    floor: float = 0.5

    def __post_init__(self):
        _count('first_seed', self.first_seed, 0)
        _count('episodes', self.episodes, 0)
        if not _number(self.floor) or not 0 <= self.floor <= 1:
            raise ConfigError(f'floor must be in [0, 1], got {self.floor!r}')


@dataclasses.dataclass(frozen=True)
class SleepConfig:
    """A sleep's budget: wall-clock seconds of training (the baselines get the same)."""

    seconds: float = 240.0
    batch_size: int = 48
    timeout: float = 1800.0
    gate: GateConfig = GateConfig()

    def __post_init__(self):
        _positive('seconds', self.seconds)
        _count('batch_size', self.batch_size, 1)
        _positive('timeout', self.timeout)


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """Held-out evaluation: over ROS after each sleep, and offline in simulated time."""

    first_seed: int = 100000
    ros_episodes: int = 20
    episodes: int = 100
    perturbations: tuple = ('physics', 'vision')

    def __post_init__(self):
        _count('first_seed', self.first_seed, 0)
        _count('ros_episodes', self.ros_episodes, 0)
        _count('episodes', self.episodes, 0)
        if not isinstance(self.perturbations, (list, tuple)) or not all(
                isinstance(p, str) and p and p != 'none' for p in self.perturbations):
            raise ConfigError(f'perturbations must be a list of perturbation preset names, '
                              f'got {self.perturbations!r}')
        object.__setattr__(self, 'perturbations', tuple(self.perturbations))

    @property
    def held_out(self):
        """Every held-out seed: those evaluated over ROS and those evaluated offline."""
        return range(self.first_seed, self.first_seed + max(self.episodes, self.ros_episodes))


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """What one `make demo` run does."""

    graph: str = ''                  # '' = launch/sage_graph.yaml of this checkout
    domain_id: int = None            # None = a free one (processes.pick_domain_id)
    startup_timeout: float = 90.0
    run_root: str = ''               # '' = $SAGE_ROOT/runs
    report_root: str = ''            # '' = $SAGE_ROOT/reports
    seed: int = 0                    # initial model weights and training
    camera: CameraConfig = CameraConfig()
    episode_duration: float = 2.0
    cycles: tuple = (CycleConfig(120, 0), CycleConfig(40, 10000))
    sleep: SleepConfig = SleepConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    baselines: bool = True
    slow_start_step: float = 1.0     # l_module slow start: each speed step lasts this long (s)
    episode_timeout_margin: float = 15.0
    teacher: str = 'scripted'        # cycle 1's teacher: scripted, or groot (groot_teacher)
    target_colors: tuple = ()        # () one goal; e.g. (red, blue): the task sentence names one

    def __post_init__(self):
        for key in ('graph', 'run_root', 'report_root'):
            _string(key, getattr(self, key))
        if self.domain_id is not None:
            _count('domain_id', self.domain_id, 0)
        _count('seed', self.seed, 0)
        for key in ('startup_timeout', 'episode_duration', 'slow_start_step',
                    'episode_timeout_margin'):
            _positive(key, getattr(self, key))
        if not isinstance(self.baselines, bool):
            raise ConfigError(f'baselines must be true or false, got {self.baselines!r}')
        if self.teacher not in TEACHERS:
            raise ConfigError(f'teacher must be scripted or groot, got {self.teacher!r}')
        self._check_target_colors()
        self._check_cycles()
        held_out, development = set(self.evaluate.held_out), set(self.sleep.gate.seeds)
        if development & held_out:
            raise ConfigError('the development seeds of sleep.gate overlap the held-out '
                              'evaluation seeds')
        for cycle in self.cycles:
            trained = cycle.seeds
            if set(trained) & (held_out | development):
                raise ConfigError(f'training seeds {trained.start}..{trained.stop - 1} overlap '
                                  f'the held-out evaluation or development seeds')

    def _check_target_colors(self):
        from sage_sim.robot import COLORS

        colors = self.target_colors
        if not isinstance(colors, (list, tuple)) or len(colors) == 1 or \
                len(set(colors)) != len(colors) or not set(colors) <= set(COLORS):
            raise ConfigError(f'target_colors must be empty or two or more distinct colours '
                              f'of {sorted(COLORS)}, got {colors!r}')
        object.__setattr__(self, 'target_colors', tuple(colors))

    def _check_cycles(self):
        usage = 'cycles must be a non-empty list of {episodes: N > 0, first_seed: S >= 0}'
        if not isinstance(self.cycles, (list, tuple)) or not self.cycles:
            raise ConfigError(f'{usage}, got {self.cycles!r}')
        cycles = []
        for i, cycle in enumerate(self.cycles):
            if not isinstance(cycle, CycleConfig):
                if not isinstance(cycle, dict) or set(cycle) != {'episodes', 'first_seed'}:
                    raise ConfigError(f'{usage}; cycles[{i}] is {cycle!r}')
                cycle = _build(CycleConfig, cycle, f'cycles[{i}]')
            cycles.append(cycle)
        object.__setattr__(self, 'cycles', tuple(cycles))

    @classmethod
    def from_mapping(cls, values):
        """Return the configuration of a (YAML-shaped) mapping; defaults for missing keys."""
        return _build(cls, values, '')

    def to_dict(self):
        """Return the configuration as plain data (for report.json)."""
        return dataclasses.asdict(self)


_NESTED = {(DemoConfig, 'camera'): CameraConfig, (DemoConfig, 'sleep'): SleepConfig,
           (DemoConfig, 'evaluate'): EvaluateConfig, (SleepConfig, 'gate'): GateConfig}


def default_config_file():
    """Return sage_bringup's config/demo.yaml (installed share dir, else the source tree)."""
    try:
        prefix = graph_mod.find_package_prefix('sage_bringup')
        installed = prefix / 'share' / 'sage_bringup' / 'config' / 'demo.yaml'
        if installed.is_file():
            return installed
    except graph_mod.GraphError:
        pass
    return Path(__file__).resolve().parents[1] / 'config' / 'demo.yaml'


def _merged(values, overrides):
    """Return values with overrides applied; nested mappings are merged key by key."""
    out = dict(values)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            value = _merged(out[key], value)
        out[key] = value
    return out


def load_config(path, overrides=None):
    """Load, override and validate the demo configuration; raise ConfigError naming the key."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding='utf-8')) or {}
    except OSError as exc:
        raise ConfigError(f'cannot read demo config {path}: {exc.strerror}') from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f'{path}: not valid YAML: {exc}') from exc
    if not isinstance(data, dict):
        raise ConfigError(f'{path}: expected a mapping')
    try:
        return DemoConfig.from_mapping(_merged(data, overrides or {}))
    except ConfigError as exc:
        raise ConfigError(f'{path}: {exc}') from None
