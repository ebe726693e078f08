"""Consumers and producers inside the router.

* :mod:`~pyramid_livehub.router.plugins.runners` (no Twisted): the node-config
  provider :func:`plugin_components` and the thread runners of each plugin.
* :mod:`~pyramid_livehub.router.plugins.host` (Twisted, container worker only):
  the WAMP component that hosts the runners and serves their counters.
"""
from pyramid_livehub.router.plugins.runners import plugin_components

__all__ = ['plugin_components']
