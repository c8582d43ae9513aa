# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""The sleep manager's wake -> sleep -> deploy cycle (`SleepCycle`), without ROS."""

from sage_sleep.sleep_cycle import CallReloads, Log, PauseRecording, PublishStatus, \
    ResumeRecording, SleepCycle, SleepTrigger, StartTrainer

TRAINER = ('sage_train', '--seconds', '240')
RELOADS = ('/context_node/load_model', '/h_module/load_model', '/l_module/load_model')


class Clock:
    """A monotonic clock the test moves."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def kinds(step):
    return [type(a) for a in step.actions if not isinstance(a, Log)]


def logs(step):
    return [(a.level, a.text) for a in step.actions if isinstance(a, Log)]


def make(trainer=TRAINER, reloads=RELOADS, idle_minutes=0.0):
    clock = Clock()
    trigger = SleepTrigger(idle_minutes=idle_minutes, clock=clock)
    return SleepCycle(trainer, reloads, reload_timeout_s=30.0, trigger=trigger), clock


def test_a_normal_cycle_sleeps_trains_reloads_and_wakes():
    cycle, clock = make()
    assert cycle.phase == 'wake' and kinds(cycle.tick(clock.now)) == []
    step = cycle.request('requested')
    assert step.accepted and step.message.startswith('sleeping (requested): trainer pid')
    assert kinds(step) == [PauseRecording, StartTrainer, PublishStatus]
    assert step.actions[2] == StartTrainer(TRAINER)
    assert cycle.phase == 'sleep' and cycle.progress == 0.0
    cycle.trainer_progress('dream', 0.7)
    assert (cycle.phase, cycle.progress) == ('dream', 0.7)
    assert kinds(cycle.tick(clock.now)) == []          # the trainer runs: nothing to do
    step = cycle.trainer_exited(0, 'trainer exit 0 after 3.0 s: deployed', clock.now)
    assert kinds(step) == [CallReloads, PublishStatus]
    assert step.actions[1] == CallReloads(RELOADS)
    assert logs(step) == [('info', 'sleep done: trainer exit 0 after 3.0 s: deployed')]
    assert (cycle.phase, cycle.progress) == ('deploy', 0.0)
    cycle.reload_answered(RELOADS[0], True, 'v0002')
    cycle.reload_unavailable(RELOADS[2])
    assert kinds(cycle.tick(clock.now + 1)) == []      # h_module has not answered yet
    cycle.reload_answered(RELOADS[1], True, 'v0003')
    step = cycle.tick(clock.now + 2)
    assert kinds(step) == [ResumeRecording, PublishStatus]
    assert cycle.phase == 'wake'
    summary = 'reloaded context_node: v0002, h_module: v0003, l_module: not running'
    assert cycle.last_result == f'trainer exit 0 after 3.0 s: deployed; {summary}'
    assert ('info', summary) in logs(step)


def test_a_failed_trainer_wakes_on_the_old_models_without_reloads():
    cycle, clock = make()
    cycle.request('requested')
    step = cycle.trainer_exited(1, 'trainer exit 1 after 2.0 s: Traceback', clock.now)
    assert kinds(step) == [ResumeRecording, PublishStatus]      # no CallReloads
    assert logs(step)[0] == ('error', 'sleep failed: trainer exit 1 after 2.0 s: Traceback')
    assert cycle.phase == 'wake' and cycle.last_result.startswith('trainer exit 1')


def test_a_trainer_that_cannot_start_refuses_the_request_and_wakes():
    cycle, _ = make()
    cycle.request('requested')
    step = cycle.trainer_failed_to_start("trainer 'nope' failed to start: not found")
    assert not step.accepted and 'failed to start' in step.message
    assert kinds(step) == [ResumeRecording, PublishStatus] and cycle.phase == 'wake'
    cycle.trainer_progress('dream', 0.5)        # a late line changes nothing while awake
    assert cycle.phase == 'wake'


def test_a_start_request_while_asleep_is_refused():
    cycle, clock = make()
    assert cycle.request('requested').accepted
    for phase in ('sleep', 'dream'):
        cycle.trainer_progress(phase, 0.3)
        busy = cycle.request('requested')
        assert not busy.accepted and busy.message == f'already asleep (phase {phase})'
        assert busy.actions == []
    cycle.trainer_exited(0, 'ok', clock.now)
    busy = cycle.request('requested')
    assert not busy.accepted and busy.message == 'already asleep (phase deploy)'


def test_reload_refusals_and_silence_still_wake_after_the_timeout():
    cycle, clock = make()
    cycle.request('requested')
    cycle.trainer_exited(0, 'ok', clock.now)
    cycle.reload_answered(RELOADS[0], False, message='probe failed: NaN output')
    assert kinds(cycle.tick(clock.now + 29.9)) == []
    step = cycle.tick(clock.now + 30.0)
    assert cycle.phase == 'wake' and ResumeRecording in kinds(step)
    assert cycle.last_result == ('ok; reloaded context_node: refused (probe failed: NaN '
                                 'output), h_module: no answer, l_module: no answer')


def test_without_trainer_or_reload_services():
    cycle, clock = make(trainer=())
    step = cycle.request('requested')
    assert step.accepted and step.message == ('slept (requested): no trainer configured '
                                              '(trainer_command is empty)')
    assert kinds(step) == [PauseRecording, ResumeRecording, PublishStatus]
    assert cycle.phase == 'wake'
    cycle, clock = make(reloads=())
    cycle.request('requested')
    step = cycle.trainer_exited(0, 'ok', clock.now)
    assert kinds(step) == [ResumeRecording, PublishStatus] and cycle.phase == 'wake'


def test_recording_switch_awake_and_asleep():
    cycle, clock = make()
    step = cycle.set_recording(False, recording_now=True)
    assert kinds(step) == [PauseRecording]
    assert step.message == 'recording off: the wake period is closed'
    assert cycle.set_recording(False, recording_now=False).message == 'unchanged'
    # Recording stays off around a sleep: waking does not resume it.
    cycle.request('requested')
    step = cycle.trainer_exited(2, 'trainer exit 2', clock.now)
    assert ResumeRecording not in kinds(step)
    assert ('info', 'awake: recording stays off (set_recording false)') in logs(step)
    step = cycle.set_recording(True, recording_now=False)
    assert kinds(step) == [ResumeRecording]
    assert step.message == 'recording: a new wake period begins'
    # Switched on while asleep: takes effect on waking.
    cycle.set_recording(False, recording_now=True)
    cycle.request('requested')
    step = cycle.set_recording(True, recording_now=False)
    assert kinds(step) == [] and step.message == 'asleep (sleep): takes effect on waking'
    assert ResumeRecording in kinds(cycle.trainer_exited(1, 'failed', clock.now))


def test_the_trigger_starts_a_sleep_on_a_tick_and_restarts_on_waking():
    cycle, clock = make(idle_minutes=1.0)
    assert kinds(cycle.tick(clock.now)) == []
    clock.now += 61.0
    step = cycle.tick(clock.now)
    assert StartTrainer in kinds(step) and cycle.phase == 'sleep'
    assert logs(step)[0][1].startswith('going to sleep (idle for 1.0 min')
    cycle.trainer_exited(1, 'failed', clock.now)
    assert kinds(cycle.tick(clock.now + 1.0)) == []     # the idle timer restarted on waking
