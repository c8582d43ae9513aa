# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
Sensor faults the simulated robot can inject: what a failing camera or encoder reports.

One fault at a time, active from `start_s` to `start_s + duration_s` of each episode's
simulated time (the sim time restarts at 0 on every reset), so a test or an evaluation knows
the onset exactly. The physics is never touched: only what the sensors report.

    frozen_camera  the last colour and depth frames before the onset, again and again, with
                   fresh stamps (a stuck driver)
    color_noise    Gaussian noise of `severity` (fraction of full scale) on the colour image
    black_image    an all-black colour image
    camera_shift   both images translated by `severity` of their width (a bumped camera)
    depth_dropout  a `severity` fraction of depth pixels without data (NaN; 0 in 16UC1)
    stuck_joint    joint `joint`'s position frozen at its value at the onset, velocity 0
"""

from dataclasses import dataclass
import math

import numpy as np

KINDS = ('none', 'frozen_camera', 'color_noise', 'black_image', 'camera_shift',
         'depth_dropout', 'stuck_joint')
CAMERA_KINDS = KINDS[1:6]


@dataclass(frozen=True)
class SensorFault:
    """One fault: its kind, its window in episode time (s), its severity and joint."""

    kind: str = 'none'
    start_s: float = 0.0
    duration_s: float = math.inf
    severity: float = 0.0
    joint: int = 0

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f'sensor fault kind {self.kind!r} is not one of {", ".join(KINDS)}')
        if not (self.start_s >= 0 and self.duration_s > 0):
            raise ValueError(f'sensor fault window needs start_s >= 0 and duration_s > 0, got '
                             f'{self.start_s}, {self.duration_s}')
        if self.kind in ('color_noise', 'camera_shift', 'depth_dropout') \
                and not 0 < self.severity <= 1:
            raise ValueError(f'{self.kind} needs 0 < severity <= 1, got {self.severity}')
        if self.joint < 0:
            raise ValueError(f'sensor fault joint must be >= 0, got {self.joint}')

    def active(self, t):
        """Return True when the fault is on at episode time t (s)."""
        return self.kind != 'none' and self.start_s <= t < self.start_s + self.duration_s


class SensorFaults:
    """Apply a SensorFault to camera frames and joint positions (seeded noise)."""

    def __init__(self, fault=None, seed=0):
        self.fault = fault or SensorFault()
        self._rng = np.random.default_rng(seed)
        self._last_frames = None   # the latest clean (rgb, depth): what a frozen camera repeats
        self._frozen = None
        self._stuck = None
        self.faulty_frames = 0
        self.faulty_joint_states = 0

    def replace(self, fault):
        """Replace the fault (takes effect at the next sample)."""
        self.fault = fault
        self._frozen = self._stuck = None

    def camera(self, t, rgb, depth):
        """Return the (rgb uint8 HxWx3, depth float metres HxW) the camera reports at time t."""
        fault = self.fault
        if fault.kind not in CAMERA_KINDS or not fault.active(t):
            self._frozen = None
            self._last_frames = (rgb, depth)
            return rgb, depth
        self.faulty_frames += 1
        if fault.kind == 'frozen_camera':
            if self._frozen is None:
                self._frozen = self._last_frames or (rgb, depth)
            return self._frozen
        if fault.kind == 'black_image':
            return np.zeros_like(rgb), depth
        if fault.kind == 'color_noise':
            noise = self._rng.normal(0.0, 255.0 * fault.severity, rgb.shape)
            return np.clip(rgb + noise, 0, 255).astype(np.uint8), depth
        if fault.kind == 'camera_shift':
            shift = max(1, int(round(fault.severity * rgb.shape[1])))
            return _shift_right(rgb, shift, 0), _shift_right(depth, shift, np.nan)
        drop = self._rng.random(depth.shape) < fault.severity
        return rgb, np.where(drop, np.float32(np.nan), depth).astype(depth.dtype)

    def joints(self, t, positions, velocities):
        """Return the (positions, velocities) the encoders report at time t."""
        fault = self.fault
        if fault.kind != 'stuck_joint' or not fault.active(t):
            self._stuck = None
            return positions, velocities
        if fault.joint >= len(positions):
            raise ValueError(f'stuck_joint: joint {fault.joint} of {len(positions)}')
        if self._stuck is None:
            self._stuck = float(positions[fault.joint])
        self.faulty_joint_states += 1
        positions, velocities = positions.copy(), velocities.copy()
        positions[fault.joint], velocities[fault.joint] = self._stuck, 0.0
        return positions, velocities


def _shift_right(image, pixels, fill):
    shifted = np.full_like(image, fill)
    shifted[:, pixels:] = image[:, :-pixels]
    return shifted
