# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
`sage_policy_server`: a SAGE policy or the scripted expert behind the GR00T wire protocol.

    sage_policy_server --protocol n1.5|n1.6 [--policy expert|sage|bc] [--port 5555]
                       [--host 127.0.0.1] [--goal-from state|text] [--models DIR]
                       [--step-dt 0.02] [--horizon 16] [--latency 0.0]

Endpoints as upstream's: ping, kill, get_action, get_modality_config (+ reset for N1.6).
The API token (from the environment variable named by --api-token-env, default
SAGE_GROOT_API_TOKEN; none when unset) is checked before anything else. Every failure is
answered with {"error": str} — a REP socket must answer each request — and counted.
Binds to 127.0.0.1 unless told otherwise; --port 0 takes a free port (printed).
Arguments from `--ros-args` on are ignored, so the supervisor can start it like a node.
"""

import argparse
import collections
import os
import signal
import sys
import threading
import time

import zmq

from . import protocol as wire

TOKEN_ENV = 'SAGE_GROOT_API_TOKEN'


class PolicyServer:
    """
    A ZeroMQ REP server for one policy.

    policy: an object with `layout` (protocol.Layout), `get_action(videos, states, task)`
    -> {part: (H, D)} and `reset()`. handle(bytes) -> bytes is the whole protocol (tested
    without sockets); serve() runs it on the socket until stop() or a kill request.
    """

    def __init__(self, policy, protocol='n1.5', host='127.0.0.1', port=5555, api_token='',
                 latency_s=0.0, max_message_bytes=64 << 20, log=None):
        self.policy = policy
        self.protocol = wire.check_protocol(protocol)
        self.api_token = api_token or ''
        self.latency_s = float(latency_s)
        self.counts = collections.Counter()
        self.log = log or (lambda message: None)
        self._stop = threading.Event()
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.REP)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.MAXMSGSIZE, int(max_message_bytes))
        self._socket.bind(f'tcp://{host}:{"*" if int(port) == 0 else int(port)}')
        self.endpoint = self._socket.getsockopt_string(zmq.LAST_ENDPOINT)
        self.port = int(self.endpoint.rsplit(':', 1)[1])
        self._endpoints = {'ping': self._ping, 'kill': self._kill,
                           'get_action': self._get_action,
                           'get_modality_config': self._get_modality_config}
        if self.protocol == 'n1.6':
            self._endpoints['reset'] = self._reset

    # --- the protocol --------------------------------------------------------------------

    def handle(self, message):
        """Return the reply bytes for request bytes (never raises)."""
        try:
            request = wire.unpack(message)
        except wire.ProtocolError as exc:
            return self._error(exc.reason, f'cannot decode request: {exc.message}')
        # The token is checked before anything else (upstream's order).
        token = request.get('api_token') if isinstance(request, dict) else None
        if self.api_token and token != self.api_token:
            return self._error('unauthorized', wire.UNAUTHORIZED)
        if not isinstance(request, dict):
            return self._error('bad_request', f'a request is a mapping, got '
                               f'{type(request).__name__}')
        endpoint = request.get('endpoint', 'get_action')
        handler = self._endpoints.get(endpoint)
        if handler is None:
            return self._error('unknown_endpoint', f'Unknown endpoint: {endpoint}')
        try:
            result = handler(request.get('data', {}))
            reply = wire.pack(result)
        except wire.ProtocolError as exc:
            return self._error(exc.reason, exc.message)
        except Exception as exc:   # the policy failed: answer, never die
            return self._error('policy_error', f'{type(exc).__name__}: {exc}')
        self.counts[f'ok_{endpoint}'] += 1
        return reply

    def _error(self, reason, message):
        self.counts[f'error_{reason}'] += 1
        self.log(f'error reply ({reason}): {message}')
        return wire.pack({'error': message})

    def _ping(self, data):
        return dict(wire.PING_REPLY)

    def _kill(self, data):
        self._stop.set()
        return None

    def _get_modality_config(self, data):
        return wire.modality_config_reply(self.protocol, self.policy.layout)

    def _reset(self, data):
        self.policy.reset()
        return {}

    def _get_action(self, data):
        videos, states, task = wire.parse_observation(self.protocol, data, self.policy.layout)
        if self.latency_s > 0:   # emulate a slow model (GR00T: 173-341 ms on Orin)
            time.sleep(self.latency_s)
        actions = self.policy.get_action(videos, states, task)
        return wire.action_reply(self.protocol, actions)

    # --- the socket ----------------------------------------------------------------------

    def serve(self, poll_s=0.1):
        """Answer requests until stop() or a kill request."""
        while not self._stop.is_set():
            if not self._socket.poll(int(poll_s * 1000), zmq.POLLIN):
                continue
            message = self._socket.recv()
            self._socket.send(self.handle(message))

    def stop(self):
        """Make serve() return within its poll period."""
        self._stop.set()

    @property
    def stopped(self):
        return self._stop.is_set()

    def close(self):
        """Close the socket and the context (after serve() returned)."""
        self._socket.close(linger=0)
        self._context.term()


class ServerThread:
    """A PolicyServer serving on a background thread (tests, in-process use)."""

    def __init__(self, policy, **kwargs):
        self.server = PolicyServer(policy, **kwargs)
        self.port = self.server.port
        self._thread = threading.Thread(target=self.server.serve, daemon=True,
                                        name='policy_server')
        self._thread.start()

    def close(self):
        self.server.stop()
        self._thread.join(5.0)
        self.server.close()


def make_policy(args):
    """Return the served policy the command line names."""
    from . import policies

    if args.policy == 'expert':
        return policies.ExpertPolicy.for_reacher(
            model_path=args.model_path or None, step_dt=args.step_dt, horizon=args.horizon,
            max_speed=args.max_speed, goal_from=args.goal_from, camera=args.camera,
            reference=args.reference)
    versions = dict(item.split('=', 1) for item in args.versions.split(',') if item)
    return policies.RegistryPolicy(args.policy, args.models, versions, step_dt=args.step_dt,
                                   horizon=args.horizon, camera=args.camera)


def _strip_ros_args(argv):
    argv = list(sys.argv[1:] if argv is None else argv)
    return argv[:argv.index('--ros-args')] if '--ros-args' in argv else argv


def main(argv=None):
    parser = argparse.ArgumentParser(prog='sage_policy_server',
                                     description=__doc__.split('\n\n')[0].strip())
    parser.add_argument('--protocol', default='n1.5', choices=wire.PROTOCOLS)
    parser.add_argument('--policy', default='expert', choices=['expert', 'sage', 'bc'])
    parser.add_argument('--host', default='127.0.0.1', help='interface to bind (loopback)')
    parser.add_argument('--port', type=int, default=5555, help='0 = any free port')
    parser.add_argument('--api-token-env', default=TOKEN_ENV,
                        help='environment variable holding the API token (unset: no token)')
    parser.add_argument('--step-dt', type=float, default=0.02,
                        help='seconds between the steps of an action chunk')
    parser.add_argument('--horizon', type=int, default=wire.DEFAULT_HORIZON,
                        help='steps per action chunk')
    parser.add_argument('--camera', default='top_down', help='video key of the camera')
    parser.add_argument('--goal-from', default='state', choices=['state', 'text'],
                        help='expert: the goal from state.goal, or the task text "(x, y)"')
    parser.add_argument('--max-speed', type=float, default=3.0, help='expert: rad/s')
    parser.add_argument('--reference', default='command', choices=['command', 'measured'],
                        help="expert: continue its own previous path ('command') or start "
                        "every chunk from the observed joints ('measured', stateless)")
    parser.add_argument('--model-path', default='',
                        help="expert: MJCF of the arm ('' = Reacher-v5)")
    parser.add_argument('--models', default='', help='sage/bc: model registry directory')
    parser.add_argument('--versions', default='', help='sage/bc: name=version,...')
    parser.add_argument('--latency', type=float, default=0.0,
                        help='extra seconds per get_action (emulates a slow model)')
    args = parser.parse_args(_strip_ros_args(argv))
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    try:
        policy = make_policy(args)
        server = PolicyServer(policy, args.protocol, args.host, args.port,
                              os.environ.get(args.api_token_env, ''), args.latency,
                              log=lambda m: print(f'sage_policy_server: {m}', flush=True))
    except (ValueError, FileNotFoundError, zmq.ZMQError) as exc:
        print(f'sage_policy_server: fatal: {exc}', file=sys.stderr, flush=True)
        return 1
    layout = policy.layout
    print(f'sage_policy_server: serving {args.policy} ({args.protocol}) on {server.endpoint}; '
          f'video {layout.video}, state {layout.state}, action {layout.action} x '
          f'{layout.action_horizon} steps of {args.step_dt} s; token '
          f'{"required" if server.api_token else "none"}', flush=True)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    while not stop.is_set() and thread.is_alive():
        stop.wait(0.1)
    server.stop()
    thread.join(5.0)
    server.close()
    print(f'sage_policy_server: stopped ({"killed" if not stop.is_set() else "signal"}); '
          f'{dict(sorted(server.counts.items()))}', flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
