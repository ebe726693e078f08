"""Helpers for the bridge tests: a router with bridges, a WAMP caller, broker clients."""
import re
import subprocess
import threading
import time

import paho.mqtt.client as paho
import pika

from pyramid_livehub._session import run_with_session
from pyramid_livehub.router.process import RouterProcess, free_port, port_open
from pyramid_livehub.settings import parse_settings

RABBITMQ_URL = 'amqp://guest:guest@127.0.0.1:5672/%2F'


def start_bridged_router(raw, cbdir, bridges, timeout=120):
    """Start a router from raw settings; wait until every bridge in ``bridges`` logged in."""
    settings = parse_settings(raw)
    node = RouterProcess(settings, cbdir)
    node.start(timeout=timeout)
    wait_for_log(node, ['livehub bridge %s: started' % name for name in bridges], timeout)
    return settings, node


def wait_for_log(node, needles, timeout=20):
    """Wait until each string in ``needles`` is in the node log; fail with the log tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = node.log_text()
        if all(needle in text for needle in needles):
            return text
        time.sleep(0.1)
    missing = [needle for needle in needles if needle not in node.log_text()]
    raise AssertionError('not in the router log after %ss: %r\n%s' % (
        timeout, missing, node.log_tail(60)))


def last_stats_line(node, bridge):
    """Counters from the newest ``livehub bridge <name>: received=...`` log line."""
    lines = re.findall(r'livehub bridge %s: (received=.*)' % bridge, node.log_text())
    if not lines:
        return None
    return dict(item.split('=', 1) for item in lines[-1].split())


def wamp_call(settings, procedure, *args, timeout=10.0):
    """Call a WAMP procedure as the backend identity; return its result."""
    try:
        return run_with_session(settings, lambda session: session.call(procedure, *args),
                                timeout=timeout, max_retries=3)
    except Exception as exc:  # noqa: BLE001 - reported with the procedure's name
        raise AssertionError('calling %s failed: %r' % (procedure, exc)) from exc


def amqp_channel():
    """A pika channel on the shared RabbitMQ."""
    return pika.BlockingConnection(pika.URLParameters(RABBITMQ_URL)).channel()


class AmqpConsumer:
    """A pika consumer with its own exclusive queue bound to ``binding`` on amq.topic."""

    def __init__(self, binding):
        self.channel = amqp_channel()
        self.queue = self.channel.queue_declare('', exclusive=True).method.queue
        self.channel.queue_bind(self.queue, 'amq.topic', routing_key=binding)

    def collect(self, count, timeout=5.0):
        """Up to ``count`` ``(routing_key, properties, body)``, waiting up to ``timeout``."""
        result = []
        deadline = time.monotonic() + timeout
        while len(result) < count and time.monotonic() < deadline:
            method, properties, body = self.channel.basic_get(self.queue, auto_ack=True)
            if method is None:
                self.channel.connection.process_data_events(time_limit=0.05)
                continue
            result.append((method.routing_key, properties, body))
        return result

    def close(self):
        """Close the connection (the queue goes with it)."""
        self.channel.connection.close()


def mqtt_client(port=1883, on_message=None, client_id=''):
    """A connected, looping paho client (MQTT 5)."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=paho.MQTTv5)
    if on_message is not None:
        client.on_message = on_message
    client.connect('127.0.0.1', port)
    client.loop_start()
    return client


def mqtt_subscribe(client, topics, timeout=10):
    """Subscribe ``client`` to ``topics`` (paho's list form) and wait for the SUBACK."""
    acked = set()
    done = threading.Condition()

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        with done:
            acked.add(mid)
            done.notify_all()

    client.on_subscribe = on_subscribe
    _, mid = client.subscribe(topics)
    with done:
        if not done.wait_for(lambda: mid in acked, timeout):
            raise AssertionError('no SUBACK for %r within %s s' % (topics, timeout))


class Mosquitto:
    """A private mosquitto on a free port (so that fault tests never stop the shared one).

    ``users`` (``{name: password}``) turns anonymous access off and writes a
    password file with ``mosquitto_passwd``.
    """

    def __init__(self, port=None, users=None):
        self.port = port or free_port()
        self.users = users
        self.process = None
        self.directory = None

    def _command(self):
        if not self.users:
            return ['mosquitto', '-p', str(self.port)]
        import os
        import tempfile
        self.directory = self.directory or tempfile.mkdtemp(prefix='livehub-mosquitto-')
        os.chmod(self.directory, 0o755)  # mosquitto may drop to its own user
        passwords = os.path.join(self.directory, 'passwords')
        open(passwords, 'w').close()
        for name, password in self.users.items():
            subprocess.run(['mosquitto_passwd', '-b', passwords, name, password], check=True,
                           capture_output=True, timeout=30)
        os.chmod(passwords, 0o644)
        conf = os.path.join(self.directory, 'mosquitto.conf')
        with open(conf, 'w') as fh:
            fh.write('listener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\n'
                     % (self.port, passwords))
        os.chmod(conf, 0o644)
        return ['mosquitto', '-c', conf]

    def start(self):
        """Start and wait until it listens."""
        self.process = subprocess.Popen(self._command(),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not port_open('127.0.0.1', self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError('mosquitto did not start on port %d' % self.port)
            time.sleep(0.02)
        return self

    def stop(self):
        """Stop it (SIGTERM) and wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
