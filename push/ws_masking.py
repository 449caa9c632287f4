"""RFC 6455 5.1: a server must close the connection on a frame from the client that is not
masked. aiohttp's reader unmasks what is masked and accepts the rest, so this sits in front of
it, reading only frame headers (payloads are skipped, not copied), and hands every byte on
until an unmasked frame begins. In its place the reader gets a frame it refuses with 1002 (reserved
bits set), so aiohttp itself delivers the frames before it, then closes 1002 with its usual
close handshake, exactly as it does for its own protocol errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

class FrameParser(Protocol):
    """What aiohttp's protocol calls on the WebSocket reader it was given."""

    def feed_data(self, data: bytes) -> tuple[bool, bytes]: ...

    def feed_eof(self) -> None: ...


# A masked, empty, final text frame with RSV2 and RSV3 set: aiohttp's reader raises
# WebSocketError(1002) for it (no extension negotiated them), whichever of its readers runs.
REFUSED_BY_READER = bytes((0xB1, 0x80, 0, 0, 0, 0))


class MaskedFramesOnly:
    """Wraps the parser aiohttp made for one socket. `on_unmasked` is called once, after every
    byte before the offending frame was handed on; nothing after it is."""

    def __init__(self, parser: FrameParser, on_unmasked: Callable[[], None]) -> None:
        self._parser = parser
        self._on_unmasked = on_unmasked
        self._head = bytearray()  # the header being read, across reads
        self._skip = 0  # payload bytes of the current frame still to pass
        self._refused = False
        self._held = b""  # a header's first byte, passed on with the next read

    def feed_data(self, data: Any) -> tuple[bool, bytes]:
        if self._refused:
            return True, b""
        data = self._held + bytes(data)
        self._held = b""
        pos, n = 0, len(data)
        frame_start = 0
        while pos < n:
            if self._skip:
                step = min(self._skip, n - pos)
                self._skip -= step
                pos += step
                continue
            if not self._head:
                frame_start = pos
            self._head.append(data[pos])
            pos += 1
            head = self._head
            if len(head) < 2:
                continue
            if not head[1] & 0x80:
                return self._refuse(data[:frame_start])
            length7 = head[1] & 0x7F
            extended = 2 if length7 == 126 else 8 if length7 == 127 else 0
            if len(head) < 2 + extended + 4:
                continue
            if extended:
                self._skip = int.from_bytes(head[2:2 + extended], "big")
            else:
                self._skip = length7
            self._head = bytearray()
        if len(self._head) == 1:
            # Whether this frame is masked is in its second byte: keep its first from the reader
            # until then, so a refusal never follows half a header the reader already holds.
            self._held, self._head, data = data[-1:], bytearray(), data[:-1]
            if not data:
                return False, b""
        return self._parser.feed_data(data)

    def feed_eof(self) -> None:
        self._parser.feed_eof()

    def _refuse(self, before: bytes) -> tuple[bool, bytes]:
        self._refused = True
        self._on_unmasked()
        return self._parser.feed_data(before + REFUSED_BY_READER)
