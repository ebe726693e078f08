"""Caller-thread writes: a request's event goes onto the router's socket from the request's thread.

Handing each event to the publisher's loop thread costs a wake-up, an
asyncio iteration and GIL hand-offs between the request threads and the
loop thread: under waitress that was more CPU per request than the view
itself (measured 2026-11-28: a trivial view went from ~4,700 to ~2,200
req/s).  A :class:`DirectWriter` lets the calling thread encode the
PUBLISH and write it itself, holding the GIL through the system call
(:func:`~pyramid_livehub._session._write_keeping_gil`), so no other thread
is woken for it.

How it stays correct next to the loop thread, which owns the connection:

* Every write to the connection holds one lock (the publisher's write
  lock): the caller's, the publisher's drain and acknowledgement probes
  (:class:`~pyramid_livehub.publisher.RawSocketBatch`), and Autobahn's own
  messages (calls, GOODBYE), whose ``sendString`` is wrapped here.  So frames
  never interleave and a direct write never overtakes an earlier message.
* The caller writes only while asyncio's transport has nothing buffered: a
  partial write of the transport would otherwise be overtaken.
* It writes to a private duplicate of the socket's descriptor, closed under
  the lock when the session ends, so a descriptor that the loop closed and
  the system reused for another socket is never written to.
* A write the kernel takes only partly leaves the rest in :attr:`rest`;
  the loop thread writes it (:meth:`flush_rest`) before anything else.
  A write it does not take at all (socket buffer full, connection gone)
  returns False and the caller queues the event as before.

Used only over rawsocket with Autobahn's plain JSON or msgpack serializer.
"""
import os
import struct
import threading
from typing import Any, Callable, Mapping, Sequence

from pyramid_livehub._session import _libc_write

#: WAMP's message type code of PUBLISH.
PUBLISH = 16


def publish_message(request_id: int, options: Mapping[str, Any], topic: str,
                    args: Sequence[Any] | None, kwargs: Mapping[str, Any] | None) -> list[Any]:
    """A PUBLISH as Autobahn's ``Publish.marshal()`` lays it out, for one C encoder call."""
    raw = [PUBLISH, request_id, options, topic]
    if kwargs:
        raw += [list(args or ()), kwargs]
    elif args:
        raw.append(args)
    return raw


class DirectWriter:
    """Writes PUBLISH frames to one rawsocket connection from any thread (see the module)."""

    def __init__(self, session: Any, protocol: Any, encode: Callable[[list[Any]], bytes],
                 lock: 'threading.RLock') -> None:
        self.lock = lock
        #: the unwritten tail of a partial direct write; the loop thread writes it first
        self.rest: bytes | None = None
        self._transport = protocol.transport
        self._fd: int | None = os.dup(self._transport.get_extra_info('socket').fileno())
        self._prefix = struct.Struct(protocol.prefix_format)
        self._max_length = protocol.max_length_send
        self._encode = encode
        self._ids = session._request_id_gen
        self._protocol = protocol
        send_string = protocol.sendString

        def locked_send_string(data: bytes) -> None:
            # Autobahn writes a message as two writes (length, body): both under the lock.
            with lock:
                self.flush_rest()
                send_string(data)

        protocol.sendString = locked_send_string
        connection_lost = protocol.connection_lost

        def closing_connection_lost(exc: Exception | None) -> None:
            # Here, not in the session's leave/disconnect handlers (a loop turn
            # later): asyncio closes its descriptor right after this, and our
            # duplicate would keep the connection open and writable meanwhile.
            with lock:
                self.close()
            connection_lost(exc)

        protocol.connection_lost = closing_connection_lost
        protocol.livehub_direct = self

    @classmethod
    def for_session(cls, session: Any, encode: Callable[[list[Any]], bytes] | None,
                    lock: 'threading.RLock') -> 'DirectWriter | None':
        """A writer for ``session``'s connection, or None where direct writes cannot work."""
        protocol = getattr(session, '_transport', None)
        transport = getattr(protocol, 'transport', None)
        if (_libc_write is None or encode is None or transport is None
                or getattr(protocol, 'prefix_format', None) is None
                or not hasattr(session, '_request_id_gen')
                or not hasattr(transport, 'get_write_buffer_size')
                or transport.get_extra_info('socket') is None or transport.is_closing()):
            return None
        try:
            return cls(session, protocol, encode, lock)
        except OSError:  # no descriptor left to duplicate (EMFILE): the queue works without
            return None

    def write(self, topic: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> bool:
        """Write one PUBLISH now; True if the kernel took it (all, or a part left in :attr:`rest`).

        Call it holding :attr:`lock`.  False: nothing was written (closed,
        data buffered ahead of it, a payload Autobahn's encoder must handle,
        the socket's buffer full): queue the event instead.
        """
        fd = self._fd
        if (fd is None or self.rest is not None or self._closing()
                or self._transport.get_write_buffer_size()):
            return False
        try:
            data = self._encode(publish_message(self._ids.next(), {}, topic, args, kwargs))
        except TypeError:  # bytes in JSON: Autobahn's serializer knows the convention
            return False
        if len(data) > self._max_length:
            return False  # the queued path reports it
        frame = self._prefix.pack(len(data)) + data
        written = _libc_write(fd, frame, len(frame))
        if written == len(frame):
            return True
        if written <= 0:
            return False
        self.rest = frame[written:]
        return True

    def flush_rest(self) -> None:
        """Hand the tail of a partial direct write to the transport (loop thread, lock held)."""
        if self.rest is not None:
            rest, self.rest = self.rest, None
            if not self._closing():  # else the next session resends the event whole
                self._transport.write(rest)

    def _closing(self) -> bool:
        # Aborted or closing: asyncio dropped what it buffered, so a write now
        # would overtake events that the next session resends.
        return self._transport.is_closing() or self._protocol.transport is not self._transport

    def close(self) -> None:
        """Stop writing and close the duplicate descriptor (lock held; idempotent)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
        if getattr(self._protocol, 'livehub_direct', None) is self:
            self._protocol.livehub_direct = None
