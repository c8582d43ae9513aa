# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""Client and server over real ZeroMQ on loopback: both protocols, faults, the token."""

import threading
import time

import msgpack
import numpy as np
import pytest
from sage_groot import protocol as wire
from sage_groot.client import Backoff, GrootClient
from sage_groot.policies import ExpertPolicy, resample_chunk
from sage_groot.server import PolicyServer, ServerThread
from sage_sim.teacher import TwoLinkArm
import zmq

ARM = TwoLinkArm((0.0, 0.0), 0.1, 0.11)
IMAGE = np.zeros((8, 8, 3), np.uint8)


def expert(**kwargs):
    return ExpertPolicy(ARM, **kwargs)


@pytest.fixture
def serve():
    started = []

    def start(policy=None, **kwargs):
        kwargs.setdefault('port', 0)
        server = ServerThread(policy or expert(), **kwargs)
        started.append(server)
        return server

    yield start
    for server in started:
        server.close()


@pytest.fixture
def clients():
    made = []

    def make(port, **kwargs):
        client = GrootClient(port=port, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


class RawRep:
    """A REP socket answering each request with the next canned reply (bytes)."""

    def __init__(self, replies, delay_s=0.0):
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.REP)
        self.socket.setsockopt(zmq.LINGER, 0)
        self.socket.bind('tcp://127.0.0.1:*')
        self.port = int(self.socket.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(':', 1)[1])
        self.replies = list(replies)
        self.requests = []
        self.delay_s = delay_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            if not self.socket.poll(50, zmq.POLLIN):
                continue
            self.requests.append(self.socket.recv())
            time.sleep(self.delay_s)
            if self.replies:
                self.socket.send(self.replies.pop(0))
            else:
                self.socket.send(msgpack.packb({'error': 'no more replies'}))

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.socket.close(0)
        self.context.term()


def observation(protocol, goal=(0.1, 0.05), q=(0.0, 0.0)):
    return wire.build_observation(protocol, {'top_down': IMAGE},
                                  {'arm': np.array(q), 'goal': np.array(goal)}, 'reach')


@pytest.mark.parametrize('protocol', wire.PROTOCOLS)
def test_both_protocols_end_to_end(serve, clients, protocol):
    server = serve(protocol=protocol)
    client = clients(server.port, protocol=protocol)
    assert client.ping() == {'status': 'ok', 'message': 'Server is running'}
    layout = client.get_modality_config()
    assert layout.video == ['top_down'] and layout.state == ['arm', 'goal']
    assert layout.action == ['arm'] and layout.action_horizon == 16
    reply = client.get_action(observation(protocol))
    actions = wire.parse_action_reply(protocol, reply, {'arm': 2})
    chunk = actions['arm']
    assert chunk.shape == (16, 2)
    # the expert's path: rate-limited (3 rad/s x 0.02 s per step) toward the IK solution
    assert np.all(np.abs(np.diff(chunk, axis=0)) <= 0.06 + 1e-6)
    assert np.allclose(chunk[0], np.clip(ARM.inverse((0.1, 0.05)), -0.06, 0.06), atol=1e-6)
    if protocol == 'n1.6':
        assert client.reset() == {}
    assert server.server.counts['ok_get_action'] == 1


def test_a_client_of_the_other_generation_fails_cleanly(serve, clients):
    server = serve(protocol='n1.6')
    client = clients(server.port, protocol='n1.5')
    with pytest.raises(wire.ProtocolError) as err:
        client.get_action(observation('n1.5'))
    assert err.value.reason == 'server_error'   # the N1.6 server refuses the flat form
    assert server.server.counts['error_bad_request'] == 1
    assert client.ping()['status'] == 'ok'      # and the socket is still usable


