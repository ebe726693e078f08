"""Subscriber process for the bridge benchmarks (WebSocket/JSON, like a browser).

``python -m benchmarks.bridge_sub_worker URL REALM TOPIC N`` prints ``READY``
once subscribed, then one JSON line ``{"n", "first", "last", "latencies",
"distinct", "out_of_order"}`` where a latency is receive time minus the ``t``
in the event's first argument (the bridges deliver a broker body as
``args[0]``) or keyword arguments.  ``distinct`` counts the different ``i``
values seen and ``out_of_order`` the events whose ``i`` was not above the
previous one, so a caller can tell lost and duplicated events apart from a
mere count.
"""
import json
import sys
import time

sys.modules.setdefault('bjdata', None)  # keep NumPy noise out of benchmark output


def main():
    import asyncio
    from autobahn.asyncio.component import Component
    url, realm, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    component = Component(transports=[{'type': 'websocket', 'url': url, 'serializers': ['json']}],
                          realm=realm, authentication={})
    state = {'n': 0, 'first': None, 'last': None, 'latencies': [], 'distinct': 0,
             'out_of_order': 0}
    seen, previous = set(), [None]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def on_event(*args, **kwargs):
        now = time.time()
        state['n'] += 1
        if state['first'] is None:
            state['first'] = now
        state['last'] = now
        body = args[0] if args and isinstance(args[0], dict) else kwargs
        if 't' in body:
            state['latencies'].append(now - body['t'])
        if 'i' in body:
            index = body['i']
            if index not in seen:
                seen.add(index)
                state['distinct'] += 1
            if previous[0] is not None and index <= previous[0]:
                state['out_of_order'] += 1
            previous[0] = index
        if state['n'] >= count:
            print(json.dumps(state), flush=True)
            loop.stop()

    def give_up_when_idle():
        # A lossy path must not hang the benchmark: report what arrived.
        if state['last'] is not None and time.time() - state['last'] > 5:
            print(json.dumps(state), flush=True)
            loop.stop()
            return
        loop.call_later(1, give_up_when_idle)

    @component.on_join
    async def joined(session, details):
        await session.subscribe(on_event, topic)
        print('READY', flush=True)
        give_up_when_idle()

    component.start(loop=loop)
    loop.run_forever()


if __name__ == '__main__':
    main()
