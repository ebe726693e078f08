"""Leaner crossbar processes: this directory goes first on the router's ``PYTHONPATH``.

Its :mod:`sitecustomize` (imported by Python at start-up in the crossbar
controller and in every worker it spawns) keeps crossbar's blockchain and
database subsystems out of memory; see that module.  Only
:class:`~pyramid_livehub.router.process.RouterProcess` puts it on the path.
"""
import os

#: Directory to put first on the crossbar node's PYTHONPATH.
SITE_DIR = os.path.dirname(os.path.abspath(__file__))

#: Environment variable: ``0`` turns the stubs off (crossbar imports everything).
ENV = 'LIVEHUB_ROUTER_SLIM'