def test_token_is_checked_before_anything_else(serve, clients):
    server = serve(api_token='s3cret')
    for token in ('', 'wrong'):
        client = clients(server.port, api_token=token)
        with pytest.raises(wire.ProtocolError) as err:
            client.ping()
        assert err.value.reason == 'unauthorized'
    # an unknown endpoint without the token is refused for the token, not the endpoint
    sock_client = clients(server.port)
    with pytest.raises(wire.ProtocolError, match='Unauthorized'):
        sock_client.call({'endpoint': 'no_such'})
    good = clients(server.port, api_token='s3cret')
    assert good.ping()['status'] == 'ok'
    with pytest.raises(wire.ProtocolError, match='Unknown endpoint: no_such'):
        good.call(wire.make_request('no_such', api_token='s3cret'))
    assert server.server.counts['error_unauthorized'] == 3


def test_server_answers_every_bad_request_with_an_error(serve):
    server = serve()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f'tcp://127.0.0.1:{server.port}')
    try:
        for raw, reason in ((b'\x80\x02garbage', 'not_msgpack'),
                            (msgpack.packb([1, 2]), 'bad_request'),
                            (wire.pack(wire.make_request('get_action', {'state.arm': 1})),
                             'bad_request')):
            sock.send(raw)
            assert sock.poll(2000)
            reply = msgpack.unpackb(sock.recv())
            assert set(reply) == {'error'}, reply
            assert server.server.counts[f'error_{reason}'] >= 1
        # the expert cannot act without a goal: an error reply, not a crash
        obs = wire.build_observation('n1.5', {'top_down': IMAGE},
                                     {'arm': np.zeros(2), 'goal': np.array([np.nan, 0.0])}, 't')
        sock.send(wire.pack(wire.get_action_request('n1.5', obs)))
        assert sock.poll(2000)
        assert 'goal' in msgpack.unpackb(sock.recv())['error']
    finally:
        sock.close(0)
        ctx.term()


def test_server_down_then_up(clients):
    port = _free_port()
    client = clients(port, timeout_s=0.2)
    start = time.monotonic()
    with pytest.raises(wire.ProtocolError) as err:
        client.ping()
    assert err.value.reason == 'server_down'
    assert 0.15 < time.monotonic() - start < 1.0
    assert client.sockets_created == 2   # closed and recreated
    server = ServerThread(expert(), port=port)
    try:
        deadline = time.monotonic() + 5
        while True:
            try:
                assert client.ping()['status'] == 'ok'
                break
            except wire.ProtocolError:
                assert time.monotonic() < deadline
    finally:
        server.close()


def test_timeout_recreates_the_req_socket(clients):
    good = wire.pack(wire.action_reply('n1.5', {'arm': np.zeros((16, 2))}))
    rep = RawRep([good, good, good], delay_s=0.0)
    try:
        client = clients(rep.port, timeout_s=0.3)
        assert client.call(wire.make_request('ping'))   # a dict reply: fine
        rep.delay_s = 0.6                               # now the server is too slow
        start = time.monotonic()
        with pytest.raises(wire.ProtocolError) as err:
            client.call(wire.make_request('ping'))
        assert err.value.reason == 'timeout' and time.monotonic() - start < 0.6
        assert client.sockets_created == 2
        rep.delay_s = 0.0
        time.sleep(0.5)   # the late reply goes to the closed socket, never to the new one
        # the new socket works at once (a REQ socket that timed out could never send again)
        assert wire.parse_action_reply('n1.5', client.call(wire.make_request('ping')),
                                       {'arm': 2})['arm'].shape == (16, 2)
    finally:
        rep.close()


@pytest.mark.parametrize('raw, reason', [
    (b'\x80\x04\x95garbage-pickle', 'not_msgpack'),
    (msgpack.packb({'error': 'model exploded'}), 'server_error'),
])
def test_bad_raw_replies(clients, raw, reason):
    rep = RawRep([raw])
    try:
        client = clients(rep.port, timeout_s=1.0)
        with pytest.raises(wire.ProtocolError) as err:
            client.get_action({'state.arm': np.zeros((1, 2))})
        assert err.value.reason == reason
    finally:
        rep.close()


