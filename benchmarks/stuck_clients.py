"""Issue 11: what stuck browser clients cost the router worker, in RSS.

Two scenarios through a real crossbar node (auth off, so the router worker
runs only crossbar and the livehub guard):

1. **Stuck episodes**: a raw WebSocket client joins, subscribes and never
   reads again; the backend publishes ``EVENTS`` x 1 KB events; the client
   is dropped (by the queued-bytes bound, else by the ping timeout);
   repeated ``EPISODES`` times.  Prints the router worker's RSS after each.
2. **Stuck keepalive**: the same client, but it sends a small data frame every
   2 s (so any-traffic pings never time out); ``KEEPALIVE_EVENTS`` events.
   Prints when it was closed and the worker's growth.

Run: ``PYTHONPATH=$PWD .venv/bin/python -m benchmarks.stuck_clients``
(``BENCH_EPISODES``, ``BENCH_EVENTS``, ``BENCH_KEEPALIVE_EVENTS`` override;
``BENCH_MAX_QUEUED`` sets ``livehub.max_queued_bytes``, e.g. high so that the
ping timeout, not the bound, drops the client and the freed memory shows).
Run it with ``PYTHONPATH`` pointing at an older checkout to get its figures.
"""
import base64
import json
import os
import socket
import struct
import sys
import tempfile
import time
from urllib.parse import urlsplit

from pyramid_livehub.publisher import Publisher
from pyramid_livehub.router.process import RouterProcess, free_port
from pyramid_livehub.settings import parse_settings

EPISODES = int(os.environ.get('BENCH_EPISODES', 4))
EVENTS = int(os.environ.get('BENCH_EVENTS', 30000))
KEEPALIVE_EVENTS = int(os.environ.get('BENCH_KEEPALIVE_EVENTS', 120000))
TOPIC = 'bench.stuck'
PAYLOAD = 'x' * 1000


