"""The ``livehub`` command: run the bundled router, publish, tail.

::

    livehub router [--ini app.ini] [--cbdir DIR]   # crossbar with the app's settings
    livehub publish TOPIC [JSON] [--kwargs JSON]   # one event, then exit
    livehub tail TOPIC [--match prefix]            # print events as JSON lines
    livehub tail TOPIC --since OFFSET              # kept events after OFFSET, then live
    livehub config [--ini app.ini]                 # print the rendered crossbar config
    livehub list [--ini app.ini] [--running]       # consumers and producers (and counters)

Every command reads ``livehub.*`` settings from ``--ini`` (the app's own
.ini file, section ``app:main``; ``--ini app.ini#name`` picks another) or
uses the defaults, which match ``crossbar_config/config.json``.
"""
import argparse
import json
import os
import signal
import sys
import tempfile

from pyramid.exceptions import ConfigurationError

from pyramid_livehub import _codec as codec
from pyramid_livehub.router.watch import exec_watcher
from pyramid_livehub.settings import parse_settings


def load_settings(ini):
    """Parsed livehub settings from an .ini file (or the defaults).

    Reads ``[app:main]`` (or ``[app:NAME]`` for ``app.ini#NAME``) with
    configparser's interpolation, exactly as PasteDeploy (``pserve``) does:
    ``%(here)s`` works and a literal ``%`` is written ``%%``
    (``amqp://guest:guest@127.0.0.1:5672/%%2F``), so one .ini serves both.
    The app itself is not loaded: the router must not need the app's code.
    """
    if not ini:
        return parse_settings({})
    import configparser
    path, _, name = ini.partition('#')
    if not os.path.exists(path):
        raise SystemExit('livehub: no such file: %s' % path)
    here = os.path.dirname(os.path.abspath(path))
    parser = configparser.ConfigParser(defaults={'here': here, '__file__': os.path.abspath(path)})
    try:
        parser.read(path)
    except configparser.Error as exc:
        raise SystemExit('livehub: cannot read %s: %s' % (path, exc))
    section = 'app:%s' % (name or 'main')
    if not parser.has_section(section):
        raise SystemExit('livehub: %s has no [%s] section; the livehub.* settings go in the '
                         "app's section" % (path, section))
    raw = {}
    for key in parser.options(section):
        if key.startswith('livehub.'):
            raw[key] = _interpolated(parser, section, key, path)
    return parse_settings(raw)


def _interpolated(parser, section, key, path):
    """``parser.get()``, with a bad ``%`` reported as a ConfigurationError naming the key."""
    import configparser
    import re
    try:
        return parser.get(section, key)
    except configparser.InterpolationError as exc:
        value = parser.get(section, key, raw=True)
        fixed = re.sub(r'(?<!%)%(?![%(])', '%%', value)
        raise ConfigurationError(
            '%s in %s: %s. In an .ini file (read by pserve/PasteDeploy and livehub alike) a '
            'literal %% is written %%%%: %s = %s' % (
                key, path, str(exc).split('\n')[0], key, fixed))


def default_cbdir(ini):
    """The router directory used without ``--cbdir``: one per user and per app .ini.

    ``<tempdir>/livehub-router-<uid>-<ini name>-<hash of its absolute path>``
    (``...-<uid>-defaults`` without ``--ini``), so two apps' routers on one
    machine never share a config.json or a node log.
    """
    import hashlib
    base = 'livehub-router-%d' % os.getuid()
    if not ini:
        return os.path.join(tempfile.gettempdir(), base + '-defaults')
    path, _, name = ini.partition('#')
    absolute = os.path.abspath(path) + '#' + (name or 'main')
    digest = hashlib.sha1(absolute.encode('utf-8')).hexdigest()[:8]
    stem = os.path.splitext(os.path.basename(path))[0]
    return os.path.join(tempfile.gettempdir(), '%s-%s-%s' % (base, stem, digest))


