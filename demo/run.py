"""``make demo``: start the bundled router and the demo app with one command.

    python -m demo.run [path/to/app.ini]      (default: demo/development.ini)

Both read the same .ini file: the router is rendered from its ``livehub.*``
settings (like ``livehub router --ini``), the app is loaded from
``[app:main]`` and served by waitress on ``[server:main]``'s ``listen``
address.  With the zmq bridge on (the default .ini), it also runs the
pretend sensor of ``demo/sensor.py``: a live bridge with no broker to install.
Ctrl-C (or SIGTERM) stops them all.
"""
import configparser
import os
import shutil
import signal
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = os.path.dirname(HERE)
DEFAULT_INI = os.path.join(HERE, 'development.ini')


def server_address(ini):
    """``(host, port)`` from ``[server:main]`` (``listen = host:port`` or ``host``/``port``)."""
    parser = configparser.ConfigParser(defaults={'here': os.path.dirname(os.path.abspath(ini))})
    parser.read(ini)
    section = parser['server:main'] if parser.has_section('server:main') else {}
    listen = section.get('listen')
    if listen:
        host, _, port = listen.rpartition(':')
        return host or '127.0.0.1', int(port)
    return section.get('host', '127.0.0.1'), int(section.get('port', 6543))


def make_importable():
    """Let the app and the router's container worker import ``demo`` (not an installed package)."""
    if PROJECT not in sys.path:
        sys.path.insert(0, PROJECT)
    paths = [PROJECT] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
    os.environ['PYTHONPATH'] = os.pathsep.join(dict.fromkeys(paths))


def main(argv=None):
    """Run router + app until Ctrl-C; returns the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    ini = os.path.abspath(argv[0] if argv else DEFAULT_INI)
    if not os.path.exists(ini):
        print('demo: no such file: %s' % ini, file=sys.stderr)
        return 2
    make_importable()

    # First: it keeps Pyramid's pkg_resources warning out of the output.
    from pyramid_livehub import get_publisher
    from pyramid.paster import get_app, get_appsettings, setup_logging  # noqa: I100
    from waitress import create_server

    from demo.viewers import IViewerCounter
    from pyramid_livehub.router.process import RouterProcess
    from pyramid_livehub.settings import parse_settings

    from demo.sensor import sensor_for

    setup_logging(ini)
    settings = parse_settings(get_appsettings(ini))
    host, port = server_address(ini)
    cbdir = tempfile.mkdtemp(prefix='livehub-demo-router-')
    router = RouterProcess(settings, cbdir)
    sensor = sensor_for(settings)

    def stop(*_):
        raise KeyboardInterrupt

    # Also SIGINT: a shell that started us in the background ignores it by default.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        print('demo: starting the router (browsers: %s, log: %s) ...'
              % (settings['browser_url'], router.log_path), flush=True)
        try:
            router.start(timeout=60, wait_for_log='NODE_BOOT_COMPLETE')
        except RuntimeError as exc:
            print('demo: the router did not start: %s' % exc, file=sys.stderr)
            return 1
        if sensor is not None:
            try:
                sensor.start()
            except RuntimeError as exc:
                print('demo: %s' % exc, file=sys.stderr)
                return 1
            print('demo: sensor publishing %s on ZeroMQ %s (no broker: the zmq bridge '
                  'subscribes to it)' % (sensor.topic, sensor.endpoint), flush=True)
        app = get_app(ini)
        try:
            server = create_server(app, host=host, port=port)
        except OSError as exc:
            print('demo: cannot listen on %s:%s (%s); change [server:main] listen in %s'
                  % (host, port, exc, ini), file=sys.stderr)
            return 1
        print('\n  pyramid_livehub demo: open http://%s:%s/  (Ctrl-C stops the app and the router)\n'
              % (host, port), flush=True)
        try:
            server.run()
        finally:
            server.close()
            counter = app.registry.queryUtility(IViewerCounter)
            if counter is not None:
                counter.stop()
            get_publisher(app.registry).close(2)
    except KeyboardInterrupt:
        pass
    finally:
        if sensor is not None:
            sensor.stop()
        print('demo: stopping the router ...', flush=True)
        router.stop()
        shutil.rmtree(cbdir, ignore_errors=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
