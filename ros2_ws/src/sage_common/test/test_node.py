# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""spin_until_shutdown: a signal's shutdown ends spinning quietly, other errors do not."""

import signal
import subprocess
import sys

import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy._rclpy_pybind11 import RCLError  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from sage_common import node  # noqa: E402
from sage_common.node import spin_until_shutdown  # noqa: E402
from sage_common.processes import default_stop_signals  # noqa: E402


@pytest.fixture
def executor(ros_domain):
    context = Context()
    rclpy.init(context=context)
    executor = SingleThreadedExecutor(context=context)
    yield executor
    executor.shutdown()
    rclpy.try_shutdown(context=context)


def test_invalid_context_after_shutdown_is_a_clean_stop(executor):
    def spin():  # what a SIGINT between two waits looks like
        rclpy.shutdown(context=executor.context)
        raise RCLError('failed to initialize wait set: the given context is not valid')

    spin_until_shutdown(executor, spin)


def test_shutdown_while_spinning_is_a_clean_stop(executor):
    node = rclpy.create_node('spin_until_shutdown_test', context=executor.context)
    executor.add_node(node)
    node.create_timer(0.01, lambda: rclpy.shutdown(context=executor.context))
    spin_until_shutdown(executor)
    node.destroy_node()


def test_rcl_errors_of_a_live_context_propagate(executor):
    def spin():
        raise RCLError('a real failure')

    with pytest.raises(RCLError, match='a real failure'):
        spin_until_shutdown(executor, spin)


def test_an_error_after_sigint_is_a_clean_stop(executor, monkeypatch):
    # Between a SIGINT (recorded by init_rclpy's handler) and rclpy's signal thread shutting
    # the context down, an error is part of the stop (this one came from a KeyboardInterrupt
    # inside rclpy's C++ message conversion, before init_rclpy).
    monkeypatch.setattr(node, '_stop_signals', [signal.SIGINT])

    def spin():
        raise RuntimeError("Unable to convert call argument '0' to Python object")

    spin_until_shutdown(executor, spin)


def test_other_errors_of_a_live_context_propagate(executor):
    def spin():
        raise RuntimeError('a real failure')

    with pytest.raises(RuntimeError, match='a real failure'):
        spin_until_shutdown(executor, spin)


def test_sigusr1_prints_every_thread_s_stack_and_worker_threads_block_stop_signals(ros_domain):
    script = (
        'import os, signal, threading\n'
        'from sage_common.node import block_stop_signals, init_rclpy\n'
        'import rclpy\n'
        'init_rclpy()\n'
        'masks = []\n'
        'def worker():\n'
        '    block_stop_signals()\n'
        '    masks.append(signal.pthread_sigmask(signal.SIG_BLOCK, set()))\n'
        't = threading.Thread(target=worker, name="worker")\n'
        't.start(); t.join()\n'
        'assert {signal.SIGINT, signal.SIGTERM} <= masks[0], masks\n'
        'assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())\n'
        'os.kill(os.getpid(), signal.SIGUSR1)\n'
        'rclpy.shutdown()\n')
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert 'Current thread' in done.stderr and '<string>' in done.stderr


def test_declare_all_declares_ranges_descriptions_and_unset_parameters(executor):
    from rclpy.exceptions import InvalidParameterValueException
    from rclpy.parameter import Parameter
    from sage_common.node import declare_all

    node = rclpy.create_node('declare_all_test', context=executor.context,
                             parameter_overrides=[Parameter('rate', value=20.0)])
    values = declare_all(node, {
        'rate': (10.0, 'a rate (Hz)', (1.0, 100.0)),
        'depth': (5, 'a depth', (1, 10)),
        'flag': (True, 'a flag', None),
        'names': (Parameter.Type.STRING_ARRAY, 'unset unless given', None),
    })
    assert values == {'rate': 20.0, 'depth': 5, 'flag': True, 'names': None}
    rate = node.describe_parameter('rate')
    assert rate.description == 'a rate (Hz)'
    assert (rate.floating_point_range[0].from_value, rate.floating_point_range[0].to_value) == \
        (1.0, 100.0)
    assert node.describe_parameter('depth').integer_range[0].to_value == 10
    assert not node.describe_parameter('flag').integer_range
    with pytest.raises(InvalidParameterValueException):
        declare_all(node, {'too_fast': (1000.0, 'out of its range', (1.0, 100.0))})
    with pytest.raises(TypeError, match='range'):
        declare_all(node, {'text': ('a', 'a string', (0, 1))})
    node.destroy_node()