class RawWampClient:
    """A browser-like WAMP client on a bare socket, so it can stop reading at will.

    ``join()`` does the WebSocket handshake and a proper HELLO with roles;
    ``subscribe(topic)`` waits for SUBSCRIBED.  After that the caller
    decides whether to read (:meth:`read_until_closed`) or not.
    """

    def __init__(self, url, realm='livehub', recv_buffer=None):
        parts = urlsplit(url)
        self.sock = socket.socket()
        if recv_buffer:
            # a small receive buffer makes "stops reading" bite quickly
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, recv_buffer)
        self.sock.settimeout(10)
        self.sock.connect((parts.hostname, parts.port))
        self.url = parts
        self.realm = realm
        self.buffer = b''

    def _send_frame(self, payload, opcode=0x1):
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 65536:
            header += bytes([0x80 | 126]) + struct.pack('!H', length)
        else:
            header += bytes([0x80 | 127]) + struct.pack('!Q', length)
        key = os.urandom(4)
        masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload)) if length < 4096 else \
            _mask_fast(payload, key)
        self.sock.sendall(header + key + masked)

    def send(self, message):
        """Send one WAMP message (a list) as a text frame."""
        self._send_frame(json.dumps(message).encode())

    def send_raw(self, payload):
        """Send ``payload`` bytes as one text frame."""
        self._send_frame(payload)

    def keepalive(self):
        """Send a small data frame, as a stuck client's keepalive.

        A PUBLISH without acknowledge: the router drops it silently (browsers
        may not publish) but it is traffic.  Data frames, not pings: only
        data frames reset a ping timeout that counts any traffic.
        """
        self.send([16, 1, {}, 'demo.keepalive'])

    def _read_exact(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError('closed by the router')
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def read_frame(self):
        """(opcode, payload) of the next frame from the router."""
        first, second = self._read_exact(2)
        length = second & 0x7F
        if length == 126:
            length = struct.unpack('!H', self._read_exact(2))[0]
        elif length == 127:
            length = struct.unpack('!Q', self._read_exact(8))[0]
        return first & 0x0F, self._read_exact(length)

    def read_message(self):
        """The next WAMP message (ping/pong frames skipped); ``None`` on a close frame."""
        while True:
            opcode, payload = self.read_frame()
            if opcode == 0x1:
                return json.loads(payload)
            if opcode == 0x8:
                self.close_frame = payload
                return None

    def join(self):
        """WebSocket handshake + HELLO (subscriber role); return the session id."""
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((
            'GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
            'Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n'
            'Sec-WebSocket-Protocol: wamp.2.json\r\n\r\n'
            % (self.url.path, self.url.hostname, self.url.port, key)).encode())
        while b'\r\n\r\n' not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError('router closed during the WebSocket handshake')
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(b'\r\n\r\n')
        if b' 101 ' not in head.split(b'\r\n')[0]:
            raise ConnectionError('WebSocket handshake refused: %r' % head[:80])
        self.send([1, self.realm, {'roles': {'subscriber': {}, 'publisher': {}}}])
        welcome = self.read_message()
        if not welcome or welcome[0] != 2:
            raise ConnectionError('join refused: %r' % (welcome,))
        return welcome[1]

    def subscribe(self, topic, request_id=1):
        """SUBSCRIBE and wait for SUBSCRIBED."""
        self.send([32, request_id, {}, topic])
        reply = self.read_message()
        if not reply or reply[0] != 33:
            raise ConnectionError('subscribe refused: %r' % (reply,))
        return reply[2]

    def close_code(self, timeout=10.0):
        """Read everything until the router's close frame; (code, reason) or None if cut."""
        self.sock.settimeout(timeout)
        try:
            while True:
                opcode, payload = self.read_frame()
                if opcode == 0x8:
                    code = struct.unpack('!H', payload[:2])[0] if len(payload) >= 2 else None
                    return code, payload[2:].decode('utf8', 'replace')
        except (ConnectionError, OSError):
            return None

    def is_cut(self):
        """True once the router closed or reset the TCP connection (reads nothing).

        Looks at the kernel's TCP state, so a client that "never reads" stays
        that way while it is watched.
        """
        info = self.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
        return info[0] != 1  # tcpi_state: 1 is ESTABLISHED

    def close(self):
        self.sock.close()


def _mask_fast(payload, key):
    # big frames: XOR with an int of the repeated key (no per-byte Python loop)
    n = len(payload)
    mask = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, 'big') ^ int.from_bytes(mask, 'big')).to_bytes(n, 'big')


def router_worker_pid(node):
    """Pid of the crossbar router worker of ``node`` (a child of the node's controller)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for pid in os.listdir('/proc'):
            if not pid.isdigit():
                continue
            try:
                with open('/proc/%s/stat' % pid) as fh:
                    ppid = int(fh.read().rsplit(')', 1)[1].split()[1])
                with open('/proc/%s/cmdline' % pid, 'rb') as fh:
                    cmdline = fh.read()
            except (OSError, ValueError, IndexError):
                continue
            if ppid == node.process.pid and b'RouterController' in cmdline:
                return int(pid)
        time.sleep(0.1)
    raise RuntimeError('no router worker under crossbar pid %s' % node.process.pid)


def rss_mb(pid):
    """Resident set size of ``pid`` in MB (VmRSS of /proc/<pid>/status)."""
    with open('/proc/%d/status' % pid) as fh:
        for line in fh:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError('no VmRSS for pid %d' % pid)


def start_node(cbdir, **overrides):
    raw = {
        'livehub.router_url': 'rs://127.0.0.1:%d' % free_port(),
        'livehub.browser_url': 'ws://127.0.0.1:%d/ws' % free_port(),
    }
    if os.environ.get('BENCH_MAX_QUEUED'):
        # e.g. 268435456: the bound out of the way, the ping timeout drops the client
        raw['livehub.max_queued_bytes'] = os.environ['BENCH_MAX_QUEUED']
    raw.update(overrides)
    return RouterProcess(parse_settings(raw), cbdir).start()


def publish(publisher, count, keepalive=None):
    """Publish ``count`` 1 KB events in batches (calls ``keepalive()`` every 2 s)."""
    last = time.monotonic()
    for start in range(0, count, 1000):
        for i in range(start, min(count, start + 1000)):
            publisher.publish(TOPIC, i, PAYLOAD)
        assert publisher.flush(60), 'publisher could not flush'
        if keepalive is not None and time.monotonic() - last >= 2:
            keepalive()
            last = time.monotonic()


def wait_cut(client, timeout):
    """Seconds until the router cut ``client`` (None if it did not within ``timeout``)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if client.is_cut():
            return time.monotonic() - start
        time.sleep(0.1)
    return None


