# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
When to sleep (schedule, idle rule) and the trainer process a sleep runs.

Trainer progress protocol: the trainer may print lines

    SAGE_PROGRESS <phase> <fraction>

with phase one of sleep, dream, deploy and fraction in 0..1; the sleep manager relays them
in /sage/sleep_status. Every other line is kept (the last few) for the result report.
"""

import collections
import datetime
import os
import re
import signal
import subprocess
import threading
import time

PHASES = ('sleep', 'dream', 'deploy')
# Searched anywhere in a line: a progress bar on the same stream may precede it.
PROGRESS_RE = re.compile(r'SAGE_PROGRESS\s+(sleep|dream|deploy)\s+([-+0-9.eE]+)\s*$')
SCHEDULE_RE = re.compile(r'^([01]?\d|2[0-3]):([0-5]\d)$')


def parse_progress(line):
    """Return (phase, fraction clipped to 0..1) of a progress line, or None."""
    match = PROGRESS_RE.search(line.strip())
    if not match:
        return None
    try:
        fraction = float(match[2])
    except ValueError:
        return None
    return match[1], min(1.0, max(0.0, fraction))


def parse_schedule(entries):
    """Return [(hour, minute)] of 'HH:MM' entries; raise ValueError naming a bad one."""
    times = []
    for entry in entries:
        match = SCHEDULE_RE.match(entry.strip())
        if not match:
            raise ValueError(f'sleep schedule entry {entry!r} is not HH:MM (24 h, local time)')
        times.append((int(match[1]), int(match[2])))
    return times


class SleepTrigger:
    """Decides when to sleep: at scheduled local times, or after N idle minutes."""

    def __init__(self, schedule=(), idle_minutes=0.0, motion_threshold=0.01,
                 clock=time.monotonic, wall=datetime.datetime.now):
        self.schedule = parse_schedule(schedule)
        self.idle_s = float(idle_minutes) * 60.0
        self.motion_threshold = float(motion_threshold)
        self._clock = clock
        self._wall = wall
        self._reference = None
        self.reset()

    def reset(self):
        """Restart the idle timer and the schedule from now (after a sleep, at start)."""
        self.last_activity = self._clock()
        self._last_wall = self._wall()

    def note_joints(self, positions):
        """Feed joint positions: a move beyond motion_threshold (rad) counts as activity."""
        positions = list(positions)
        if self._reference is None or len(positions) != len(self._reference) or any(
                abs(a - b) > self.motion_threshold for a, b in zip(positions, self._reference)):
            self._reference = positions
            self.last_activity = self._clock()

    def note_teacher(self):
        """Count a teacher message as activity."""
        self.last_activity = self._clock()

    def due(self):
        """Return why sleep is due now ('schedule HH:MM', 'idle ...'), else None."""
        now_wall = self._wall()
        previous, self._last_wall = self._last_wall, now_wall
        for hour, minute in self.schedule:
            day = previous.date()
            while day <= now_wall.date():
                at = datetime.datetime.combine(day, datetime.time(hour, minute),
                                               tzinfo=now_wall.tzinfo)
                if previous < at <= now_wall:
                    return f'schedule {hour:02d}:{minute:02d}'
                day += datetime.timedelta(days=1)
        idle = self._clock() - self.last_activity
        if self.idle_s > 0 and idle >= self.idle_s:
            return f'idle for {idle / 60.0:.1f} min (no motion, no teacher)'
        return None


class TrainerRun:
    """The trainer command of one sleep, in its own process group, its output followed."""

    def __init__(self, argv, env=None, keep_lines=20):
        self.argv = list(argv)
        self.phase = 'sleep'
        self.progress = 0.0
        self.lines = collections.deque(maxlen=keep_lines)
        self.returncode = None
        self.error = ''
        self._proc = None
        self._reader = None
        self._env = env
        self.started = time.monotonic()

    def start(self):
        """Start the command; on failure to start, done() is True and error says why."""
        try:
            self._proc = subprocess.Popen(
                self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True, env=self._env,
                text=True, errors='replace', bufsize=1)
        except OSError as exc:
            self.error = f'trainer {self.argv[0]!r} failed to start: {exc}'
            return False
        self._reader = threading.Thread(target=self._follow, daemon=True)
        self._reader.start()
        return True

    def _follow(self):
        for line in self._proc.stdout:
            progress = parse_progress(line)
            if progress:
                self.phase, self.progress = progress
            elif line.strip():
                self.lines.append(line.rstrip())
        self._proc.stdout.close()

    def done(self):
        """Return True once the process has exited and its output is read."""
        if self._proc is None:
            return True
        if self._proc.poll() is None:
            return False
        self._reader.join(5)
        self.returncode = self._proc.returncode
        return True

    def result(self):
        """Return one line describing the outcome."""
        if self.error:
            return self.error
        last = self.lines[-1] if self.lines else '(no output)'
        took = time.monotonic() - self.started
        return f'trainer exit {self.returncode} after {took:.1f} s: {last}'

    def stop(self, timeout=10.0):
        """Terminate the trainer's process group (SIGTERM, then SIGKILL)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self._proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self._proc.wait(timeout)
                return
            except subprocess.TimeoutExpired:
                continue
