# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Timed, seeded episodes over a MujocoRobot, and the sim-time to node-clock mapping."""

from dataclasses import dataclass, field

import numpy as np


@dataclass
class EpisodeStatus:
    """What /sim/episode reports: the privileged state of the current episode."""

    episode: int
    seed: int
    running: bool
    step: int
    goal: np.ndarray = field(default_factory=lambda: np.zeros(0))
    effector: np.ndarray = field(default_factory=lambda: np.zeros(0))
    distance: float = float('nan')
    success: bool = False
    time: float = 0.0


class EpisodeRunner:
    """
    Steps a robot and ends the episode after `duration` simulated seconds.

    Episode 0 is the idle scene after start-up (not running). Each reset starts the next
    episode number; when it ends, its final distance and success stay in the status. step()
    reports the changes worth publishing at once: the end, and success flipping.
    """

    def __init__(self, robot, duration, seed=0, perturbation=None):
        if duration <= 0:
            raise ValueError(f'episode duration must be > 0 s, got {duration}')
        self.robot = robot
        self.default_duration = float(duration)
        self.duration = float(duration)
        self.episode = 0
        self.seed = int(seed)
        self.running = False
        self.steps = 0
        robot.reset(self.seed, perturbation)

    def reset(self, seed, duration=0.0, perturbation=None, target=None):
        """
        Start the next episode from `seed` (duration <= 0: the default); return the goal.

        target: the colour of the target to reach when the scene has several (None: drawn
        from the seed).
        """
        goal = self.robot.reset(int(seed), perturbation, target)
        self.seed = int(seed)
        self.duration = float(duration) if duration > 0 else self.default_duration
        self.episode += 1
        self.steps = 0
        self.running = True
        self._success = self.robot.success()
        return goal

    def step(self):
        """Run one physics step; return 'ended' or 'success' (it flipped), else None."""
        self.robot.step()
        if not self.running:
            return None
        self.steps += 1
        if self.steps * self.robot.timestep >= self.duration - 1e-9:
            self.running = False
            return 'ended'
        success = self.robot.success()
        if success != self._success:
            self._success = success
            return 'success'
        return None

    def status(self):
        """Return the EpisodeStatus now."""
        r = self.robot
        return EpisodeStatus(self.episode, self.seed, self.running, self.steps, r.goal(),
                             r.effector(), r.distance(), r.success(), r.time)


class SimClock:
    """
    Maps simulated time to node-clock nanoseconds: stamp = origin + sim time.

    The origin is anchored when the simulation starts and re-anchored on each reset (the sim
    time restarts at 0) and when the real-time loop falls behind, so stamps follow the node
    clock and never go backwards.
    """

    def __init__(self):
        self.origin_ns = None
        self._last_ns = None

    def anchor(self, now_ns, sim_time):
        """Make sim_time correspond to now_ns (never earlier than a stamp already given)."""
        origin = int(now_ns) - int(round(sim_time * 1e9))
        if self._last_ns is not None:
            origin = max(origin, self._last_ns - int(round(sim_time * 1e9)))
        self.origin_ns = origin

    def stamp_ns(self, sim_time):
        """Return the node-clock time (ns) of sim_time."""
        ns = self.origin_ns + int(round(sim_time * 1e9))
        if self._last_ns is None or ns > self._last_ns:
            self._last_ns = ns
        return ns
