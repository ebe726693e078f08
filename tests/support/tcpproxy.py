"""A small TCP proxy for fault tests: cut and restore a client's connection.

``block()`` closes every proxied connection and refuses new ones (accepts
and closes at once) until ``unblock()``.
"""
import socket
import threading


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target`` (host, port)."""

    def __init__(self, target):
        self.target = target
        self.blocked = False
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(('127.0.0.1', 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._sockets = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def block(self):
        """Cut all connections and refuse new ones."""
        self.blocked = True
        with self._lock:
            for sock in list(self._sockets):
                _close(sock)
            self._sockets.clear()

    def unblock(self):
        """Accept connections again."""
        self.blocked = False

    def close(self):
        """Stop the proxy."""
        self._closed = True
        self.block()
        _close(self._listener)

    def _accept_loop(self):
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.blocked:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=2)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _close(src)
            _close(dst)


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