def _with_listen(settings, url_key):
    """The public URL, and where the router listens for it when a listen setting says so."""
    from pyramid_livehub.router.node_config import LISTEN_KEYS
    listen = settings.get(LISTEN_KEYS[url_key])
    if not listen:
        return settings[url_key]
    return '%s (listening on %s)' % (settings[url_key], listen)


def cmd_router(args):
    """Run crossbar with the rendered config until Ctrl-C / SIGTERM."""
    from pyramid_livehub.router.process import RouterProcess
    settings = load_settings(args.ini)
    cbdir = args.cbdir or default_cbdir(args.ini)
    node = RouterProcess(settings, cbdir)
    stopping = []

    def stop(*_):
        # Only forward the signal: the main thread may be inside Popen.wait(),
        # whose lock a nested wait() in this handler would deadlock on.
        stopping.append(True)
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(signal.SIGTERM)

    # Before start(): a signal during start-up must stop crossbar too.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        node.start()
    except RuntimeError as exc:
        if stopping:
            raise SystemExit(0)
        raise SystemExit('livehub router: %s' % exc)
    print('livehub router: browsers at %s, backend at %s, realm %r (log: %s)' % (
        _with_listen(settings, 'browser_url'), _with_listen(settings, 'router_url'),
        settings['realm'], node.log_path), flush=True)
    # The rest only watches: hand over to the stdlib-only watcher (same PID,
    # crossbar stays our child, the directory lock stays held), ~26 MB less.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    if stopping:  # a signal came during start-up: crossbar has it already
        node.stop()
        raise SystemExit(0)
    os.set_inheritable(node._lock.fileno(), True)
    exec_watcher({'pid': node.process.pid, 'log_path': node.log_path, 'offset': node.log_offset,
                  'expected': node.expected_components(), 'endpoints': node.endpoints()})


def cmd_publish(args):
    """Publish one event and wait until the router has it."""
    from pyramid_livehub.publisher import Publisher
    settings = load_settings(args.ini)
    positional = []
    if args.payload is not None:
        positional = [_parse_json(args.payload, 'JSON')]
    keywords = _parse_json(args.kwargs, '--kwargs') if args.kwargs else {}
    if not isinstance(keywords, dict):
        raise SystemExit('livehub publish: --kwargs must be a JSON object, got %s' % args.kwargs)
    publisher = Publisher(settings)
    try:
        publisher.publish(args.topic, *positional, **keywords)
    except (ValueError, TypeError) as exc:
        raise SystemExit('livehub publish: %s' % exc)
    delivered = publisher.flush(args.timeout)
    # After a delivery the queue is empty: close() only confirms with one more
    # round trip.  After a timeout, do not wait again: our own message says it.
    publisher.close(args.timeout if delivered else 0)
    if not delivered:
        raise SystemExit('livehub publish: router at %s did not answer within %ss'
                         % (settings['router_url'], args.timeout))


def cmd_tail(args):
    """Print every event on TOPIC as a JSON line until Ctrl-C (or --count events)."""
    import queue
    from pyramid_livehub._uri import topic_error
    from pyramid_livehub.subscriber import Subscriber
    settings = load_settings(args.ini)
    reason = topic_error(args.topic, allow_empty_components=args.match == 'wildcard')
    if reason and not (args.match == 'prefix' and args.topic.endswith('.')):
        raise SystemExit('livehub tail: %r is not a valid WAMP topic: %s' % (args.topic, reason))
    try:
        subscriber = Subscriber(settings, args.topic, match=args.match, since=args.since)
    except ValueError as exc:
        raise SystemExit('livehub tail: %s' % exc)
    try:
        subscriber.start(timeout=args.timeout)
    except RuntimeError as exc:
        raise SystemExit('livehub tail: %s' % exc)
    print('livehub tail: subscribed to %r (%s)' % (args.topic, args.match), file=sys.stderr,
          flush=True)
    seen = 0
    try:
        while args.count is None or seen < args.count:
            try:
                event = subscriber.get(timeout=1)
            except queue.Empty:
                continue
            line = {'topic': event.topic, 'args': event.args, 'kwargs': event.kwargs}
            if event.position is not None:
                line['position'] = event.position
            if not event.recovered:
                line['recovered'] = False  # events before this one were missed
            print(codec.dumps(line), flush=True)
            seen += 1
    except KeyboardInterrupt:
        pass
    finally:
        subscriber.stop()


