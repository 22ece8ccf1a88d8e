"""A TCP proxy for fault tests: it can refuse connections (the tablet is offline) and cut a
connection after a number of bytes in either direction (a link dropped mid-transfer)."""

from __future__ import annotations

import socket
import threading


class Proxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(32)
        self.port = self.sock.getsockname()[1]
        self.online = True
        self.cut_up: int | None = None  # close after this many bytes tablet -> server
        self.cut_down: int | None = None  # ... or server -> tablet
        self.cuts = 0
        self.states: list[dict] = []  # bytes each way, per connection
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if not self.online:
                c.close()
                continue
            try:
                u = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                c.close()
                continue
            u.settimeout(None)
            with self._lock:
                self._conns += [c, u]
            state = {"up": 0, "down": 0}
            self.states.append(state)
            threading.Thread(target=self._pump, args=(c, u, "up", state), daemon=True).start()
            threading.Thread(target=self._pump, args=(u, c, "down", state), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, way: str, state: dict) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                state[way] += len(data)
                limit = self.cut_up if way == "up" else self.cut_down
                if limit is not None and state[way] > limit:
                    self.cuts += 1
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            _hang_up(s)

    def drop_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            _hang_up(s)

    def close(self) -> None:
        self.sock.close()
        self.drop_all()


def _hang_up(s: socket.socket) -> None:
    """Shut a connection both ways (the peer sees it end at once) and close it, whatever state it is in."""
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()
