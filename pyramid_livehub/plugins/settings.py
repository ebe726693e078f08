"""``livehub.*`` settings of the consumer/producer plugins (rows of the one settings table).

Also says which keys the router's plugin host gets (:data:`PLUGIN_HOST_KEYS`).
"""
import re
from typing import Any

from pyramid_livehub._parse import Setting, as_bool, as_int, as_list

_CLASS_SPEC = re.compile(r'^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$')


def as_class_specs(value: Any) -> list[str]:
    """``package.module:Class`` names separated by spaces, new lines or commas."""
    specs = as_list(value)
    for spec in specs:
        if not _CLASS_SPEC.match(spec):
            raise ValueError('expected "package.module:Class" names separated by spaces or '
                             'new lines; %r is not one' % spec)
    return specs


SETTINGS: list[Setting] = [
    Setting('consumers', '', as_class_specs,
            'Consumer classes (`package.module:Class`, space separated) that the router runs '
            'besides those found through the `pyramid_livehub.consumer` entry point.'),
    Setting('producers', '', as_class_specs,
            'Producer classes (`package.module:Class`, space separated) that the router runs '
            'besides those found through the `pyramid_livehub.producer` entry point.'),
    Setting('plugin_entry_points', True, as_bool,
            'Load consumers and producers from the `pyramid_livehub.consumer` and '
            '`pyramid_livehub.producer` entry points of installed packages. Set false to run '
            'only those named in `livehub.consumers` and `livehub.producers`.'),
    Setting('consumer_backlog', 1000, as_int(minimum=1),
            'Messages a consumer may have waiting; when it is full the oldest waiting message '
            'is dropped and counted. A consumer class may set its own `backlog`.'),
]

#: What the plugin host (and so every plugin's ``self.settings``) sees besides the
#: join keys: its own rows and the app-wide, non-secret ones plugins may use.
PLUGIN_HOST_KEYS = [s.name for s in SETTINGS] + [
    'router_url', 'browser_url', 'serializer', 'model_topic_prefix']