def test_kill_stops_the_server(clients):
    server = PolicyServer(expert(), port=0)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    client = clients(server.port)
    assert client.kill() is None     # upstream's kill handler returns None
    thread.join(2)
    assert not thread.is_alive() and server.stopped
    server.close()


def test_round_trip_latency_on_loopback(serve, clients):
    """Loopback round trip of get_action with a 64x64 image (printed for the report)."""
    server = serve(protocol='n1.5')
    client = clients(server.port)
    obs = wire.build_observation('n1.5', {'top_down': np.zeros((64, 64, 3), np.uint8)},
                                 {'arm': np.zeros(2), 'goal': np.array([0.1, 0.0])}, 'reach')
    times = []
    for _ in range(200):
        start = time.perf_counter()
        client.get_action(obs)
        times.append(time.perf_counter() - start)
    p50, p99 = np.percentile(times, 50) * 1e3, np.percentile(times, 99) * 1e3
    print(f'get_action round trip on loopback: p50 {p50:.2f} ms, p99 {p99:.2f} ms')
    assert p50 < 50


def test_backoff_doubles_up_to_the_maximum_and_resets():
    backoff = Backoff(0.25, 2.0)
    assert backoff.ready(0.0)
    assert [backoff.failed(0.0) for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert not backoff.ready(1.9) and backoff.ready(2.0)
    backoff.succeeded()
    assert backoff.ready(0.0) and backoff.failed(10.0) == 0.25


def test_expert_goal_from_text_and_resampling():
    policy = expert(goal_from='text')
    assert policy.layout.state == ['arm']
    out = policy.get_action({}, {'arm': np.zeros(2)}, 'reach the target at (0.1, 0.05)')
    again = expert().get_action({}, {'arm': np.zeros(2), 'goal': np.array([0.1, 0.05])}, '')
    np.testing.assert_array_equal(out['arm'], again['arm'])
    with pytest.raises(ValueError, match='goal'):
        policy.get_action({}, {'arm': np.zeros(2)}, 'reach the target')
    chunk = np.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]])
    resampled = resample_chunk(chunk, 0.1, 0.05, 6)
    np.testing.assert_allclose(resampled[:, 0], [0, 0.5, 1, 1.5, 2, 2])


def test_expert_continues_its_own_path_for_the_same_goal():
    now = [0.0]
    policy = expert(clock=lambda: now[0])
    goal = np.array([0.15, 0.1])
    first = policy.get_action({}, {'arm': np.zeros(2), 'goal': goal}, '')['arm']
    # 5 steps later the arm lags its target (PD): the next chunk continues the path
    now[0] = 5 * 0.02
    lagging = first[4] * 0.5
    second = policy.get_action({}, {'arm': lagging, 'goal': goal}, '')['arm']
    assert policy.continued == 1
    np.testing.assert_allclose(second[0], first[5], atol=1e-6)
    # a new goal, a gap longer than a chunk, or a reset: from the observed joints again
    for change in ('goal', 'gap', 'reset'):
        if change == 'reset':
            policy.reset()
        now[0] += 1.0 if change == 'gap' else 0.02
        g = goal + (0.01 if change == 'goal' else 0.0)
        out = policy.get_action({}, {'arm': lagging, 'goal': g}, '')['arm']
        assert np.all(np.abs(out[0] - lagging) <= 0.06 + 1e-6), change
        goal = g
    assert policy.continued == 1
    stateless = expert(reference='measured', clock=lambda: now[0])
    stateless.get_action({}, {'arm': np.zeros(2), 'goal': goal}, '')
    stateless.get_action({}, {'arm': np.zeros(2), 'goal': goal}, '')
    assert stateless.continued == 0


def _free_port():
    ctx = zmq.Context()
    sock = ctx.socket(zmq.REP)
    sock.bind('tcp://127.0.0.1:*')
    port = int(sock.getsockopt_string(zmq.LAST_ENDPOINT).rsplit(':', 1)[1])
    sock.close(0)
    ctx.term()
    return port