def stuck_episodes(node, worker, publisher):
    base = rss_mb(worker)
    print('stuck episodes: %d x %d events of 1 KB; worker RSS at start %.1f MB'
          % (EPISODES, EVENTS, base))
    for episode in range(1, EPISODES + 1):
        client = RawWampClient(node.settings.browser_url, node.settings.realm, recv_buffer=4096)
        client.join()
        client.subscribe(TOPIC)
        start = time.monotonic()
        publish(publisher, EVENTS)
        peak = rss_mb(worker)
        cut = wait_cut(client, 60)
        client.close()
        time.sleep(3)  # let the worker settle (and any deferred trim run)
        print('  episode %d: published in %.1fs, peak %.1f MB, cut after %s, '
              'RSS now %.1f MB (%+.1f MB from start)' % (
                  episode, time.monotonic() - start, peak,
                  '%.1fs' % cut if cut is not None else 'NEVER', rss_mb(worker),
                  rss_mb(worker) - base))
    return rss_mb(worker) - base


def stuck_keepalive(node, worker, publisher):
    base = rss_mb(worker)
    client = RawWampClient(node.settings.browser_url, node.settings.realm, recv_buffer=4096)
    client.join()
    client.subscribe(TOPIC)
    start = time.monotonic()
    state = {'cut_at': None}

    def keepalive():
        if state['cut_at'] is not None:
            return
        if client.is_cut():
            state['cut_at'] = '%.1fs' % (time.monotonic() - start)
            return
        try:
            client.keepalive()
        except OSError:
            state['cut_at'] = '%.1fs' % (time.monotonic() - start)

    publish(publisher, KEEPALIVE_EVENTS, keepalive)
    if state['cut_at'] is None:
        keepalive()
    if state['cut_at'] is None and wait_cut(client, 30) is not None:
        state['cut_at'] = 'only after its keepalives stopped (%.1fs)' % (time.monotonic() - start)
    peak = rss_mb(worker)
    client.close()
    time.sleep(3)
    print('stuck keepalive client, %d events of 1 KB in %.1fs: cut at %s; worker peak %+.1f MB, '
          'now %+.1f MB from start (%.1f MB)' % (
              KEEPALIVE_EVENTS, time.monotonic() - start,
              state['cut_at'] if state['cut_at'] is not None else 'NEVER (still connected)',
              peak - base, rss_mb(worker) - base, rss_mb(worker)))
    return rss_mb(worker) - base


def main():
    results = {}
    for scenario in (stuck_episodes, stuck_keepalive):
        with tempfile.TemporaryDirectory() as cbdir:
            node = start_node(cbdir)
            try:
                worker = router_worker_pid(node)
                publisher = Publisher(node.settings)
                assert publisher.connect(10), 'publisher could not connect'
                publish(publisher, 2000)  # warm-up: first-use allocations are not a leak
                time.sleep(1)
                results[scenario.__name__] = scenario(node, worker, publisher)
                publisher.close(5)
            finally:
                node.stop()
    ok = results['stuck_episodes'] < 10 and results['stuck_keepalive'] < 20
    print('targets (episodes < 10 MB, keepalive < 20 MB): %s' % ('MET' if ok else 'MISSED'))
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
