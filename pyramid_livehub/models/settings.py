"""``livehub.*`` settings of the live models (rows of the one settings table).

The consumer/producer keys are in :mod:`pyramid_livehub.plugins.settings`.
"""
from typing import Any

from pyramid_livehub._parse import Setting
from pyramid_livehub._uri import topic_error


def as_topic_prefix(value: Any) -> str:
    """A WAMP URI (``app``, ``shop.live``) that model topics start with."""
    text = str(value).strip()
    reason = topic_error(text)
    if reason:
        raise ValueError('expected a WAMP URI such as "app" (%s)' % reason)
    return text


SETTINGS: list[Setting] = [
    Setting('model_topic_prefix', 'app', as_topic_prefix,
            'Start of the default topic of a live model: `Order` publishes '
            '`app.order.created`, `app.order.updated`, `app.order.deleted`.'),
]
