"""The broker bridges: name -> class table and the router component provider.

``livehub.bridges = amqp mqtt`` enables bridges by name; each runs as a
component in the bundled Crossbar node's container worker (see
:func:`bridge_components`).  Classes are imported lazily, so a bridge's client
library is only loaded when that bridge is enabled.
"""
import difflib
import importlib

#: Bridge name -> ``'module:Class'``.
BRIDGES = {
    'amqp': 'pyramid_livehub.router.bridges.amqp:AmqpBridge',
    'mqtt': 'pyramid_livehub.router.bridges.mqtt:MqttBridge',
    'zmq': 'pyramid_livehub.router.bridges.zmq:ZmqBridge',
    'stomp': 'pyramid_livehub.router.bridges.stomp:StompBridge',
}


class NoSuchBridge(LookupError):
    """An unknown bridge name; the message suggests the closest one."""


def check_bridge_name(name):
    """Return ``name`` if it is a known bridge, else raise :class:`NoSuchBridge`."""
    if name in BRIDGES:
        return name
    close = difflib.get_close_matches(name, BRIDGES, n=1)
    hint = ' Did you mean %r?' % close[0] if close else ' Known bridges: %s.' % ', '.join(BRIDGES)
    raise NoSuchBridge('No such bridge: %r.%s' % (name, hint))


def bridge_class_path(name):
    """Dotted ``pkg.mod.Class`` path of bridge ``name`` (what Crossbar's config wants)."""
    return BRIDGES[check_bridge_name(name)].replace(':', '.')


def bridge_class(name):
    """The bridge class for ``name``, imported now."""
    module_name, class_name = BRIDGES[check_bridge_name(name)].split(':')
    return getattr(importlib.import_module(module_name), class_name)


def bridge_components(settings):
    """Router components for the bridges enabled in ``livehub.bridges`` (provider hook)."""
    return [
        {'classname': bridge_class_path(name), 'id': 'bridge-%s' % name, 'extra': {'bridge': name}}
        for name in settings.get('bridges', [])
    ]
