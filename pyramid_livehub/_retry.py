"""The one reconnect policy of livehub: how long to wait before the next attempt.

Every reconnecting client of livehub follows it: the publisher and the
subscriber (their Autobahn ``Component``), the AMQP and STOMP bridges (their
broker threads), and livehub.js in the browser.  The MQTT bridge gets the
nearest equivalent paho offers (see :meth:`RetryPolicy.paho_delays`); the
ZeroMQ bridge's SUB socket is reconnected by libzmq at its own interval
(100 ms, no growth), which these settings do not change.

The formula, for the ``n``-th retry in a row (``n`` = 0, 1, 2, ...; it starts
again at 0 once a connection succeeds)::

    delay_n = min(max_retry_delay, initial_retry_delay * retry_delay_growth ** n)
              * (1 + retry_delay_jitter * random())

with ``random()`` uniform in [0, 1).  The very first connection attempt is
made at once; every attempt after a failed or lost connection waits
``delay_n``.  With the defaults (``initial_retry_delay = 0.5``,
``max_retry_delay = 5.0``, ``retry_delay_growth = 1.5``,
``retry_delay_jitter = 0.1``, ``max_retries = -1``) the waits are
0.5, 0.75, 1.125, 1.6875, 2.53125, 3.796875, 5.0, 5.0, ... seconds, each
stretched by up to 10 %.  ``max_retries`` retries in a row are made before
giving up (-1: never give up; router components such as the bridges never
give up).
"""
import random

__all__ = ['RetryPolicy']


class RetryPolicy:
    """Growing, capped, jittered reconnect delays (the formula in the module docstring).

    :meth:`delay` is the pure formula; :meth:`next` and :meth:`reset` keep
    the count of retries in a row for a reconnect loop::

        policy = RetryPolicy.from_settings(settings)
        while True:
            try:
                connect()
            except OSError:
                time.sleep(policy.next())
                continue
            policy.reset()
    """

    def __init__(self, initial_retry_delay=0.5, max_retry_delay=5.0, retry_delay_growth=1.5,
                 retry_delay_jitter=0.1, max_retries=-1, rand=random.random):
        self.initial_retry_delay = initial_retry_delay
        self.max_retry_delay = max_retry_delay
        self.retry_delay_growth = retry_delay_growth
        self.retry_delay_jitter = retry_delay_jitter
        self.max_retries = max_retries
        self._random = rand
        #: retries made in a row since the last successful connection
        self.retries = 0

    @classmethod
    def from_settings(cls, settings, max_retries=None):
        """The policy of the ``livehub.*retry*`` settings (parsed, without the prefix).

        ``max_retries`` replaces the setting (router components pass -1).
        """
        return cls(settings['initial_retry_delay'], settings['max_retry_delay'],
                   settings['retry_delay_growth'], settings['retry_delay_jitter'],
                   settings['max_retries'] if max_retries is None else max_retries)

    def delay(self, n):
        """Seconds to wait before retry number ``n`` (0-based) in a row."""
        base = min(self.max_retry_delay,
                   self.initial_retry_delay * self.retry_delay_growth ** n)
        return base * (1 + self.retry_delay_jitter * self._random())

    def next(self):
        """Seconds to wait before the next retry; counts it."""
        delay = self.delay(self.retries)
        self.retries += 1
        return delay

    def reset(self):
        """A connection succeeded: the next retry waits ``delay(0)`` again."""
        self.retries = 0

    @property
    def exhausted(self):
        """True when ``max_retries`` retries in a row were made (never for -1)."""
        return self.max_retries != -1 and self.retries >= self.max_retries

    def paho_delays(self):
        """``reconnect_delay_set()`` arguments for paho-mqtt: the nearest equivalent.

        paho waits ``min_delay`` after a lost connection and doubles the wait
        up to ``max_delay``, with no jitter and no growth setting: so the MQTT
        bridge starts at ``initial_retry_delay`` and stops at
        ``max_retry_delay`` like everything else, but grows by 2 and does
        not jitter.
        """
        return {'min_delay': self.initial_retry_delay, 'max_delay': self.max_retry_delay}

    def install(self, component):
        """Make an Autobahn ``Component`` wait as this policy says between attempts.

        Autobahn's own delays grow differently (a normal-distributed jitter
        that compounds, and no reset after a session joins without a
        ``main``), so each transport's ``next_delay`` is replaced; call
        :meth:`joined` from the component's ``join`` handler.  ``max_retries``
        stays Autobahn's (the transport option), counted from the last join.
        """
        for transport in component._transports:
            transport.next_delay = _TransportDelays(self, transport)

    @staticmethod
    def joined(component):
        """A session joined: the count of retries in a row starts again."""
        for transport in component._transports:
            # One attempt (this successful one): Autobahn allows
            # ``max_retries`` more before giving up.
            transport.connect_attempts = 1


class _TransportDelays:
    """An Autobahn transport's ``next_delay`` that follows a :class:`RetryPolicy`."""

    def __init__(self, policy, transport):
        self.policy = policy
        self.transport = transport

    def __call__(self):
        attempts = self.transport.connect_attempts
        if attempts == 0:
            return 0  # never tried yet: at once
        return self.policy.delay(attempts - 1)
