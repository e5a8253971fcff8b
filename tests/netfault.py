"""A real TCP hop between the app and PostgreSQL that a test can cut and mend (an outage)."""

import contextlib
import socket
import threading
from collections.abc import Callable


class TcpProxy:
    """Forwards 127.0.0.1:port to the target; cut() drops every connection and refuses new ones.

    With `cut_on`, the line is cut the moment the client sends those bytes (which never arrive):
    an outage at one precise step of a request.
    """

    def __init__(self, target: tuple[str, int], cut_on: bytes | None = None) -> None:
        self.target = target
        self.cut_on = cut_on
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]
        self._open: list[socket.socket] = []
        self._guard = threading.Lock()
        self._listening = threading.Event()
        self._listener: threading.Thread | None = None
        self.mend()

    def mend(self) -> None:
        server = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR on POSIX
        server.settimeout(0.05)
        self._listening.set()
        self._listener = threading.Thread(target=self._accept, args=(server,), daemon=True)
        self._listener.start()

    def cut(self) -> None:
        self._listening.clear()
        if self._listener is not None:
            self._listener.join()
        with self._guard:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def close(self) -> None:
        self.cut()

    def _accept(self, server: socket.socket) -> None:
        with server:
            while self._listening.is_set():
                try:
                    client, _ = server.accept()
                except TimeoutError:
                    continue
                client.settimeout(None)
                upstream = socket.create_connection(self.target)
                with self._guard:
                    self._open += [client, upstream]
                ways = ((client, upstream, self._tripped), (upstream, client, _never))
                for a, b, tripped in ways:
                    threading.Thread(target=_pump, args=(a, b, tripped), daemon=True).start()

    def _tripped(self, chunk: bytes) -> bool:
        if self.cut_on is None or self.cut_on not in chunk:
            return False
        self.cut()
        return True


def _never(_chunk: bytes) -> bool:
    return False


def _pump(source: socket.socket, sink: socket.socket, tripped: Callable[[bytes], bool]) -> None:
    try:
        while (chunk := source.recv(65536)) and not tripped(chunk):
            sink.sendall(chunk)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