def cmd_config(args):
    """Print the crossbar node configuration the settings render to."""
    from pyramid_livehub.router.node_config import render_node_config
    json.dump(render_node_config(load_settings(args.ini)), sys.stdout, indent=2, sort_keys=True)
    print()


def cmd_list(args):
    """List the consumers and producers the router loads (--running: their live counters)."""
    from pyramid_livehub.plugins import describe_plugins, fetch_plugin_stats
    settings = load_settings(args.ini)
    for line in describe_plugins(settings):
        print(line)
    if args.running:
        try:
            stats = fetch_plugin_stats(settings, timeout=args.timeout)
        except RuntimeError as exc:
            raise SystemExit('livehub list: %s' % exc)
        print(json.dumps(stats, indent=2, sort_keys=True))


def _parse_json(text, what):
    try:
        return codec.loads(text)
    except ValueError as exc:
        raise SystemExit('livehub publish: %s is not valid JSON (%s): %r; quote it for the '
                         'shell, e.g. \'{"id": 1}\'' % (what, exc, text))


def build_parser():
    """The argparse parser of the ``livehub`` command."""
    parser = argparse.ArgumentParser(prog='livehub', description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)

    def add(name, func, help_text):
        command = sub.add_parser(name, help=help_text, description=func.__doc__)
        command.add_argument('--ini', help='the app .ini file with livehub.* settings')
        command.set_defaults(func=func)
        return command

    router = add('router', cmd_router, 'run the bundled Crossbar router')
    router.add_argument(
        '--cbdir', help='directory for the rendered config.json and the node log (node.log); '
        'default: one per app .ini under the temp dir, %s-<ini name>-<hash>; two '
        'routers never share one: the second refuses to start' % os.path.join(
            tempfile.gettempdir(), 'livehub-router-<uid>'))

    publish = add('publish', cmd_publish, 'publish one event')
    publish.add_argument('topic')
    publish.add_argument('payload', nargs='?', help='JSON value sent as the first argument')
    publish.add_argument('--kwargs', help='JSON object sent as keyword arguments')
    publish.add_argument('--timeout', type=float, default=10.0)

    tail = add('tail', cmd_tail, 'print events on a topic')
    tail.add_argument('topic')
    tail.add_argument('--match', choices=['exact', 'prefix', 'wildcard'], default='exact')
    tail.add_argument('--count', type=int, help='exit after this many events')
    tail.add_argument('--since', type=int, metavar='OFFSET',
                      help='first print the kept events after this offset (a topic in '
                           'livehub.history, --match exact), then follow live')
    tail.add_argument('--timeout', type=float, default=10.0)

    add('config', cmd_config, 'print the rendered crossbar config')

    listing = add('list', cmd_list, 'list the consumers and producers the router loads')
    listing.add_argument('--running', action='store_true',
                         help='also print the counters of the running router\'s plugins')
    listing.add_argument('--timeout', type=float, default=10.0)
    return parser


def main(argv=None):
    """Entry point of the ``livehub`` console script."""
    # bjdata (an optional autobahn serializer we never use) is built against
    # NumPy 1.x and prints a long traceback when autobahn imports it; keep
    # that noise out of a command-line tool's output.
    sys.modules.setdefault('bjdata', None)
    import logging
    logging.basicConfig(level=logging.WARNING, format='%(message)s')
    # Autobahn logs each failed reconnect attempt; our own warning says it once.
    logging.getLogger('autobahn').setLevel(logging.CRITICAL)
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except ConfigurationError as exc:
        raise SystemExit('livehub %s: %s' % (args.command, exc))
    return 0


if __name__ == '__main__':  # pragma: no cover
    main()
