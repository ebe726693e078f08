"""The "web process" that emits events, for livehub and for the Socket.IO peer.

Run as a script by either interpreter (ours, or the peer's own venv), so it
imports nothing from ``benchmarks``::

    python benchmarks/emitter.py '{"kind": "livehub", "router_url": "rs://...", ...}'

It connects, prints ``READY``, waits for ``GO`` on stdin, emits ``count``
events of ~100 bytes of JSON (flat out, or paced at ``rate`` per second with
sleeps, never spinning), waits until they left the process, and prints one
JSON line: start time, the cost of each emit call in the caller's thread
(microseconds), and the publisher's counters.

* ``livehub``: ``Publisher.from_settings`` with default settings, as a web
  process gets it; ``publish()`` then ``flush()``.
* ``socketio``: ``socketio.RedisManager(url, write_only=True).emit()``, the
  way Flask-SocketIO documents emitting from a process that is not the
  Socket.IO server; each emit is a Redis PUBLISH.
"""
import json
import sys
import time

PAYLOAD_BYTES = 100


def payload(i, now):
    """A 100-byte JSON object (at typical ``i``) stamped with the send time ``t``."""
    body = {'i': i, 't': now, 'pad': ''}
    body['pad'] = 'x' * max(0, PAYLOAD_BYTES - len(json.dumps(body)))
    return body


def livehub_emitter(config):
    from pyramid_livehub.publisher import Publisher
    publisher = Publisher.from_settings({'livehub.router_url': config['router_url']})
    if not publisher.connect(30):
        raise SystemExit('emitter: the livehub router at %s did not accept the publisher'
                         % config['router_url'])

    def emit(body):
        publisher.publish(config['topic'], body)

    def finish():
        flushed = publisher.flush(120)
        stats = publisher.stats.as_dict()
        publisher.close(5)
        return {'flushed': flushed, 'stats': stats}

    return emit, finish


def socketio_emitter(config):
    import socketio
    manager = socketio.RedisManager(config['redis_url'], channel=config['channel'],
                                    write_only=True)
    room = config['topic']

    def emit(body):
        manager.emit('ev', body, room=room, namespace='/')

    manager.emit('warmup', {}, room='nobody', namespace='/')  # opens the Redis connection
    return emit, lambda: {'flushed': True, 'stats': {}}


def main():
    config = json.loads(sys.argv[1])
    make = livehub_emitter if config['kind'] == 'livehub' else socketio_emitter
    emit, finish = make(config)
    print('READY', flush=True)
    if sys.stdin.readline().strip() != 'GO':
        return
    count, rate = config['count'], config.get('rate')
    clock = time.perf_counter_ns
    costs = []
    start_wall = time.time()
    start = time.perf_counter()
    for i in range(count):
        if rate:
            wait = start + i / rate - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        body = payload(i, time.time())
        t0 = clock()
        emit(body)
        costs.append((clock() - t0) / 1000)
    emitted = time.perf_counter() - start
    result = finish()
    result.update({'start': start_wall, 'emit_seconds': emitted, 'emit_us': costs})
    print(json.dumps(result), flush=True)


if __name__ == '__main__':
    main()
