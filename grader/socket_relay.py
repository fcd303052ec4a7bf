"""Copy bytes between a unix socket and a TCP port, both ways, for every connection.

``curso corregir --aislado`` gives the sandbox no network, yet cluster labs need the API
server on the host's loopback. Two relays join them through a unix socket in the
sandbox's private, bind-mounted directory:

- on the host, ``unix-a-tcp SOCKET HOST PORT``: accepts on SOCKET, connects to HOST:PORT;
- in the sandbox, ``tcp-a-unix PORT SOCKET``: accepts on 127.0.0.1:PORT (kubectl and helm
  cannot dial a unix socket), connects to SOCKET.

Only bytes are copied: TLS stays end to end between the client and the API server.
Standard library only, so that it runs as a script with any interpreter. Once listening it
writes ``READY`` (when given) so that the starter knows without polling the port.
"""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

CHUNK = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until EOF, then pass the EOF on (a half-close: the answer may still come)."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()  # the other side went away: end the pair


def _handler(connect):
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await connect()
        except OSError:
            writer.close()  # the far end is down: the client sees a closed connection
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            for end in (writer, up_writer):
                end.close()
    return handle


async def unix_to_tcp(socket_path: str, host: str, port: int, ready: str | None = None) -> None:
    server = await asyncio.start_unix_server(
        _handler(lambda: asyncio.open_connection(host, port)), path=socket_path)
    Path(socket_path).chmod(0o600)
    await _serve(server, ready)


async def tcp_to_unix(port: int, socket_path: str, ready: str | None = None) -> None:
    server = await asyncio.start_server(
        _handler(lambda: asyncio.open_unix_connection(socket_path)), host="127.0.0.1", port=port)
    await _serve(server, ready)


async def _serve(server: asyncio.AbstractServer, ready: str | None) -> None:
    if ready:
        Path(ready).write_text("listo\n")
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    usage = ("uso: socket_relay.py unix-a-tcp SOCKET HOST PUERTO [LISTO] | "
             "tcp-a-unix PUERTO SOCKET [LISTO]")
    try:
        if argv[0] == "unix-a-tcp":
            asyncio.run(unix_to_tcp(argv[1], argv[2], int(argv[3]), *argv[4:5]))
        elif argv[0] == "tcp-a-unix":
            asyncio.run(tcp_to_unix(int(argv[1]), argv[2], *argv[3:4]))
        else:
            print(usage, file=sys.stderr)
            return 2
    except (IndexError, ValueError):
        print(usage, file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
