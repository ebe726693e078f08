"""A private RabbitMQ node for fault tests, so that they never stop the shared broker.

Its own node name, AMQP and distribution ports (never RabbitMQ's defaults:
the shared node holds 5672 and 25672), Erlang cookie, data and log
directories under a temporary directory; no plugins.  ``restart()`` stops and
starts the whole node (the same data directory, like a broker reboot).
"""
import os
import pwd
import random
import shutil
import socket
import signal
import subprocess
import tempfile
import time
import uuid

from pyramid_livehub.router.process import port_open

RABBITMQ_BIN = '/usr/lib/rabbitmq/bin'


def stable_port(exclude=()):
    """A free port below Linux's ephemeral range (32768-60999).

    While the broker is down, a client retrying 127.0.0.1:<port> from an
    ephemeral port can be handed that very port and connect to itself (TCP
    simultaneous open), which then keeps the broker from listening again.
    """
    rng = random.Random()
    while True:
        port = rng.randint(20000, 32000)
        if port in exclude or port in (25672, 15672, 61613):
            continue
        with socket.socket() as sock:
            try:
                sock.bind(('127.0.0.1', port))
            except OSError:
                continue
        return port


class PrivateRabbitMQ:
    """``start()``, ``restart()``, ``stop()``: a RabbitMQ node of the test's own."""

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix='livehub-rabbitmq-')
        self.node = 'lh%s@localhost' % uuid.uuid4().hex[:10]
        self.port = stable_port()
        self.dist_port = stable_port(exclude=(self.port,))
        self.url = 'amqp://guest:guest@127.0.0.1:%d/%%2F' % self.port
        self.process = None
        with open(os.path.join(self.base, 'enabled_plugins'), 'w') as fh:
            fh.write('[].\n')
        with open(os.path.join(self.base, 'rabbitmq.conf'), 'w') as fh:
            fh.write('listeners.tcp.local = 127.0.0.1:%d\n' % self.port)
        cookie = os.path.join(self.base, '.erlang.cookie')
        with open(cookie, 'w') as fh:
            fh.write(uuid.uuid4().hex)
        os.chmod(cookie, 0o400)
        # The server scripts run the node as the rabbitmq user when there is one.
        try:
            owner = pwd.getpwnam('rabbitmq')
        except KeyError:
            owner = None
        if owner is not None and os.geteuid() == 0:
            for name in (self.base, cookie, *(os.path.join(self.base, f) for f in (
                    'enabled_plugins', 'rabbitmq.conf'))):
                os.chown(name, owner.pw_uid, owner.pw_gid)
        self.env = dict(
            os.environ, HOME=self.base, RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_PORT=str(self.port), RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=os.path.join(self.base, 'mnesia'),
            RABBITMQ_LOG_BASE=os.path.join(self.base, 'log'),
            RABBITMQ_ENABLED_PLUGINS_FILE=os.path.join(self.base, 'enabled_plugins'),
            RABBITMQ_CONFIG_FILE=os.path.join(self.base, 'rabbitmq'),
            RABBITMQ_ADVANCED_CONFIG_FILE=os.path.join(self.base, 'advanced.config'),
            RABBITMQ_PID_FILE=os.path.join(self.base, 'pid'))

    def ctl(self, *args, timeout=60):
        """Run ``rabbitmqctl -n <node> args``; the CompletedProcess."""
        return subprocess.run([os.path.join(RABBITMQ_BIN, 'rabbitmqctl'), '-n', self.node]
                              + list(args), env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def start(self, timeout=90):
        """Start the node (foreground, in a process group of its own) and wait until it serves."""
        self.process = subprocess.Popen(
            [os.path.join(RABBITMQ_BIN, 'rabbitmq-server')], env=self.env,
            stdout=open(os.path.join(self.base, 'server.out'), 'a'), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        # await_startup fails at once until the node is registered: ask again.
        while True:
            done = self.ctl('await_startup', '--timeout', '10', timeout=30)
            if done.returncode == 0 and port_open('127.0.0.1', self.port):
                return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('private RabbitMQ %s did not start on port %d: %s\n%s' % (
                    self.node, self.port, done.stderr[-500:], self.output_tail()))
            time.sleep(0.5)

    def stop(self, timeout=60):
        """Stop the node; kill its process group (only ours) if it does not stop."""
        if self.process is None or self.process.poll() is not None:
            return
        self.ctl('stop', timeout=timeout)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def restart(self):
        """Stop and start the whole node (clients see their connections go and the port close)."""
        self.stop()
        deadline = time.monotonic() + 30
        while port_open('127.0.0.1', self.port):
            assert time.monotonic() < deadline, 'port %d still open after stop' % self.port
            time.sleep(0.1)
        return self.start()

    def output_tail(self, chars=2000):
        """The end of the node's console output."""
        try:
            with open(os.path.join(self.base, 'server.out')) as fh:
                return fh.read()[-chars:]
        except OSError:
            return ''

    def cleanup(self):
        """Stop and remove the data directory."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
