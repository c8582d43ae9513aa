# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
The node layer every SAGE node process uses.

* `declare_all`: a node's parameters from one table, with descriptions and ranges.
* `run_node`: a node process's main(): create the node (configure and activate a lifecycle
  node with `autostart`), freeze the start-up objects out of the GC, spin until
  SIGINT/SIGTERM, then stop everything in order.
* `BackgroundNode`, `SideService`, `SideSubscription`: nodes spun on a thread of their own
  (tools, tests, a node's slow services, an input that must not queue behind the data path);
  `LoadModelService`: a node's `~/load_model` off its data path.
* `set_realtime_priority`: SCHED_FIFO for a node whose timing matters (the L-module).
* `serve_history_reset`: /sage/episode_start and `~/reset_history` restart a node's history.
* `DESCRIPTION_PARAMETERS`, `node_joint_facts`: a node's joint names and limits from the
  robot description (parameter, or the latched /robot_description topic), its own parameter
  arrays as overrides (`sage_common.joint_facts`).

rclpy is imported where it is used, so the module imports without a ROS installation.
"""

import contextlib
import faulthandler
import gc
import os
import signal
import sys
import threading
import time

from sage_common.joint_facts import SIM_DESCRIPTION

_stop_signals = []  # the SIGINT/SIGTERMs init_rclpy()'s handler saw
_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
POLL_S = 0.1  # how often spin_until_shutdown looks for a stop signal between callbacks
FATAL = {ValueError: 'bad parameter'}  # run_node's default: what an error at start means


def declare_all(node, parameters):
    """
    Declare `{name: (default, description, (low, high) or None)}`; return {name: value}.

    A number's range goes into its descriptor, so a value outside it is refused (at start and
    when set). A default that is a rclpy Parameter.Type declares the parameter without a
    value: it stays unset (None) unless given.
    """
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor

    values = {}
    for name, (default, description, bounds) in parameters.items():
        descriptor = ParameterDescriptor(description=description)
        if bounds is not None and isinstance(default, float):
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(bounds[0]), to_value=float(bounds[1]), step=0.0)]
        elif bounds is not None and isinstance(default, int) and not isinstance(default, bool):
            descriptor.integer_range = [IntegerRange(
                from_value=int(bounds[0]), to_value=int(bounds[1]), step=1)]
        elif bounds is not None:
            raise TypeError(f'parameter {name}: a range needs an int or float default')
        values[name] = node.declare_parameter(name, default, descriptor).value
    return values


# The robot description parameters of the nodes that need joint facts (declare_all table).
DESCRIPTION_PARAMETERS = {
    'robot_description': (
        SIM_DESCRIPTION, 'URDF or MJCF the joint names and limits come from: the XML, a path, '
        "file:///path or python://<package>/<path>; '' = the robot_description_topic "
        "(default: the simulator's MJCF)", None),
    'robot_description_topic': (
        '', "with robot_description '': wait for the description on this latched "
        "std_msgs/String topic (robot_state_publisher's /robot_description); '' = none",
        None),
    'robot_description_timeout': (
        10.0, 'seconds to wait for robot_description_topic at start', (0.1, 3600.0)),
}


def wait_for_robot_description(node, topic, timeout_s):
    """
    Return the std_msgs/String on the latched topic, spun on a side node; ValueError if none.

    A side node with its own executor, so this works inside a lifecycle transition whether
    the node is being spun or not. Raises ValueError after timeout_s without a message.
    """
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from sage_common.qos import latched_qos
    from std_msgs.msg import String

    side = Node(node.get_name() + '_description_reader', context=node.context,
                start_parameter_services=False)
    received = []
    side.create_subscription(String, topic, lambda msg: received.append(msg.data),
                             latched_qos())
    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(side)
    deadline = time.monotonic() + timeout_s
    try:
        while not received and time.monotonic() < deadline and not stop_requested(
                node.context):
            executor.spin_once(timeout_sec=POLL_S)
    finally:
        executor.shutdown()
        side.destroy_node()
    if not received:
        raise ValueError(
            f"no robot description on {topic} within {timeout_s:g} s: start the robot's "
            'robot_state_publisher (it publishes the URDF there, latched), or set the '
            'robot_description parameter')
    return received[0]


def node_joint_facts(node, params, required):
    """
    Return the JointFacts node runs with: its robot description, its parameters overriding.

    params: the node's declared values; the description parameters (DESCRIPTION_PARAMETERS)
    and any of joint_facts.PARAMETER_OF's parameters (unset: None) it declares. Raises
    ValueError (names disagree, a required limit missing, an override looser than the
    description without `allow_looser_limits`, no description on the topic); allowed looser
    overrides are logged as warnings.
    """
    from sage_common.joint_facts import FIELDS, PARAMETER_OF, resolve, widened

    overrides = {field: params.get(PARAMETER_OF[field]) for field in ('names',) + FIELDS
                 if PARAMETER_OF[field] in params}
    ref, topic = params['robot_description'], params['robot_description_topic']
    text = source = None
    if not ref and topic:
        node.get_logger().info(f'waiting for the robot description on {topic}')
        text, source = wait_for_robot_description(
            node, topic, params['robot_description_timeout']), topic
    allow_looser = bool(params.get('allow_looser_limits', False))
    facts, description = resolve(ref, overrides, required, text, source, allow_looser)
    for note in widened(description, facts):
        node.get_logger().warning(note)
    given = sorted(PARAMETER_OF[f] for f, v in overrides.items() if v)
    node.get_logger().info(
        f'joints {facts.names} from {description.source if description else "parameters"}'
        + (f', overridden by {", ".join(given)}' if given and description else ''))
    return facts


def serve_history_reset(node, reset, describe):
    """
    Call reset(start) on each /sage/episode_start, reset(None) on `~/reset_history` (Trigger).

    start is the episode's start in seconds, from the std_msgs/Header stamp (None for a zero
    stamp: a publisher that does not stamp); describe() is the Trigger's reply. Call it
    before the node subscribes to its data: when an episode start and data are ready in the
    same wait, the executor then takes the reset first.
    """
    from sage_common.messages import stamp_to_sec
    from sage_common.qos import reliable_qos
    from std_msgs.msg import Header
    from std_srvs.srv import Trigger

    def on_reset_history(request, response):
        reset(None)
        response.success = True
        response.message = describe()
        return response

    node.create_subscription(Header, '/sage/episode_start',
                             lambda msg: reset(stamp_to_sec(msg.stamp) or None), reliable_qos())
    node.create_service(Trigger, '~/reset_history', on_reset_history)


def init_rclpy(args=None):
    """
    rclpy.init(args) for a node process whose SIGINT and SIGTERM stop it in one thread.

    rclpy's own signal handling shuts the context down from a thread of its own while the main
    thread leaves spin() and tears the node down; the two race. Seen here: the process hanging
    for good inside destroy_node (the teacher, the simulator: once in a test-suite run each),
    SIGSEGV in rcl_trigger_guard_condition, and (its chained KeyboardInterrupt landing inside
    rclpy's C++ message conversion) exit code 1. So rclpy installs no signal handler here: the
    handler below only records the signal, spin_until_shutdown sees it within POLL_S, and the
    main thread then stops everything in order (the node's threads, the node, the context).
    A handler someone else installed for SIGINT/SIGTERM (or SIG_IGN) is left alone.

    SIGUSR1 prints every thread's Python stack to stderr (faulthandler, async-signal-safe):
    `kill -USR1 <pid>` tells where a node that does not respond is stuck.
    """
    import rclpy

    if hasattr(signal, 'SIGUSR1'):
        faulthandler.register(signal.SIGUSR1, all_threads=True)

    def on_stop(signum, frame):
        _stop_signals.append(signum)

    if threading.current_thread() is threading.main_thread():
        for sig, default in ((signal.SIGINT, signal.default_int_handler),
                             (signal.SIGTERM, signal.SIG_DFL)):
            if signal.getsignal(sig) is default:
                signal.signal(sig, on_stop)
    try:
        from rclpy.signals import SignalHandlerOptions
    except ImportError:  # an rclpy without the option: its handlers chain to on_stop
        rclpy.init(args=args)
    else:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)


def block_stop_signals():
    """
    Keep SIGINT and SIGTERM away from the calling (worker) thread and the threads it starts.

    The kernel hands a process signal to any thread that does not block it. A worker thread
    inside native code (MuJoCo's renderer and the GL driver's own threads, which inherit the
    mask of the thread that starts them; DDS calls) would then take the stop signal as an
    interrupted system call it may not retry; blocked there, the signal goes to the main
    thread, which stops the node.
    """
    if hasattr(signal, 'pthread_sigmask'):
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)


@contextlib.contextmanager
def native_threads_without_stop_signals():
    """
    Block SIGINT and SIGTERM in the calling thread while the block runs, then restore its mask.

    Threads born meanwhile inherit the block for good: DDS's receive, shared-memory and event
    threads (started when a context's first node is created), ONNX Runtime's pools, a node's
    own workers. Left unblocked (as they were), a process-directed stop signal could land in a
    DDS thread as an interrupted system call: the suspected cause of a node hanging for good
    in destroy_node after SIGINT or SIGTERM now and then (the simulator in CI, the teacher
    once), never reproduced on demand. A stop signal that arrives inside the block stays
    pending and is handled when the mask is restored.
    """
    if not hasattr(signal, 'pthread_sigmask'):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def stop_requested(context=None):
    """
    Return True once the process is asked to stop.

    That is: init_rclpy()'s handler saw SIGINT or SIGTERM, or the context (default: rclpy's)
    is shut down. An error raised then (creating a node on the invalid context, a callback
    publishing on it) is part of the stop, not a failure.
    """
    import rclpy

    return bool(_stop_signals) or not rclpy.ok(context=context)


def run_node(make_node, name, args=None, fatal=None, on_exit=None):
    """
    Create a node with make_node() and spin it until SIGINT/SIGTERM; return the exit code.

    A lifecycle node whose `autostart` parameter is true is configured and activated first.
    The code is 0 after SIGINT/SIGTERM, even one that came while the node was being created;
    1 when creating the node raised an error of a type in `fatal` ({type: what it means},
    default FATAL; printed as `<name>: fatal: <meaning>: <error>`), when autostart failed, or
    when on_exit(node) returns a failure message. on_exit runs before the node is destroyed,
    e.g. to stop its threads; a node's side services close in its destroy_node. The
    executor and the node are gone before rclpy shuts down, so no thread of theirs is left
    at interpreter exit (one still inside rclpy then aborts the process).
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    fatal = FATAL if fatal is None else fatal
    init_rclpy(args)
    node = executor = None
    code = 0
    try:
        try:
            with native_threads_without_stop_signals():
                node = make_node()
                failure = _autostart(node)
        except tuple(fatal) as exc:
            meaning = next(m for kind, m in fatal.items() if isinstance(exc, kind))
            failure = f'{meaning}: {exc}'
        if failure is None:
            freeze_startup_objects()
            executor = SingleThreadedExecutor()
            executor.add_node(node)
            spin_until_shutdown(executor)
        elif not stop_requested():
            print(f'{name}: fatal: {failure}', file=sys.stderr)
            code = 1
    except Exception:
        if not stop_requested():  # else: SIGINT/SIGTERM while starting, a clean stop
            raise
    finally:
        gc.unfreeze()  # tear down as without the freeze: collectable start-up objects go first
        if executor is not None:
            executor.shutdown()
        if node is not None:
            failure = on_exit(node) if on_exit else None
            if failure:
                print(f'{name}: fatal: {failure}', file=sys.stderr)
                code = 1
            node.destroy_node()
        rclpy.try_shutdown()
    return code


def freeze_startup_objects():
    """
    Collect once, then move every object alive (modules, models, the node) out of the GC's view.

    Start-up leaves tens of thousands of long-lived objects (37 000 in the L-module) that every
    full collection scanned, inside whatever callback allocated at that moment (10 ms on
    this machine under load; 0.002 ms frozen): later collections scan only what was made since.
    """
    gc.collect()
    gc.freeze()


def set_realtime_priority(priority):
    """
    Run the calling thread and the process's native threads (DDS) under SCHED_FIFO `priority`.

    Other Python threads keep the normal scheduler (a node's `~/load_model` side thread
    hashes and probes models: at real-time priority that would take a core). Threads the
    calling thread starts later inherit the policy. Return None, or why it was not possible
    (no CAP_SYS_NICE or rtprio limit, or not Linux).
    """
    others = {t.native_id for t in threading.enumerate()} - {threading.get_native_id()}
    try:
        param = os.sched_param(int(priority))
        for tid in sorted(int(t) for t in os.listdir('/proc/self/task')):
            if tid not in others:
                os.sched_setscheduler(tid, os.SCHED_FIFO, param)
    except (AttributeError, OSError) as exc:
        return f'{type(exc).__name__}: {exc}'
    return None


def _autostart(node):
    """Configure and activate a lifecycle node with `autostart` true; return a failure or None."""
    from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn

    if not (isinstance(node, LifecycleNode) and node.has_parameter('autostart')
            and node.get_parameter('autostart').value):
        return None
    for transition in ('configure', 'activate'):
        if getattr(node, 'trigger_' + transition)() != TransitionCallbackReturn.SUCCESS:
            return f'autostart: {transition} failed (see the log)'
    return None


def spin_until_shutdown(executor, spin=None):
    """
    Run spin until a stop is requested (see stop_requested); by default, the executor's callbacks.

    When the context is shut down under a spinning executor, rclpy raises RCLError ("the
    given context is not valid") or ExternalShutdownException, and a callback can fail on
    the invalid context: all mean shutdown. Errors raised before any stop propagate.
    """
    from rclpy.executors import ExternalShutdownException

    def spin_callbacks():
        while not stop_requested(executor.context):
            executor.spin_once(timeout_sec=POLL_S)

    try:
        (spin or spin_callbacks)()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if not stop_requested(executor.context):
            raise


class BackgroundNode:
    """
    A node that plain Python code can use while its callbacks run on a thread.

    Without `context` it has its own rclpy context, so it coexists with any other rclpy user
    in the process, and `close()` shuts that context down too; with one (a node's side
    service) it shares it and leaves it alone. `node_kwargs` go to rclpy.create_node.

    Call close() before the process exits: the spinning thread is a daemon only so that a
    forgotten close() cannot hang the exit, and a daemon thread still inside rclpy when the
    interpreter finalizes aborts the process ("terminate called without an active
    exception", SIGABRT) as it wakes up.
    """

    def __init__(self, name, context=None, poll_s=0.05, **node_kwargs):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        self._own_context = context is None
        with native_threads_without_stop_signals():  # its own context: DDS threads of its own
            if self._own_context:
                context = rclpy.context.Context()
                rclpy.init(context=context)
            self.context = context
            self.node = rclpy.create_node(name, context=context, **node_kwargs)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self._poll_s = poll_s
        self._stop = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._spin, name=f'spin-{name}', daemon=True)
        self._thread.start()

    def _spin(self):
        block_stop_signals()

        def spin():
            while not self._stop.is_set() and self.context.ok():
                self.executor.spin_once(timeout_sec=self._poll_s)

        spin_until_shutdown(self.executor, spin)

    def close(self, timeout=30.0):
        """
        Stop spinning, join the thread, destroy the node; return True once the thread ended.

        The thread leaves within one poll period unless a callback is running (e.g. a model
        load): that callback is waited for, up to `timeout` seconds. Closing twice is a no-op.
        """
        self._stop.set()
        if self._closed:
            return True
        self._thread.join(timeout)
        if self._thread.is_alive():
            # Destroying the node under a running callback would only add a second failure.
            print(f'{self.node.get_name()}: spin thread still busy after {timeout} s; the '
                  f'process may abort when it exits', file=sys.stderr)
            return False
        self._closed = True
        self.executor.shutdown()
        self.node.destroy_node()
        if self._own_context:
            self.context.try_shutdown()
        return True


class SideService(BackgroundNode):
    """
    A service served from its own helper node and executor thread.

    Slow requests (loading and probing a model) then never delay the owner's data path,
    which keeps a single-threaded executor (far cheaper in rclpy than a multi-threaded one).
    The owner must close() it on exit, before destroying itself (see BackgroundNode).
    """

    def __init__(self, owner, srv_type, srv_name, callback):
        # No global arguments: a `__node:=` remap of the owner must not rename this node too.
        super().__init__(f'_{owner.get_name()}_side', context=owner.context, poll_s=0.1,
                         start_parameter_services=False, use_global_arguments=False)
        self.node.create_service(srv_type, srv_name, callback)


class SideSubscription(BackgroundNode):
    """
    A subscription served from its own helper node and executor thread.

    For an input that must be seen at once whatever the owner's executor is doing (the
    e-stop): its callback runs on this thread, so keep it to setting state that the owner's
    own callbacks read. The owner must close() it on exit, before destroying itself.
    """

    def __init__(self, owner, msg_type, topic, callback, qos, suffix='sub'):
        super().__init__(f'_{owner.get_name()}_{suffix}', context=owner.context, poll_s=0.1,
                         start_parameter_services=False, use_global_arguments=False)
        self.node.create_subscription(msg_type, topic, callback, qos)


class LoadModelService(SideService):
    """
    The owner's `~/load_model` (sage_interfaces/LoadModel), served on a side node.

    load(version) returns a verified, probed model (version '' = the registry's active one) or
    raises ModelError: a refused version leaves the running one (running() is its version)
    in place. A loaded one waits in take() until the owner swaps it in on its own thread;
    `takes_over` says when, in the reply (e.g. 'the next context'). Create it last, where
    nothing after it can fail and leave its thread running, and close() it before the owner
    is destroyed.

    The heap is trimmed on this thread (trim_heap) before each load and once the owner has
    swapped a new model in and dropped the old one: without the second, the replaced
    model's freed pages (an 11-MB encoder: +15 MB RSS) stayed with the process until the
    next load, which a soak counted as growth.
    """

    TRIM_CHECK_S = 0.5   # the owner drops the old model right after take(): trim this late

    def __init__(self, owner, load, running, takes_over):
        from sage_interfaces.srv import LoadModel

        self._load = load
        self._running = running
        self._takes_over = takes_over
        self._logger = owner.get_logger()
        self._lock = threading.Lock()
        self._pending = None
        self._swapped = threading.Event()
        super().__init__(owner, LoadModel, owner.get_fully_qualified_name() + '/load_model',
                         self._on_request)
        self.node.create_timer(self.TRIM_CHECK_S, self._trim_after_swap)

    def take(self):
        """Return the model loaded since the last call (swap it in now), or None."""
        with self._lock:
            model, self._pending = self._pending, None
        if model is not None:
            self._swapped.set()
        return model

    def _trim_after_swap(self):
        from sage_common.heap import trim_heap

        if self._swapped.is_set():
            self._swapped.clear()
            trim_heap()

    def _on_request(self, request, response):
        from sage_common.heap import trim_heap
        from sage_common.registry import ModelError

        trim_heap()  # a loaded model replaced before the owner took it left its pages free
        running = self._running()
        started = time.monotonic()
        try:
            model = self._load(request.version)
        except ModelError as exc:
            response.success = False
            response.message = f'refused, keeping {running}: {exc}'
            response.active_version = running
            self._logger.error(f'load_model: {response.message}')
            return response
        with self._lock:
            self._pending = model
        response.success = True
        response.message = (f'{model.version} verified and probed in '
                            f'{time.monotonic() - started:.2f} s (was {running}, '
                            f'{model.provider}); takes over at {self._takes_over}')
        response.active_version = model.version
        self._logger.info(f'load_model: {response.message}')
        return response
