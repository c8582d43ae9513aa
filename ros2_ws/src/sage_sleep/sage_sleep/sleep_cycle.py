# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
When to sleep (schedule, idle rule), the trainer process a sleep runs, and the cycle.

`SleepCycle` is the wake -> sleep -> deploy state machine the sleep_manager node feeds with
events (timer ticks, service requests, the trainer's progress and exit, the nodes' reload
answers) and whose actions (start the trainer, pause or resume recording, call the reload
services, publish the status, log) it carries out; it is tested without ROS.

Trainer progress protocol: the trainer may print lines

    SAGE_PROGRESS <phase> <fraction>

with phase one of sleep, dream, deploy and fraction in 0..1; the sleep manager relays them
in /sage/sleep_status. Every other line is kept (the last few) for the result report.
"""

import collections
import dataclasses
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


# -- the wake -> sleep -> deploy state machine ----------------------------------------------
WAKE, SLEEP, DEPLOY = 'wake', 'sleep', 'deploy'   # SleepStatus.PHASE_* (dream: the trainer's)


@dataclasses.dataclass(frozen=True)
class StartTrainer:
    """Start the trainer command; report StartFailed or, later, its exit to the cycle."""

    argv: tuple


@dataclasses.dataclass(frozen=True)
class PauseRecording:
    """Close the wake period: nothing is recorded while asleep."""


@dataclasses.dataclass(frozen=True)
class ResumeRecording:
    """Begin a new wake period."""


@dataclasses.dataclass(frozen=True)
class CallReloads:
    """Ask each LoadModel service to load the registry's active versions."""

    services: tuple


@dataclasses.dataclass(frozen=True)
class PublishStatus:
    """Publish /sage/sleep_status now (the phase or the last result changed)."""


@dataclasses.dataclass(frozen=True)
class Log:
    """Log a line; level info or error."""

    level: str
    text: str


@dataclasses.dataclass
class Step:
    """What an event asks of the node: actions in order, and an answer for a request."""

    actions: list
    accepted: bool = True
    message: str = ''


class SleepCycle:
    """
    The sleep manager's wake -> sleep -> deploy cycle, without ROS: events in, actions out.

    Events: tick(now) (the timer: the trigger, the reload deadline), request(reason) (the
    start_sleep service), trainer_failed_to_start(error), trainer_progress(phase, fraction),
    trainer_exited(returncode, result, now), reload_answered(service, ok, version, message),
    reload_unavailable(service), set_recording(on, recording_now). Each returns a Step; the
    node carries its actions out in order.

    While awake nothing runs; a sleep (requested, or the trigger's schedule or idle rule)
    pauses recording and starts the trainer. A trainer that exits 0 leads to deploy: every
    reload service is asked to load the active versions, and the cycle wakes once each has
    answered, was not running or reload_timeout_s passed. A trainer that fails (or cannot
    start) wakes the robot at once on the models it had. Waking resumes recording unless
    set_recording(False) switched it off.
    """

    def __init__(self, trainer_command, reload_services=(), reload_timeout_s=30.0,
                 trigger=None):
        self.trainer_command = tuple(trainer_command)
        self.reload_services = tuple(reload_services)
        self.reload_timeout_s = float(reload_timeout_s)
        self.trigger = trigger if trigger is not None else SleepTrigger()
        self.phase = WAKE
        self.progress = 0.0
        self.last_result = ''
        self.recording_enabled = True
        self.training = False        # between StartTrainer and the trainer's exit
        self.replies = None          # while deploying: service -> answer, None = none yet
        self.reload_deadline = 0.0

    @property
    def awake(self):
        """Return True while no sleep or deploy is running."""
        return self.phase == WAKE

    def tick(self, now):
        """Handle the timer: wake after the reloads (answered or timed out), or sleep if due."""
        if self.replies is not None:
            if None in self.replies.values() and now < self.reload_deadline:
                return Step([])
            parts = [f'{service.strip("/").split("/")[0]}: {answer or "no answer"}'
                     for service, answer in self.replies.items()]
            self.replies = None
            summary = 'reloaded ' + ', '.join(parts)
            self.last_result = f'{self.last_result}; {summary}'
            return Step([Log('info', summary)] + self._wake())
        if not self.awake:
            return Step([])
        reason = self.trigger.due()
        return self.request(reason) if reason else Step([])

    def request(self, reason):
        """Handle a request to sleep (the service or the trigger); refused unless awake."""
        if not self.awake:
            return Step([], False, f'already asleep (phase {self.phase})')
        actions = [Log('info', f'going to sleep ({reason}): wake recording pauses'),
                   PauseRecording()]
        if not self.trainer_command:
            self.last_result = 'no trainer configured (trainer_command is empty)'
            actions += [Log('info', f'sleep done: {self.last_result}')] + self._wake()
            return Step(actions, True, f'slept ({reason}): {self.last_result}')
        self.phase, self.progress, self.training = SLEEP, 0.0, True
        argv = self.trainer_command
        return Step(actions + [StartTrainer(argv), PublishStatus()], True,
                    f'sleeping ({reason}): trainer pid started: {" ".join(argv)}')

    def trainer_failed_to_start(self, error):
        """Handle a StartTrainer that failed: wake on the running models, refuse the request."""
        self.training = False
        self.last_result = error
        return Step([Log('error', error)] + self._wake(), False, error)

    def trainer_progress(self, phase, fraction):
        """Take the trainer's progress (its SAGE_PROGRESS lines): sleep, dream or deploy."""
        if self.training:
            self.phase, self.progress = phase, float(fraction)
        return Step([])

    def trainer_exited(self, returncode, result, now):
        """Handle the trainer's exit: deploy (the nodes reload) after a success, else wake."""
        self.training = False
        self.last_result = result
        if returncode != 0:
            return Step([Log('error', f'sleep failed: {result}')] + self._wake())
        actions = [Log('info', f'sleep done: {result}')]
        if not self.reload_services:
            return Step(actions + self._wake())
        self.phase, self.progress = DEPLOY, 0.0
        self.replies = dict.fromkeys(self.reload_services)
        self.reload_deadline = now + self.reload_timeout_s
        return Step(actions + [CallReloads(self.reload_services), PublishStatus()])

    def reload_answered(self, service, ok, version='', message=''):
        """Take a node's answer to its LoadModel call."""
        if self.replies is not None and service in self.replies:
            self.replies[service] = version if ok else f'refused ({message})'
        return Step([])

    def reload_unavailable(self, service):
        """Note a reload service that was not running when the calls went out."""
        if self.replies is not None and service in self.replies:
            self.replies[service] = 'not running'
        return Step([])

    def set_recording(self, on, recording_now):
        """Handle set_recording: it applies now if awake, else on waking."""
        self.recording_enabled = bool(on)
        if not self.awake:
            message, actions = f'asleep ({self.phase}): takes effect on waking', []
        elif on and not recording_now:
            message, actions = 'recording: a new wake period begins', [ResumeRecording()]
        elif not on and recording_now:
            message, actions = 'recording off: the wake period is closed', [PauseRecording()]
        else:
            message, actions = 'unchanged', []
        return Step(actions + [Log('info', f'set_recording {bool(on)}: {message}')], True,
                    message)

    def _wake(self):
        self.phase, self.progress = WAKE, 0.0
        self.trigger.reset()
        if self.recording_enabled:
            return [ResumeRecording(),
                    Log('info', 'awake: recording resumes in a new wake period'),
                    PublishStatus()]
        return [Log('info', 'awake: recording stays off (set_recording false)'),
                PublishStatus()]
