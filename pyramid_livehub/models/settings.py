"""Settings of the model events and of the consumer/producer plugins.

Gathered into the one settings table by :mod:`pyramid_livehub.settings`.
"""
import re

from pyramid_livehub.settings import Setting, as_bool, as_int, as_list
from pyramid_livehub.uri import topic_error

_CLASS_SPEC = re.compile(r'^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$')


def as_class_specs(value):
    """Whitespace separated ``package.module:Class`` names."""
    specs = as_list(value)
    for spec in specs:
        if not _CLASS_SPEC.match(spec):
            raise ValueError('expected "package.module:Class" names separated by spaces or '
                             'new lines; %r is not one' % spec)
    return specs


def as_topic_prefix(value):
    """A WAMP URI (``app``, ``shop.live``) that model topics start with."""
    text = str(value).strip()
    reason = topic_error(text)
    if reason:
        raise ValueError('expected a WAMP URI such as "app" (%s)' % reason)
    return text


SETTINGS = [
    Setting('model_topic_prefix', 'app', as_topic_prefix,
            'Start of the default topic of a live model: `Order` publishes '
            '`app.order.created`, `app.order.updated`, `app.order.deleted`.'),
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
