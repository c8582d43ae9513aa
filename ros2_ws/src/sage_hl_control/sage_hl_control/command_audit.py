# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
An independent check of the joint commands a robot received (plain Python, no ROS).

It does not reuse the SafetyFilter: it re-derives, from the same limits, what every command
on the wire must satisfy, so a bug in the filter shows as a violation here:

* the right number of joints, every value finite, within [position_lower, position_upper];
* a step of at most max_velocity * scale * dt per joint, measured from the previous command
  or from a joint position measured in the last `measured_window_s` (a hold commands the
  measured position, and an episode's first command starts from it); a measurement outside
  the position limits is no such reference (a hold there would command the limit);
* scale follows slow start (slow_start_scales, each for slow_start_step s) after every
  restart the monitor can see: the first command of a new sender (a node that died and came
  back: a new publisher identity, or where that is not known, a gap of `restart_gap_s`
  without commands) and the release of the e-stop; otherwise 1 (an episode's start is no
  restart: the L-module keeps its speed across episodes);
* while the e-stop is latched (from `estop_grace_s` after it was pressed, the time the
  sender needs to react), no motion: each command equals the previous one or a recently
  measured position.

A command and the joint state it was computed from travel on different topics, and a busy
executor can run one topic's backlog ahead of the other's: a step or e-stop check that fails
waits (`pending`) for a joint state sent before the command that satisfies it, and counts
once every joint-state publisher has sent a later message (DDS keeps each writer's order, so
nothing earlier can still come), or `settle_s` of commands later if joint states stopped.
Joint states come best effort (as drivers publish them), so the one a hold repeats can be
lost: where the measurements around a command are further apart than 1.5 of the stream's
median period but at most `bracket_s`, one was lost, and the one sent right after the command
stands in for it (a step within the allowance from where the arm was measured next; e-stop
holds at the first slow-start scale).
Every time is the publisher's send time of the message, on the wall clock. Every violation
is counted by kind and the first `keep` are kept with their details; `finish` settles what
is still pending.
"""

import collections

import numpy as np

KINDS = ('wrong_size', 'non_finite', 'position_limit', 'velocity', 'slow_start',
         'moved_during_estop')
MEASURED_ATOL = 1e-9   # a hold repeats a measured position bit for bit (after clamping)


class CommandAudit:
    """Counts commands that break the limits; feed it commands, joint states and the e-stop."""

    def __init__(self, joint_names, position_lower, position_upper, max_velocity,
                 command_rate, slow_start_scales=(1.0,), slow_start_step=0.0,
                 restart_gap_s=0.5, estop_grace_s=0.1, measured_window_s=0.3,
                 settle_s=3.0, boundary_grace_s=0.05, tolerance=1e-6, keep=50,
                 bracket_s=0.025):
        self.joint_names = list(joint_names)
        n = len(self.joint_names)
        self.lower = np.asarray(position_lower, dtype=np.float64)
        self.upper = np.asarray(position_upper, dtype=np.float64)
        self.vmax = np.asarray(max_velocity, dtype=np.float64)
        if n == 0 or any(a.shape != (n,) for a in (self.lower, self.upper, self.vmax)):
            raise ValueError(f'limits must have one value per joint ({n})')
        if not command_rate > 0:
            raise ValueError(f'command_rate must be > 0, got {command_rate}')
        self.dt = 1.0 / float(command_rate)
        self.scales = [float(s) for s in slow_start_scales] or [1.0]
        self.step_s = float(slow_start_step)
        self.restart_gap_s = float(restart_gap_s)
        self.estop_grace_s = float(estop_grace_s)
        self.measured_window_s = float(measured_window_s)
        self.settle_s = float(settle_s)
        self.bracket_s = float(bracket_s)
        self.boundary_grace_s = float(boundary_grace_s)
        self.tolerance = float(tolerance)
        self.keep = int(keep)
        self.commands = 0
        self.joint_states = 0     # valid measurements received: none, nothing to check from
        self.restarts = 0
        self.counts = collections.Counter()
        self.examples = []
        self._unlogged = []       # every violation confirmed since take_new(), uncapped
        self._previous = None
        self._previous_time = None
        self._last_time = None
        self._sender = None
        self._ramp_start = None
        self._estop = []          # [pressed at, released at or None], oldest first
        self._measured = collections.deque()   # (sent at, positions), in arrival order
        self._joint_streams = {}                # joint-state sender -> its latest send time
        self._latest = float('-inf')            # the latest send time of anything seen
        # [time, positions, {kind: allowed scale or None}, detail, previous command, its time]
        self.pending = []

    # -- inputs ----------------------------------------------------------------------------
    def joint_state(self, names, positions, now, sender=None):
        """
        Record measured positions (names: the message's order); malformed ones are ignored.

        sender: the publisher's identity where the transport gives it (None: one stream).
        """
        self._joint_streams[sender] = max(now, self._joint_streams.get(sender, now))
        index = {name: i for i, name in enumerate(names)}
        q = None
        if len(positions) == len(names) and all(n in index for n in self.joint_names):
            q = np.array([positions[index[n]] for n in self.joint_names], dtype=np.float64)
        slack = self.tolerance * np.maximum(1.0, np.abs(self.upper - self.lower))
        if q is not None and np.all(np.isfinite(q)) and np.all(q >= self.lower - slack) and \
                np.all(q <= self.upper + slack):
            measured = np.clip(q, self.lower, self.upper)
            self.joint_states += 1
            self._measured.append((now, measured))
            for item in self.pending:
                if item[0] - self.measured_window_s <= now <= item[0]:
                    item[2] = {kind: scale for kind, scale in item[2].items()
                               if not self._satisfied(item[1], measured, kind, scale)}
            self.pending = [item for item in self.pending if item[2]]
        self._forget(now)

    def estop(self, pressed, now):
        """Record the e-stop topic's value; a release restarts the slow-start expectation."""
        latched = bool(self._estop) and self._estop[-1][1] is None
        if pressed and not latched:
            self._estop.append([now, None])
        elif not pressed and latched:
            self._estop[-1][1] = now
            self._restart(now)

    def command(self, values, now, sender=None):
        """
        Check one command; return the violated kinds (pending ones included; empty: fine).

        sender: the publisher's identity (any comparable value) where the transport gives
        it; None falls back to the gap rule for restarts.
        """
        self.commands += 1
        q = np.asarray(values, dtype=np.float64).reshape(-1)
        if sender is not None:
            if sender != self._sender:
                self._sender = sender
                self._restart(now)
        elif self._last_time is None or now - self._last_time >= self.restart_gap_s:
            self._restart(now)
        self._last_time = now
        self._forget(now)
        if q.shape != self.lower.shape:
            return self._violate(now, ['wrong_size'], f'{q.size} values for '
                                 f'{len(self.joint_names)} joints')
        if not np.all(np.isfinite(q)):
            return self._violate(now, ['non_finite'], f'{q.tolist()}')
        found = []
        slack = self.tolerance * np.maximum(1.0, np.abs(self.upper - self.lower))
        if np.any(q < self.lower - slack) or np.any(q > self.upper + slack):
            found = self._violate(now, ['position_limit'], f'{q.tolist()} outside '
                                  f'[{self.lower.tolist()}, {self.upper.tolist()}]')
        references = ([self._previous] if self._previous is not None else []) + \
            [m for measured_at, m in self._measured
             if now - self.measured_window_s <= measured_at <= now]
        suspect, details = {}, []
        scale = self.scale(now)
        if references and \
                not any(self._satisfied(q, r, 'velocity', scale) for r in references):
            step = min(self._step(q, r) for r in references)
            suspect['slow_start' if step <= 1.0 + self.tolerance else 'velocity'] = scale
            details.append(f'step {step:.3f} x the full-speed limit, allowed {scale:.3f}')
        if self._latched(now) and \
                not any(self._satisfied(q, r, 'moved_during_estop', None) for r in references):
            suspect['moved_during_estop'] = None
            details.append('moved while latched')
        if suspect:
            self.pending.append([now, q, suspect, f'{q.tolist()}: ' + '; '.join(details),
                                 self._previous, self._previous_time])
        self._previous, self._previous_time = q, now
        return found + list(suspect)

    def finish(self, now=float('inf')):
        """Count what is pending for good (at now, or all of it); return the violations."""
        self._expire(now, everything=now == float('inf'))
        return self.violations

    # -- state -----------------------------------------------------------------------------
    def scale(self, now):
        """Return the speed scale allowed at now (the slow-start expectation)."""
        if self._ramp_start is None or self.step_s <= 0:
            return 1.0
        index = int(max(0.0, now - self._ramp_start + self.boundary_grace_s) // self.step_s)
        return self.scales[min(index, len(self.scales) - 1)] if index < len(self.scales) \
            else 1.0

    @property
    def violations(self):
        return sum(self.counts.values())

    def summary(self):
        """Return a JSON-able summary: commands, joint states, restarts, counts, examples."""
        return {'commands': self.commands, 'joint_states': self.joint_states,
                'restarts': self.restarts,
                'violations': self.violations,
                'counts': {kind: self.counts.get(kind, 0) for kind in KINDS},
                'examples': list(self.examples)}

    def _restart(self, now):
        self._ramp_start = now
        self.restarts += 1

    def _latched(self, t):
        """Return True if the e-stop was latched (past the grace period) at time t."""
        return any(pressed + self.estop_grace_s <= t and (released is None or t < released)
                   for pressed, released in self._estop[-8:])

    def _step(self, q, reference):
        """Return the largest per-joint step from reference, in full-speed steps."""
        return float(np.max(np.abs(q - reference) / (self.vmax * self.dt)))

    def _satisfied(self, q, reference, kind, scale):
        if kind == 'moved_during_estop':
            return bool(np.allclose(q, reference, rtol=0.0, atol=MEASURED_ATOL))
        return self._step(q, reference) <= scale * (1.0 + self.tolerance) + 1e-9

    def _forget(self, now):
        """Drop measurements no pending or future command can use; settle what is due."""
        self._latest = max(self._latest, now)
        horizon = self._latest - self.settle_s - self.measured_window_s
        if self._measured and self._measured[0][0] < horizon:
            self._measured = collections.deque(m for m in self._measured if m[0] >= horizon)
        self._joint_streams = {s: t for s, t in self._joint_streams.items()
                               if t >= horizon}
        self._expire(now)

    def _expire(self, now, everything=False):
        """Count the pending commands no joint state still on its way can excuse."""
        def due(then):
            streams = [t for t in self._joint_streams.values() if t >= then - self.settle_s]
            return everything or now - then > self.settle_s or \
                (bool(streams) and all(t > then for t in streams))
        settled = [item for item in self.pending if due(item[0])]
        self.pending = [item for item in self.pending if not due(item[0])]
        for then, q, kinds, detail, previous, previous_time in settled:
            after = self._after_a_lost_measurement(then)
            if after is not None:
                kinds = {k: scale for k, scale in kinds.items() if not self._satisfied(
                    q, after, 'velocity', self.scales[0] if scale is None else scale)}
            if kinds:
                self._violate(then, list(kinds),
                              detail + self._references(then, q, previous, previous_time))

    def _references(self, then, q, previous, previous_time):
        """Describe what a flagged command was compared with (to find why it was flagged)."""
        parts = []
        if previous is not None:
            parts.append(f'previous command {1e3 * (then - previous_time):.1f} ms before, '
                         f'step {self._step(q, previous):.3f}')
        before = [(t, m) for t, m in self._measured if t <= then]
        after = [(t, m) for t, m in self._measured if t > then]
        window = [(t, m) for t, m in before if t >= then - self.measured_window_s]
        if window:
            t, m = min(window, key=lambda tm: self._step(q, tm[1]))
            parts.append(f'{len(window)} joint states in the window, nearest step '
                         f'{self._step(q, m):.3f} sent {1e3 * (then - t):.1f} ms before')
        if before:
            t, m = max(before, key=lambda tm: tm[0])
            parts.append(f'last joint state {1e3 * (then - t):.1f} ms before '
                         f'(step {self._step(q, m):.3f})')
        if after:
            t, m = min(after, key=lambda tm: tm[0])
            parts.append(f'next {1e3 * (t - then):.1f} ms after (step {self._step(q, m):.3f})')
        return ' [' + '; '.join(parts or ['no reference']) + ']'

    def _after_a_lost_measurement(self, then):
        """Return the measurement sent next after then if the one before it was lost."""
        times = sorted(m[0] for m in self._measured)
        if len(times) < 5:
            return None
        period = float(np.median(np.diff(times)))
        before = max((m for m in self._measured if m[0] <= then), key=lambda m: m[0],
                     default=None)
        after = min((m for m in self._measured if m[0] > then), key=lambda m: m[0],
                    default=None)
        if before is None or after is None or \
                not 1.5 * period < after[0] - before[0] <= self.bracket_s:
            return None
        return after[1]

    def take_new(self):
        """Return the violations confirmed since the last call (every one, for the log)."""
        new, self._unlogged = self._unlogged, []
        return new

    def _violate(self, now, kinds, detail):
        for kind in kinds:
            self.counts[kind] += 1
        example = {'time': round(now, 4), 'kinds': list(kinds), 'detail': detail}
        if len(self.examples) < self.keep:
            self.examples.append(example)
        self._unlogged.append(example)
        return list(kinds)
