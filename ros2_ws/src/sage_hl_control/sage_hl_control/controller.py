# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The L-module's command logic without ROS: action chunks in, one joint command per tick out.

ActuatorController is what the `l_module` node runs between the L-module's chunks and the
robot, and what `sage_evaluate` drives the simulated robot through: the chunks are blended by
a TemporalEnsembler and every tick's target passes the SafetyFilter (limits, watchdog, e-stop,
slow start) and a last guard on the position limits. Time is the caller's: the node passes
its monotonic clock, the evaluator the simulated time. A chunk's first target is for the
stamp of the context it was computed from (training labels chunk step k with the teacher's
target at stamp + k * chunk_dt), not for the moment it arrived. CommandSchedule says when the
node publishes: on its timer, and at once when a new chunk arrives. PARAMETERS holds the
controller's parameters of the node with their defaults (config/l_module.yaml holds the same
values).
"""

import numpy as np
from sage_common.joint_facts import FIELDS, PARAMETER_OF, resolve, SIM_DESCRIPTION
from sage_common.rejects import RejectCounter
from sage_common.stats import LatencyWindow
from sage_hl_control.ensemble import TemporalEnsembler
from sage_hl_control.safety import SafetyFilter, SlowStart

# name: (default, description, (low, high) or None); the node declares them as parameters.
PARAMETERS = {
    'joint_names': (['joint0', 'joint1'], 'commanded joints, in order', None),
    'command_rate': (100.0, 'command timer rate (Hz)', (1.0, 1000.0)),
    'react_on_arrival': (True, 'command as soon as a new chunk is added (re-phasing the timer); '
                         'false: only on the timer', None),
    'stale_timeout': (0.1, 'watchdog: inputs older than this (s) make the node hold',
                      (0.005, 10.0)),
    'position_lower': ([-6.2832, -3.0], 'rad, per joint', None),
    'position_upper': ([6.2832, 3.0], 'rad, per joint', None),
    'max_velocity': ([8.0, 8.0], 'rad/s, per joint', None),
    'max_acceleration': ([80.0, 80.0], 'rad/s^2, per joint', None),
    'slow_start_scales': ([0.1, 0.25, 0.5, 1.0],
                          'speed scale steps after (re)start, rising to 1', None),
    'slow_start_step': (5.0, 'seconds per slow-start step (0: no slow start)', (0.0, 3600.0)),
    'slow_start_after_hold': (0.5, 'a hold at least this long (s), and every e-stop, restarts '
                              'the slow start; a shorter one resumes at the current speed',
                              (0.0, 3600.0)),
    'joint_state_margin': (0.5, 'measured positions further than this (rad) outside the '
                           'position limits are refused as implausible', (0.0, 100.0)),
    'exteroceptive_presence': (3, 'Context.PRESENT_* bits of the sources the policy needs '
                               '(colour 1, depth 2): a context without one of them (absent, or '
                               'masked as distrusted) caps the speed at distrust_speed_scale',
                               (0, 3)),
    'distrust_speed_scale': (0.1, 'speed scale cap while the exteroception is incomplete '
                             '(1: no cap)', (0.0, 1.0)),
    'stuck_encoder_after': (0.2, 'a joint reading unchanged this long (s) while the commands '
                            'moved it more than stuck_encoder_motion holds the arm (0: off)',
                            (0.0, 10.0)),
    'stuck_encoder_motion': (0.05, 'rad commanded since the reading last changed, see '
                             'stuck_encoder_after', (1e-4, 10.0)),
    'blind_hold': (True, 'hold while a context has none of the exteroceptive_presence '
                   'sources (every one absent or distrusted)', None),
    'ensemble_decay': (10.0, 'chunk weight exp(-decay * age_s); <0 favours older chunks (ACT)',
                       (-1000.0, 1000.0)),
}


def default_settings():
    """Return {parameter: default} of PARAMETERS."""
    return {name: spec[0] for name, spec in PARAMETERS.items()}


def settings_from_parameters(given):
    """
    Return the controller settings an L-module node with parameter values `given` runs with.

    given: {parameter: value} as in its parameters file. The joint names and limits are
    resolved as the node resolves them (sage_common.joint_facts: the `robot_description`,
    default the simulator's MJCF, with the arrays as overrides; ValueError on a disagreement
    or a missing limit); a description on `robot_description_topic` cannot be read here, so
    the arrays alone must then give them. The other settings default as the node's do.
    """
    facts = {PARAMETER_OF[f] for f in ('names',) + FIELDS}
    settings = default_settings()
    settings.update({k: v for k, v in given.items() if k in PARAMETERS and k not in facts})
    overrides = {f: given.get(PARAMETER_OF[f]) for f in ('names',) + FIELDS}
    merged, _ = resolve(given.get('robot_description', SIM_DESCRIPTION), overrides, FIELDS,
                        allow_looser=bool(given.get('allow_looser_limits', False)))
    settings.update(merged.settings())
    return settings


class ActuatorController:
    """
    Ensembling, safety filter and guard of the L-module node, for one fixed list of joints.

    Feed it joint states (`update_joints`), chunks (`add_chunk`), the e-stop (`set_estop`) and
    episode boundaries (`start_episode`); `tick(now)` returns the Command to publish, or None
    to publish nothing. Refused inputs and blocked commands are counted in `rejects`.
    """

    def __init__(self, settings=None, rejects=None):
        """Use settings ({parameter: value} over the defaults) and a RejectCounter."""
        unknown = sorted(set(settings or {}) - set(PARAMETERS))
        if unknown:
            raise ValueError(f'unknown controller parameters {unknown}; known: '
                             f'{sorted(PARAMETERS)}')
        self.settings = {**default_settings(), **(settings or {})}
        s = self.settings
        self.joint_names = list(s['joint_names'])
        if not s['command_rate'] > 0:
            raise ValueError(f'command_rate must be > 0, got {s["command_rate"]}')
        self.dt = 1.0 / s['command_rate']
        self.safety = SafetyFilter(
            self.joint_names, s['position_lower'], s['position_upper'], s['max_velocity'],
            s['max_acceleration'], self.dt, s['stale_timeout'],
            SlowStart(s['slow_start_scales'], s['slow_start_step']),
            s['slow_start_after_hold'], s['joint_state_margin'], s['distrust_speed_scale'],
            s['stuck_encoder_after'], s['stuck_encoder_motion'])
        self.ensembler = TemporalEnsembler(s['ensemble_decay'])
        self.schedule = CommandSchedule(self.dt, s['react_on_arrival'])
        self.rejects = rejects if rejects is not None else RejectCounter()
        self.chunks = 0
        self.episodes = 0
        self._joint_vel = np.zeros(len(self.joint_names))
        self._episode_stamp = None
        self._last_stamp = None  # of the last context acted on

    # -- inputs ----------------------------------------------------------------------------
    def update_joints(self, positions, velocities, now):
        """Record measured joint positions and velocities (joint_names order); False: refused."""
        velocities = np.asarray(velocities, dtype=np.float64).reshape(-1)
        if not np.all(np.isfinite(velocities)):
            self.rejects.reject('joint_state_non_finite', 'velocity')
            return False
        if not self.safety.update_joints(positions, now):
            if np.all(np.isfinite(positions)):
                self.rejects.reject('joint_state_out_of_limits', f'position {list(positions)}')
            else:
                self.rejects.reject('joint_state_non_finite', 'position')
            return False
        self._joint_vel = velocities
        return True

    def joint_state(self):
        """Return the (positions, velocities) a chunk is computed from, or None before any."""
        positions = self.safety.measured()
        return None if positions is None else (positions, self._joint_vel.copy())

    def admit(self, stamp):
        """
        Return whether to act on a context stamped `stamp` (seconds); count why not.

        Refused: a context from before the current episode, and one stamped at or before the
        last context acted on (out of order, or a repeat).
        """
        if self._episode_stamp is not None and stamp < self._episode_stamp:
            self.rejects.reject('previous_episode', f'context stamped {stamp:.3f} s, episode '
                                f'started at {self._episode_stamp:.3f} s')
            return False
        if self._last_stamp is not None and stamp <= self._last_stamp:
            self.rejects.reject('context_out_of_order', f'context stamped {stamp:.6f} s, the '
                                f'last one acted on {self._last_stamp:.6f} s')
            return False
        return True

    def add_chunk(self, chunk, now, dt, stamp, version='', age=0.0, presence=None):
        """
        Blend in a (K, J) chunk of position targets, steps dt apart; False: refused.

        stamp: the source stamp of the context it was computed from (seconds, the clock of
        `start_episode`); contexts `admit` refuses are refused. age: how old that stamp was
        at `now` (>= 0): the chunk's first target is for now - age, the stamp on the
        caller's clock. presence: that context's Context.PRESENT_* bits (None: all present);
        one without every `exteroceptive_presence` bit caps the speed until a complete one,
        one with none of them holds (with `blind_hold`) until one with some.
        """
        if not self.admit(stamp):
            return False
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 2 or chunk.shape[0] < 1 or chunk.shape[1] != len(self.joint_names) \
                or not np.all(np.isfinite(chunk)):
            self.rejects.reject('model_non_finite', f'L-module {version} output')
            return False
        expected = int(self.settings['exteroceptive_presence'])
        seen = expected if presence is None else presence & expected
        self.safety.update_context(now, seen != expected,
                                   self.settings['blind_hold'] and expected and not seen)
        self.ensembler.add(chunk, now - max(0.0, float(age)), dt, version)
        self._last_stamp = float(stamp)
        self.chunks += 1
        return True

    def set_estop(self, pressed, now):
        """Latch the e-stop (True) or release it explicitly (False)."""
        self.safety.set_estop(pressed, now)

    def clear(self):
        """Drop every chunk (on activation: chunks from before must not resume)."""
        self.ensembler.clear()

    def start_episode(self, stamp):
        """
        Begin a new episode at stamp (seconds, the clock of the chunks' context stamps).

        Every chunk is dropped and chunks from contexts stamped before `stamp` are refused, so
        nothing of the old episode blends into the new one; nothing is commanded until the
        new episode's first chunk, whose command starts from the measured position
        (SafetyFilter.new_episode). Slow start does NOT restart on an episode boundary: it is
        a safety ramp after start-up and after a hold (e-stop, watchdog), not per episode.
        """
        self.clear()
        self._episode_stamp = float(stamp)
        self._last_stamp = None  # a restarted clock (a new simulation) starts over
        self.safety.new_episode()
        self.episodes += 1

    # -- the control tick ------------------------------------------------------------------
    def command_on_arrival(self, now):
        """
        Return the Command to publish at once after `add_chunk`, or None (none to publish).

        With react_on_arrival the schedule is re-phased at now when there is one: the
        caller restarts its timer's period.
        """
        if not self.schedule.react:
            return None
        command = self.tick(now)
        if command is not None:
            self.schedule.rephase(now)
        return command

    def command_on_timer(self, now):
        """Return the Command of a timer tick at now, or None (skipped, or none to publish)."""
        return self.tick(now) if self.schedule.tick(now) else None

    def tick(self, now):
        """
        Return the safety-filtered Command for now, or None to publish nothing.

        The chunks are dropped when the command is a hold (stale chunks must not resume). A
        command outside the position limits (never expected) is blocked and counted.
        """
        command = self.safety.step(now, self.ensembler.evaluate(now))
        if command is None:
            return None
        if command.holding:
            self.ensembler.clear()
        if not self.safety.within_limits(command.positions):
            self.rejects.reject('guard_blocked', f'command {command.positions}')
            return None
        return command


class CommandSchedule:
    """
    When the L node publishes: every `period` on its timer and, with `react`, on each new chunk.

    The node publishes a command as soon as a chunk is added and re-phases its timer
    (`rephase`): the next tick comes one period later, so an arrival adds one command and no
    tick follows it a fraction of a period later (a tick that still comes within half a
    period, e.g. one already due while the chunk was computed, is skipped). A tick that runs
    just before an arrival is not delayed: the SafetyFilter limits that short step by the
    time it spans. `jitter` holds |interval - period| for every tick, the interval measured
    from the previous tick or re-phase.
    """

    def __init__(self, period, react=True):
        if not period > 0:
            raise ValueError(f'period must be > 0, got {period}')
        self.period = float(period)
        self.react = bool(react)
        self.jitter = LatencyWindow()
        self.rephased = 0
        self.skipped = 0
        self._reference = None  # the last tick or re-phase
        self._arrival = None    # the last command on arrival

    def start(self):
        """Forget the phase (the timer was (re)created)."""
        self._reference = self._arrival = None

    def rephase(self, now):
        """Record a command on arrival at now: the timer's period restarts from now."""
        self._reference = self._arrival = now
        self.rephased += 1

    def tick(self, now):
        """Record a timer tick at now; return whether to command (False: skipped)."""
        if self._reference is not None:
            self.jitter.add(abs(now - self._reference - self.period))
        self._reference = now
        if self._arrival is not None and now - self._arrival < 0.5 * self.period:
            self.skipped += 1
            return False
        return True
