# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The safety filter every joint command passes through (plain Python, no ROS).

Per tick (`step`) it turns the ensembled target into the command actually sent, or a hold:

* measured positions further than `measured_margin` outside the position limits are refused
  (an implausible reading; holding there would command the limit);
* hold at the last measured position (captured when the hold starts, clamped to the position
  limits) while the e-stop is latched, the compressed context or the joint states are older
  than `stale_timeout`, there is no target, or the target has the wrong joint count or a
  non-finite value; a hold ends only once BOTH inputs arrived after the last moment a hold
  reason was present (fresh inputs), and the slow-start schedule then begins again;
* otherwise the target is clamped to the position limits, and the step from the previous
  command is limited in velocity (including a braking bound sqrt(2 a d) before each position
  limit) and acceleration over the time elapsed since that command, at most `dt` (a command
  1 ms after the previous one moves at most 1 ms worth: commands sent between the ticks
  cannot add up to a burst); the velocity and acceleration limits are scaled by the
  slow-start schedule (10% first, raised step by step);
* the position limits and the (scaled) velocity limit are hard: a final clamp guarantees them;
* at an episode boundary (`new_episode`) nothing is commanded until the episode's first
  target (unless a hold reason other than `no_target` appears), and the first command is
  limited from the measured position at rest, not from the last command of the old episode;
  the slow-start schedule goes on (it is a start-up and after-hold ramp, not a per-episode one);
* while the last context lacked a trusted exteroceptive source (`update_context(now, True)`),
  the speed scale is at most `distrust_scale`: a policy that lost part of its view moves
  slowly; while it had none at all (`update_context(now, True, blind=True)`: every camera
  stream absent or distrusted) the arm holds (reason `blind`): a blind policy steers by
  nothing but its memory of the scene;
* a joint whose fresh readings have not changed for `stuck_after` s while the commands since
  its reading last changed moved it more than `stuck_motion` rad holds the arm (reason
  `encoder_stuck`, a following error: a stuck encoder, or a joint that is blocked) at the
  last command, not at the reading, which may be far from where the joint is. The hold lasts
  until that joint's reading changes.

Every intervention is counted by reason (`counts`) for /diagnostics. The e-stop latches on
`set_estop(True)` and is released only by an explicit `set_estop(False)`.
"""

import collections

import numpy as np

MIN_STEP_S = 1e-6  # a command at the same instant as the previous one moves (almost) nothing
HOLD_REASONS = ('estop', 'stale_context', 'stale_joints', 'encoder_stuck', 'blind',
                'no_target', 'wrong_joint_count', 'non_finite')


class SlowStart:
    """A speed scale raised step by step: scales[i] during [i * step_s, (i + 1) * step_s)."""

    def __init__(self, scales=(0.1, 0.25, 0.5, 1.0), step_s=5.0):
        scales = [float(s) for s in scales]
        if not scales or min(scales) <= 0 or max(scales) > 1 or scales != sorted(scales):
            raise ValueError(f'slow-start scales must rise within (0, 1], got {scales}')
        if step_s < 0:
            raise ValueError('slow-start step must be >= 0 s')
        self.scales = scales
        self.step_s = float(step_s)
        self._start = None

    def restart(self, now):
        """Begin the schedule again at its first (slowest) scale."""
        self._start = now

    def scale(self, now):
        """Return the scale at now (the first scale before any restart)."""
        if self._start is None or self.step_s == 0:
            return self.scales[-1] if self.step_s == 0 else self.scales[0]
        index = int(max(0.0, now - self._start) // self.step_s)
        return self.scales[min(index, len(self.scales) - 1)]


class Command:
    """The filter's output for one tick."""

    __slots__ = ('positions', 'holding', 'reasons', 'scale')

    def __init__(self, positions, holding, reasons, scale):
        self.positions = positions
        self.holding = holding
        self.reasons = reasons
        self.scale = scale


