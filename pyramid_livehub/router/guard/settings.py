"""Settings of the router's slow-client guard (:mod:`pyramid_livehub.router.guard`)."""
from pyramid_livehub._parse import Setting, as_float, as_int

SETTINGS: list[Setting] = [
    Setting('max_queued_bytes', 4 * 1024 * 1024, as_int(minimum=64 * 1024),
            'Most bytes the router holds queued toward one browser connection; past it the '
            'connection is closed with code 4008, reason "client too slow", and counted.'),
    Setting('ping_interval', 10.0, as_float(minimum=0.1),
            'Seconds between the router\'s WebSocket pings to a browser.'),
    Setting('ping_timeout', 5.0, as_float(minimum=0.1),
            'Seconds a browser has to answer a ping before it is dropped (only pongs count, '
            'not other traffic).'),
]
