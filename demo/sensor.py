"""A pretend temperature sensor on a ZeroMQ PUB socket: the demo's brokerless bridge.

The socket binds the demo's ``livehub.zmq_subscribe_endpoints`` (first one)
and sends ``[b'demo.sensors.temperature', b'{"celsius": 21.4}']`` every
second; the router's zmq bridge connects its SUB socket there and publishes
each reading to the WAMP topic ``demo.sensors.temperature``.  No broker sits
in between: ZeroMQ sockets talk to each other directly.

``make demo`` starts it; next to ``pserve`` run it apart::

    PYTHONPATH=. python -m demo.sensor demo/development.ini
"""
import json
import math
import random
import sys
import threading
import time

import zmq

#: The ZeroMQ topic frame, which the bridge maps to the same WAMP topic.
TOPIC = 'demo.sensors.temperature'


class ZmqSensor:
    """Publishes a slowly drifting temperature on a PUB socket every ``interval`` seconds."""

    def __init__(self, endpoint, topic=TOPIC, interval=1.0):
        self.endpoint = endpoint
        self.topic = topic
        self.interval = interval
        self.stopping = threading.Event()
        self.thread = None
        self.started = time.monotonic()

    def reading(self):
        """The current reading: 21 degrees, a one-minute wave and a little noise."""
        elapsed = time.monotonic() - self.started
        celsius = 21 + 1.5 * math.sin(elapsed * 2 * math.pi / 60) + random.uniform(-0.2, 0.2)
        return {'celsius': round(celsius, 1)}

    def start(self):
        """Bind (here, so that a busy port fails at once) and publish in a thread."""
        socket = zmq.Context.instance().socket(zmq.PUB)
        socket.setsockopt(zmq.LINGER, 0)
        try:
            socket.bind(self.endpoint)
        except zmq.ZMQError as exc:
            socket.close()
            raise RuntimeError('the demo sensor cannot bind %s (%s); change '
                               'livehub.zmq_subscribe_endpoints' % (self.endpoint, exc)) from None
        # From here on only the thread uses the socket (ZeroMQ sockets are not thread-safe).
        self.thread = threading.Thread(target=self._run, args=(socket,), daemon=True,
                                       name='demo-zmq-sensor')
        self.thread.start()
        return self

    def _run(self, socket):
        try:
            while not self.stopping.wait(self.interval):
                body = json.dumps(self.reading()).encode('utf-8')
                socket.send_multipart([self.topic.encode('utf-8'), body])
        finally:
            socket.close()

    def stop(self):
        """Stop publishing and close the socket."""
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(5)


def sensor_for(settings):
    """The demo sensor for parsed ``livehub.*`` settings, or None when the zmq bridge is off."""
    endpoints = settings.get('zmq_subscribe_endpoints') or []
    if 'zmq' not in settings.get('bridges', []) or not endpoints:
        return None
    return ZmqSensor(endpoints[0])


def main(argv=None):
    """Run the sensor of an .ini file's settings until Ctrl-C."""
    from pyramid.paster import get_appsettings

    from pyramid_livehub.settings import parse_settings
    argv = sys.argv[1:] if argv is None else argv
    sensor = sensor_for(parse_settings(get_appsettings(argv[0] if argv else 'demo/development.ini')))
    if sensor is None:
        print('demo sensor: the .ini does not enable the zmq bridge (livehub.bridges = zmq)',
              file=sys.stderr)
        return 2
    sensor.start()
    print('demo sensor: publishing %s on %s (Ctrl-C stops)' % (sensor.topic, sensor.endpoint))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        sensor.stop()
    return 0


if __name__ == '__main__':
    sys.exit(main())