class SafetyFilter:
    """Limits, watchdog, e-stop and slow start for a fixed list of joints."""

    def __init__(self, joint_names, lower, upper, max_velocity, max_acceleration, dt,
                 stale_timeout=0.1, slow_start=None, ramp_after_hold_s=0.0,
                 measured_margin=0.5, distrust_scale=1.0, stuck_after=0.0,
                 stuck_motion=0.05):
        """
        Check and keep the limits; slow_start: a SlowStart (default: its defaults).

        ramp_after_hold_s: a hold at least this long, and every e-stop, restart the slow
        start when commands resume; a shorter hold (a context late by a few ticks) resumes at
        the speed scale of the moment. 0: every hold restarts it. stuck_after: seconds of
        unchanged readings that, with more than stuck_motion rad commanded meanwhile, make a
        joint's encoder stuck (0: never judged).
        """
        self.joint_names = list(joint_names)
        n = len(self.joint_names)
        self.lower = self._vector(lower, n, 'position lower limits')
        self.upper = self._vector(upper, n, 'position upper limits')
        self.max_velocity = self._vector(max_velocity, n, 'velocity limits')
        self.max_acceleration = self._vector(max_acceleration, n, 'acceleration limits')
        if np.any(self.lower >= self.upper) or np.any(self.max_velocity <= 0) or \
                np.any(self.max_acceleration <= 0):
            raise ValueError('need lower < upper and positive velocity/acceleration limits')
        if not dt > 0 or not stale_timeout > 0:
            raise ValueError('dt and stale_timeout must be > 0')
        self.dt = float(dt)
        self.stale_timeout = float(stale_timeout)
        self.slow_start = slow_start or SlowStart()
        if ramp_after_hold_s < 0:
            raise ValueError('ramp_after_hold_s must be >= 0')
        self.ramp_after_hold_s = float(ramp_after_hold_s)
        if measured_margin < 0:
            raise ValueError('measured_margin must be >= 0')
        self.measured_margin = float(measured_margin)
        if not 0 <= distrust_scale <= 1:
            raise ValueError('distrust_scale must be in [0, 1]')
        self.distrust_scale = float(distrust_scale)
        if stuck_after < 0 or not stuck_motion > 0:
            raise ValueError('stuck_after must be >= 0 and stuck_motion > 0')
        self.stuck_after = float(stuck_after)
        self.stuck_motion = float(stuck_motion)
        self._changed_at = np.zeros(n)   # when each joint's reading last changed
        self._commanded = np.zeros(n)    # the commanded path (rad) of each joint since then
        self.counts = collections.Counter()
        self.estop = False
        self._joints = None          # (positions, time) of the last measurement
        self._context_time = None
        self._distrusted = False     # the last context lacked a trusted exteroceptive source
        self._blind = False          # ... and had none at all
        self._prev_cmd = None
        self._prev_time = None       # when _prev_cmd was commanded
        self._prev_vel = np.zeros(n)
        self._holding = True         # nothing has been commanded yet
        self._hold_position = None
        self._hold_since = None
        self._hold_began = None      # None: the hold since start-up
        self._hold_estop = False     # the e-stop was pressed during the current hold
        self._episode_wait = False   # new episode, no target yet: command nothing

    @staticmethod
    def _vector(values, n, what):
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
        if arr.size != n or not np.all(np.isfinite(arr)):
            raise ValueError(f'{what}: need {n} finite values, got {list(values)}')
        return arr

    # -- inputs ----------------------------------------------------------------------------
    def update_joints(self, positions, now):
        """Record measured joint positions (in joint_names order); return False if refused."""
        positions = np.asarray(positions, dtype=np.float64).reshape(-1)
        if positions.size != len(self.joint_names):
            self.counts['joint_state_wrong_count'] += 1
            return False
        if not np.all(np.isfinite(positions)):
            self.counts['joint_state_non_finite'] += 1
            return False
        if np.any(positions < self.lower - self.measured_margin) or \
                np.any(positions > self.upper + self.measured_margin):
            # An encoder cannot report a joint far past its limits: a hold there would
            # command the limit itself.
            self.counts['joint_state_out_of_limits'] += 1
            return False
        changed = np.ones(len(positions), bool) if self._joints is None else \
            positions != self._joints[0]
        self._changed_at[changed] = now
        self._commanded[changed] = 0.0
        self._joints = (positions.copy(), float(now))
        return True

    def update_context(self, now, distrusted=False, blind=False):
        """
        Record the arrival of a valid compressed context.

        distrusted: it lacked a trusted exteroceptive source (caps the speed); blind: it had
        none (holds; implies distrusted).
        """
        self._context_time = float(now)
        self._blind = bool(blind)
        self._distrusted = bool(distrusted) or self._blind

    def set_estop(self, pressed, now):
        """Latch the e-stop (True) or release it explicitly (False)."""
        pressed = bool(pressed)
        if pressed and not self.estop:
            self.counts['estop_pressed'] += 1
        elif not pressed and self.estop:
            self.counts['estop_released'] += 1
        self.estop = pressed

    @property
    def holding(self):
        return self._holding

    def measured(self):
        """Return the last measured positions (or None)."""
        return None if self._joints is None else self._joints[0].copy()

    def new_episode(self):
        """
        Forget the previous episode's commands: the robot may have been moved (a reset).

        Until the new episode's first target, `step` returns None (the robot keeps the pose it
        was reset to) unless another hold reason is present; a hold captures the position
        measured from then on. The first command is limited from the measured position at
        rest. The slow-start schedule is NOT restarted: it ramps up after start-up and after
        holds (e-stop, watchdog), which an episode boundary is not.
        """
        self._prev_cmd = None
        self._prev_time = None
        self._prev_vel = np.zeros(len(self.joint_names))
        self._hold_position = None
        self._episode_wait = True

    # -- the filter ------------------------------------------------------------------------
    def _hold_reasons(self, now, target):
        reasons = []
        if self.estop:
            reasons.append('estop')
        if self._context_time is None or now - self._context_time > self.stale_timeout:
            reasons.append('stale_context')
        if now - self._joints[1] > self.stale_timeout:
            reasons.append('stale_joints')
        elif self.stuck_after and np.any((now - self._changed_at >= self.stuck_after) &
                                         (self._commanded > self.stuck_motion)):
            reasons.append('encoder_stuck')
        if self._blind:
            reasons.append('blind')
        if target is None:
            reasons.append('no_target')
        else:
            target = np.asarray(target, dtype=np.float64).reshape(-1)
            if target.size != len(self.joint_names):
                reasons.append('wrong_joint_count')
            elif not np.all(np.isfinite(target)):
                reasons.append('non_finite')
        return reasons

    def step(self, now, target):
        """
        Return the Command for this tick, or None when there is nothing to command.

        None: before any joint state was measured, or after `new_episode` while the only
        hold reason is the missing target. target: the (J,) position target for now (None if
        there is none).
        """
        if self._joints is None:
            self.counts['no_joint_state'] += 1
            return None
        reasons = self._hold_reasons(now, target)
        if self._episode_wait:
            if reasons == ['no_target']:
                return None
            self._episode_wait = False
        scale = self.slow_start.scale(now)
        if not reasons and self._holding:
            fresh = (self._hold_since is None or
                     (self._context_time > self._hold_since and
                      self._joints[1] > self._hold_since))
            if fresh:
                self._holding = False
                if self._hold_began is None or self._hold_estop or \
                        now - self._hold_began >= self.ramp_after_hold_s:
                    self.slow_start.restart(now)
                    scale = self.slow_start.scale(now)
            else:
                reasons = ['awaiting_fresh_inputs']
        if reasons:
            return self._hold(now, reasons, scale)
        if self._distrusted and scale > self.distrust_scale:
            scale = self.distrust_scale
            self.counts['speed_capped_distrusted'] += 1
        return Command(self._limit(np.asarray(target, dtype=np.float64).reshape(-1), scale,
                                   now), False, [], scale)

    def _hold(self, now, reasons, scale):
        if not self._holding:
            self._hold_began, self._hold_estop = now, False
        if not self._holding or self._hold_position is None:
            # A stuck reading is not where the joint is: the last command is nearer.
            at = self._prev_cmd if 'encoder_stuck' in reasons and self._prev_cmd is not None \
                else self._joints[0]
            self._hold_position = self._clamp(at.copy())
            self._holding = True
        self._hold_estop = self._hold_estop or 'estop' in reasons
        self._hold_since = now
        for reason in reasons:
            self.counts['hold_' + reason] += 1
        self._prev_cmd = self._hold_position.copy()
        self._prev_time = now
        self._prev_vel = np.zeros(len(self.joint_names))
        return Command(self._hold_position.copy(), True, reasons, scale)

    def _clamp(self, positions):
        clamped = np.clip(positions, self.lower, self.upper)
        if np.any(clamped != positions):
            self.counts['position_clamped'] += 1
        return clamped

    def _elapsed(self, now):
        """Return the time the step from the previous command spans: (0, dt]."""
        if self._prev_time is None:
            return self.dt  # from the measured position at rest
        return min(max(now - self._prev_time, MIN_STEP_S), self.dt)

    def _limit(self, target, scale, now):
        dt = self._elapsed(now)
        prev = self._prev_cmd if self._prev_cmd is not None else self._clamp(self._joints[0])
        desired = self._clamp(target)
        v_max = self.max_velocity * scale
        a_max = self.max_acceleration * scale
        velocity = (desired - prev) / dt
        # Braking bound: able to stop before the position limit in the direction of motion.
        room = np.where(velocity > 0, self.upper - prev, prev - self.lower)
        v_brake = np.sqrt(2.0 * a_max * np.maximum(room, 0.0))
        limited = np.clip(velocity, -np.minimum(v_max, v_brake), np.minimum(v_max, v_brake))
        if np.any(np.abs(limited - velocity) > 1e-12):
            self.counts['velocity_limited'] += 1
        accel_ok = np.clip(limited, self._prev_vel - a_max * dt, self._prev_vel + a_max * dt)
        if np.any(np.abs(accel_ok - limited) > 1e-12):
            self.counts['acceleration_limited'] += 1
        velocity = np.clip(accel_ok, -v_max, v_max)  # hard velocity bound
        command = np.clip(prev + velocity * dt, self.lower, self.upper)
        self._prev_vel = (command - prev) / dt
        self._commanded += np.abs(command - prev)
        self._prev_cmd = command
        self._prev_time = now
        return command.copy()

    def within_limits(self, command, tol=1e-9):
        """Return True if command has one finite value per joint within the position limits."""
        command = np.asarray(command, dtype=np.float64)
        return bool(command.shape == (len(self.joint_names),) and
                    np.all(np.isfinite(command)) and
                    np.all(command >= self.lower - tol) and np.all(command <= self.upper + tol))
