"""One minimal WebSocket subscriber client for every server in the comparison.

The same code (the ``websockets`` library, no compression, ``json.loads`` per
message) subscribes to livehub over WAMP (``wamp.2.json``, anonymous, like a
browser) and to the Socket.IO peer over Engine.IO 4 (join a room with an
acknowledged ``subscribe`` event), so client cost is equal on both sides::

    python -m benchmarks.ws_clients '{"kind": "wamp", "url": ..., "topic": ...,
                                      "connections": 200, "expect": 100}'

Prints ``READY`` when every connection is subscribed, then one JSON line
when each connection got ``expect`` events or nothing arrived for ``idle``
seconds: events received (total and the fewest on one connection), the
first and last receive times and each event's latency (receive time minus
the ``t`` the emitter stamped).
"""
import asyncio
import json
import sys
import time

import websockets

WAMP_SUBSCRIBE, WAMP_SUBSCRIBED, WAMP_EVENT = 32, 33, 36


class Tally:
    """What all connections of this process received."""

    def __init__(self, connections, expect):
        self.counts = [0] * connections
        self.expect = expect
        self.latencies = []
        self.first = self.last = None
        self.done = asyncio.Event()
        self.complete = 0

    def got(self, index, body):
        now = time.time()
        if self.first is None:
            self.first = now
        self.last = now
        self.latencies.append(now - body['t'])
        self.counts[index] += 1
        if self.counts[index] == self.expect:
            self.complete += 1
            if self.complete == len(self.counts):
                self.done.set()


async def wamp_client(config, index, tally, ready):
    async with websockets.connect(config['url'], subprotocols=['wamp.2.json'],
                                  compression=None, max_size=None) as ws:
        await ws.send(json.dumps([1, config['realm'], {'roles': {'subscriber': {}}}]))
        welcome = json.loads(await ws.recv())
        if welcome[0] != 2:
            raise RuntimeError('WAMP join refused: %r' % (welcome,))
        await ws.send(json.dumps([WAMP_SUBSCRIBE, 1, {}, config['topic']]))
        async for message in ws:
            frame = json.loads(message)
            if frame[0] == WAMP_EVENT:
                tally.got(index, frame[4][0])
            elif frame[0] == WAMP_SUBSCRIBED:
                ready.set()
            elif frame[0] not in (WAMP_EVENT, WAMP_SUBSCRIBED):
                raise RuntimeError('unexpected WAMP message %r' % (frame,))


async def socketio_client(config, index, tally, ready):
    url = config['url'].rstrip('/') + '/socket.io/?EIO=4&transport=websocket'
    async with websockets.connect(url, compression=None, max_size=None) as ws:
        opened = await ws.recv()
        if not opened.startswith('0'):
            raise RuntimeError('Engine.IO open expected, got %r' % opened)
        await ws.send('40')  # Socket.IO CONNECT to namespace "/"
        async for message in ws:
            if message.startswith('42'):
                name, body = json.loads(message[2:])
                if name == 'ev':
                    tally.got(index, body)
            elif message == '2':  # Engine.IO ping: the client must answer
                await ws.send('3')
            elif message.startswith('40'):  # connected: join the room, with an ack
                await ws.send('421' + json.dumps(['subscribe', config['topic']]))
            elif message.startswith('431'):
                ready.set()


async def run(config):
    connections, expect = config['connections'], config['expect']
    tally = Tally(connections, expect)
    client = wamp_client if config['kind'] == 'wamp' else socketio_client
    tasks = []
    # Connect in small batches: a thundering herd of handshakes measures the
    # server's accept queue, not what this benchmark is about.
    for first in range(0, connections, 20):
        batch = range(first, min(first + 20, connections))
        readies = []
        for index in batch:
            ready = asyncio.Event()
            readies.append(ready)
            tasks.append(asyncio.create_task(client(config, index, tally, ready)))
        deadline = time.monotonic() + 30
        while not all(r.is_set() for r in readies):
            for task in tasks:
                if task.done() and task.exception():
                    raise task.exception()
            if time.monotonic() > deadline:
                raise RuntimeError('subscribers not ready after 30 s')
            await asyncio.sleep(0.01)
    print('READY', flush=True)
    idle = config.get('idle', 5)
    started = time.time()
    while not tally.done.is_set():
        try:
            await asyncio.wait_for(tally.done.wait(), 0.5)
        except asyncio.TimeoutError:
            pass
        for task in tasks:
            if task.done() and task.exception():
                raise task.exception()
        now = time.time()
        if (tally.last and now - tally.last > idle) or (
                not tally.last and now - started > config.get('wait', 60)):
            break  # a lossy path must not hang the benchmark: report what arrived
    for task in tasks:
        task.cancel()
    print(json.dumps({'received': sum(tally.counts), 'fewest': min(tally.counts),
                      'first': tally.first, 'last': tally.last,
                      'latencies': tally.latencies}), flush=True)


def main():
    asyncio.run(run(json.loads(sys.argv[1])))


if __name__ == '__main__':
    main()