def test_realtime_priority_spares_the_other_python_threads():
    # In a child process: the test runner itself stays on the normal scheduler.
    script = """
import os, threading
from sage_common.node import set_realtime_priority
side = threading.Thread(target=threading.Event().wait, args=(5,), daemon=True)
side.start()
error = set_realtime_priority(1)
policies = (os.sched_getscheduler(0), os.sched_getscheduler(side.native_id))
print(error or policies == (os.SCHED_FIFO, os.SCHED_OTHER))
"""
    out = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True,
                         timeout=60).stdout.strip()
    assert out == 'True' or out.startswith('PermissionError'), out


def _blocked_signals(task):
    mask = int(next(line for line in (task / 'status').read_text().splitlines()
                    if line.startswith('SigBlk:')).split()[1], 16)
    return {sig for sig in (signal.SIGINT, signal.SIGTERM) if mask & (1 << (sig - 1))}


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc')
def test_a_node_process_s_native_threads_never_take_a_stop_signal(ros_domain):
    # DDS's threads are born with the context's first node, in run_node's make_node: they
    # must block SIGINT/SIGTERM, which the main thread alone takes (and still stops on).
    from pathlib import Path
    import time

    script = ('import sys, rclpy\n'
              'from sage_common.node import run_node\n'
              'sys.exit(run_node(lambda: rclpy.create_node("mask_test"), "mask_test"))\n')
    proc = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=default_stop_signals)  # a background suite ignores SIGINT
    try:
        tasks = Path(f'/proc/{proc.pid}/task')
        deadline = time.monotonic() + 30.0
        main, dds = tasks / str(proc.pid), []
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            dds = [t for t in tasks.iterdir()
                   if (t / 'comm').read_text().startswith('dds.')]
            if dds and not _blocked_signals(main):  # spinning: the node is made
                break
        assert dds, 'no DDS thread appeared'
        assert _blocked_signals(main) == set(), 'the main thread blocks the stop signals'
        unblocked = [(t / 'comm').read_text().strip() for t in dds
                     if _blocked_signals(t) != {signal.SIGINT, signal.SIGTERM}]
        assert not unblocked, f'threads that can take a stop signal: {unblocked}'
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, output
    finally:
        proc.kill()
        proc.wait()


def test_the_model_service_trims_the_heap_after_the_swap(executor, monkeypatch):
    """A replaced model's freed pages go back to the OS after the swap, not at the next load."""
    import time
    import types

    from sage_common import heap
    from sage_interfaces.srv import LoadModel

    trims = []
    monkeypatch.setattr(heap, 'trim_heap', lambda: trims.append(time.monotonic()) or True)
    owner = rclpy.create_node('load_model_service_test', context=executor.context)
    model = types.SimpleNamespace(version='v0002', provider='CPUExecutionProvider')
    service = node.LoadModelService(owner, load=lambda version: model,
                                    running=lambda: 'v0001', takes_over='the next frame')
    try:
        response = service._on_request(LoadModel.Request(version='v0002'),
                                       LoadModel.Response())
        assert response.success and len(trims) == 1      # before the load
        time.sleep(3 * service.TRIM_CHECK_S)
        assert len(trims) == 1                            # not swapped in yet: nothing freed
        assert service.take() is model and service.take() is None
        swapped = time.monotonic()
        deadline = swapped + 10 * service.TRIM_CHECK_S
        while len(trims) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(trims) == 2 and trims[1] > swapped     # once, after the swap
        time.sleep(3 * service.TRIM_CHECK_S)
        assert len(trims) == 2
    finally:
        service.close()
        owner.destroy_node()
