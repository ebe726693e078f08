"""The one test-app builder: a Configurator with pyramid_livehub, wrapped in webtest.

Tests reach it through the ``testapp`` and ``make_testapp`` fixtures
(tests/conftest.py); helpers that are not fixtures (``LiveApp``, module-level
app factories) call :func:`make_testapp` directly.
"""
import webtest
from pyramid.config import Configurator


def make_testapp(settings=None, include='pyramid_livehub', configure=None, config=None):
    """A ``webtest.TestApp`` around a Configurator built from ``settings``.

    ``include`` is one include name or a list of them, included in that
    order; ``configure(config)`` adds routes, views, policies after the
    includes.  ``config`` passes a Configurator of the test's own (the
    ``config`` fixture) instead of ``settings``.  The Pyramid router is
    ``testapp.app`` and its registry ``testapp.app.registry``.
    """
    if config is None:
        config = Configurator(settings=dict(settings or {}))
    elif settings is not None:
        raise TypeError('make_testapp: give settings or config, not both')
    for name in [include] if isinstance(include, str) else include or ():
        config.include(name)
    if configure is not None:
        configure(config)
    return webtest.TestApp(config.make_wsgi_app())
