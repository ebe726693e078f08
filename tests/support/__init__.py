"""Helpers the tests import (fixtures live in conftest.py files, never here).

* :mod:`.services` -- ``router_settings()`` for routers on free ports, ``require_service()``;
* :mod:`.app` -- ``make_testapp()``, the one test-app builder;
* :mod:`.bridges` -- broker clients, a private Mosquitto, router-log waits;
* :mod:`.tcpproxy` -- ``TcpProxy`` to cut and restore connections;
* :mod:`.browser` -- ``LiveApp`` (the app served over HTTP for Chromium);
* :mod:`.demo` -- the demo app and its settings.
"""
import os

#: The repository root (demo/, README.md, crossbar_config/ live there).
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
