"""Leaner crossbar processes: this directory goes first on the router's ``PYTHONPATH``.

Its :mod:`sitecustomize` (imported by Python at start-up in the crossbar
controller and in every worker it spawns) keeps crossbar's blockchain and
database subsystems out of memory; see that module.  Only
:class:`~pyramid_livehub.router.process.RouterProcess` puts it on the path.
"""
import os
import sys

#: Directory to put first on the crossbar node's PYTHONPATH.
SITE_DIR = os.path.dirname(os.path.abspath(__file__))

#: Environment variable: ``0`` turns the stubs off (crossbar imports everything).
ENV = 'LIVEHUB_ROUTER_SLIM'


def release_stubs():
    """Let this process import the real packages the stubs stood for; return their names.

    The plugin host calls it in the container worker before it imports your
    consumers and producers, so that ``import numpy`` there is numpy.  A
    process without stubs (not started by livehub, or with
    ``LIVEHUB_ROUTER_SLIM=0``) releases nothing.
    """
    released = []
    for finder in list(sys.meta_path):
        if getattr(finder, 'livehub_stubs', False):
            released.extend(finder.release())
    return released
