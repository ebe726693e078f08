"""The Socket.IO peer: python-socketio 5 with ``AsyncRedisManager`` under uvicorn.

Run by the peer's own venv (``benchmarks/.peer-venv``, made by ``make bench``)::

    benchmarks/.peer-venv/bin/python benchmarks/peer/sio_server.py PORT REDIS_URL CHANNEL

A client joins a room by emitting ``subscribe`` with the room name (acked);
events emitted from another process with ``RedisManager.emit(..., room=...)``
reach the room's clients through Redis pub/sub, as in a Flask-SocketIO or
python-socketio deployment with a separate web process.
"""
import sys

import socketio
import uvicorn


def main():
    port, redis_url, channel = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    manager = socketio.AsyncRedisManager(redis_url, channel=channel)
    sio = socketio.AsyncServer(async_mode='asgi', client_manager=manager,
                               cors_allowed_origins='*')

    @sio.on('subscribe')
    async def subscribe(sid, room):
        await sio.enter_room(sid, room)
        return 'ok'

    uvicorn.run(socketio.ASGIApp(sio), host='127.0.0.1', port=port, log_level='warning')


if __name__ == '__main__':
    main()
