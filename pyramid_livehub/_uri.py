"""WAMP topic URI validation, shared by the publisher, the CLI and the bridges.

We follow WAMP's *loose* URI rule (what Crossbar checks by default): dot
separated, non-empty components without whitespace or ``#``.  Topics under
``wamp.`` are reserved for the router's meta API.
"""
import re
from typing import Any

_COMPONENT = re.compile(r'[^\s.#]+\Z')  # \Z: $ would accept a trailing newline
#: A whole valid topic: components as above, joined by single dots.
_VALID_TOPIC = re.compile(r'[^\s.#]+(?:\.[^\s.#]+)*\Z')


def check_topic(topic: Any) -> str:
    """Return ``topic`` if it is a publishable WAMP URI, else raise ``ValueError``.

    The message names the fault so that the caller can fix it:
    ``'a..b' is not a valid WAMP topic URI: empty component at position 2``.
    """
    if not isinstance(topic, str):
        raise ValueError('%r is not a valid WAMP topic URI: expected a str, got %s'
                         % (topic, type(topic).__name__))
    if _VALID_TOPIC.match(topic) and not topic.startswith('wamp.'):
        return topic  # one C call on the publish path; topic_error() explains a bad one
    reason = topic_error(topic)
    if reason:
        raise ValueError('%r is not a valid WAMP topic URI: %s' % (topic, reason))
    return topic


def topic_error(topic: str, allow_empty_components: bool = False) -> str | None:
    """Why ``topic`` is not a valid WAMP URI, or ``None`` if it is.

    ``allow_empty_components`` accepts ``a..c`` as used by WAMP wildcard
    subscriptions.
    """
    if not topic:
        return 'it is empty'
    if topic.startswith('wamp.'):
        return 'the "wamp." prefix is reserved for the router'
    for position, component in enumerate(topic.split('.'), 1):
        if component == '':
            if allow_empty_components:
                continue
            return 'empty component at position %d (use "a.b.c")' % position
        if not _COMPONENT.match(component):
            return 'component %r has whitespace or "#" in it' % component
    return None
