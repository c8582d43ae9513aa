# Copyright 2026 The SAGE authors. Licensed under the Apache License, Version 2.0.
"""
A GR00T inference-service client (ZeroMQ REQ) with bounded waits, and a reconnect backoff.

Upstream's client blocks in recv() forever (or for 15 s) and, once a REQ socket has sent
without an answer, that socket can never send again. Here every call is bounded: the socket
is created with ZMQ_IMMEDIATE (a send waits for a live connection, so "no server" is told
apart from "no answer"), waits use poll(), and after a failed wait the socket is closed
(linger 0) and a new one connected, so the next call starts clean.
"""

import time

import zmq

from . import protocol as wire


class GrootClient:
    """
    Calls the endpoints of one server: ping, get_modality_config, get_action, reset, kill.

    Every failure raises wire.ProtocolError with a reason: 'server_down' (no connection
    within the timeout), 'timeout' (connected, no reply within the timeout), 'not_msgpack',
    'pickle_refused', 'bad_ndarray', 'server_error', 'unauthorized', ... (see protocol).
    """

    def __init__(self, host='127.0.0.1', port=5555, protocol='n1.5', timeout_s=1.0,
                 api_token='', max_message_bytes=64 << 20):
        self.protocol = wire.check_protocol(protocol)
        if timeout_s <= 0:
            raise ValueError(f'timeout_s must be > 0, got {timeout_s}')
        self.endpoint = f'tcp://{host}:{int(port)}'
        self.timeout_s = float(timeout_s)
        self.api_token = api_token or ''
        self.max_message_bytes = int(max_message_bytes)
        self.sockets_created = 0
        self.last_round_trip_s = None
        self._context = zmq.Context()
        self._socket = None
        self._open()

    def _open(self):
        sock = self._context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes)
        sock.connect(self.endpoint)
        self._socket = sock
        self.sockets_created += 1

    def recreate(self):
        """Close the REQ socket and connect a new one (after any failed exchange)."""
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None
        self._open()

    def call(self, request):
        """Send a request dict, return the decoded reply; raise ProtocolError on any fault."""
        payload = wire.pack(request)
        return self.call_raw(payload)

    def call_raw(self, payload):
        """Send request bytes, return the decoded reply (error replies raise)."""
        if self._socket is None:
            self._open()
        start = time.monotonic()
        deadline = start + self.timeout_s
        try:
            if not self._socket.poll(self._ms_left(deadline), zmq.POLLOUT):
                self.recreate()
                raise wire.ProtocolError('server_down', f'no connection to {self.endpoint} '
                                         f'within {self.timeout_s:.2f} s')
            self._socket.send(payload, zmq.NOBLOCK)
            if not self._socket.poll(self._ms_left(deadline), zmq.POLLIN):
                self.recreate()
                raise wire.ProtocolError('timeout', f'no reply from {self.endpoint} within '
                                         f'{self.timeout_s:.2f} s')
            data = self._socket.recv(zmq.NOBLOCK)
        except zmq.ZMQError as exc:
            self.recreate()
            raise wire.ProtocolError('server_down', f'{self.endpoint}: {exc}') from None
        self.last_round_trip_s = time.monotonic() - start
        return wire.raise_if_error(wire.unpack(data))

    @staticmethod
    def _ms_left(deadline):
        return max(0, int(round((deadline - time.monotonic()) * 1000)))

    def ping(self):
        """Return the ping reply ({"status": "ok", ...})."""
        return self.call(wire.make_request('ping', api_token=self.api_token))

    def get_modality_config(self):
        """Return the server's Layout."""
        reply = self.call(wire.make_request('get_modality_config', api_token=self.api_token))
        return wire.parse_modality_config(self.protocol, reply)

    def get_action(self, observation):
        """Return the raw get_action reply for a built observation (see parse_action_reply)."""
        return self.call(wire.get_action_request(self.protocol, observation, self.api_token))

    def reset(self):
        """Call N1.6's reset endpoint (N1.5 has none: a no-op)."""
        if self.protocol == 'n1.6':
            return self.call(wire.reset_request(self.api_token))
        return None

    def kill(self):
        """Ask the server to stop."""
        return self.call(wire.make_request('kill', api_token=self.api_token))

    def close(self):
        """Close the socket and the ZeroMQ context."""
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None
        self._context.term()


class Backoff:
    """Exponential reconnect delay: initial, doubling up to maximum; reset on success."""

    def __init__(self, initial=0.25, maximum=5.0, factor=2.0):
        if initial <= 0 or maximum < initial or factor < 1:
            raise ValueError(f'backoff needs 0 < initial <= maximum and factor >= 1, got '
                             f'{initial}, {maximum}, {factor}')
        self.initial, self.maximum, self.factor = float(initial), float(maximum), float(factor)
        self.delay = 0.0
        self.next_attempt = float('-inf')
        self.failures = 0

    def failed(self, now):
        """Record a failure at now; return the delay before the next attempt."""
        self.delay = self.initial if self.failures == 0 else min(self.maximum,
                                                                 self.delay * self.factor)
        self.failures += 1
        self.next_attempt = now + self.delay
        return self.delay

    def succeeded(self):
        """Record a success: the next failure waits `initial` again."""
        self.failures = 0
        self.delay = 0.0
        self.next_attempt = float('-inf')

    def ready(self, now):
        """Return True once the delay after the last failure has passed."""
        return now >= self.next_attempt
