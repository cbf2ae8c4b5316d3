"""ScriptedPtyPeer: a tiny AT responder on the master side of a real pty.

Not a simulator (that is agent/modem/simulator/); each test scripts exactly the bytes it
needs, so the driver is exercised through real pyserial on a real tty.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from collections.abc import Callable

Reply = bytes | list[bytes | float] | None
Responder = Callable[[str], Reply]


class ScriptedPtyPeer:
    """Reads command lines (terminated by CR) from the pty master and writes the
    responder's reply.

    A list reply is written chunk by chunk; a float in it is a pause in seconds (so the
    driver sees the chunks in separate reads, as from USB). After a reply that ends in
    the PDU prompt, the bytes up to Ctrl-Z are passed to the responder as
    `"<PDU>" + hex`. Every command seen is kept in `commands`.
    """

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)
        self.commands: list[str] = []
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._closed = False
        self._lock = threading.Lock()

    def __enter__(self) -> ScriptedPtyPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def write(self, data: bytes) -> None:
        with self._lock:
            if not self._closed:
                os.write(self.master, data)

    def unplug(self) -> None:
        """Close the master: the slave side sees EIO, like a USB modem vanishing."""
        os.write(self._stop_w, b"x")  # the device is gone: the answering thread ends too
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self.master)
        os.close(self.slave)

    def stop(self) -> None:
        os.write(self._stop_w, b"x")
        if self._thread.is_alive():
            self._thread.join(5)
        with self._lock:
            if not self._closed:
                self._closed = True
                os.close(self.master)
                os.close(self.slave)
        os.close(self._stop_r)
        os.close(self._stop_w)

    def _run(self) -> None:
        buf = b""
        in_pdu = False
        while True:
            try:
                ready, _, _ = select.select([self.master, self._stop_r], [], [], 1.0)
            except (OSError, ValueError):
                return
            if self._stop_r in ready:
                return
            if self.master not in ready:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:
                return
            if not data:
                return
            buf += data
            while True:
                if in_pdu:
                    if b"\x1a" in buf:
                        pdu, buf = buf.split(b"\x1a", 1)
                        in_pdu = False
                        self._answer("<PDU>" + pdu.decode("ascii", "replace"))
                        continue
                    if b"\x1b" in buf:
                        _, buf = buf.split(b"\x1b", 1)
                        in_pdu = False
                        self.commands.append("<ESC>")
                        continue
                    break
                if b"\r" not in buf:
                    break
                line, buf = buf.split(b"\r", 1)
                buf = buf.lstrip(b"\n")
                cmd = line.decode("ascii", "replace").strip()
                if not cmd:
                    continue
                reply = self._answer(cmd)
                if b"\r\n> " in reply:  # the prompt, maybe with a URC behind it
                    in_pdu = True

    def _answer(self, cmd: str) -> bytes:
        self.commands.append(cmd)
        reply = self.responder(cmd)
        if reply is None:
            return b""
        chunks = reply if isinstance(reply, list) else [reply]
        written = b""
        for chunk in chunks:
            if isinstance(chunk, float):
                time.sleep(chunk)  # the peer's own timing, not the test waiting
            else:
                self.write(chunk)
                written += chunk
        return written


def ok(*lines: str) -> bytes:
    """`\\r\\n<line>\\r\\n ... \\r\\nOK\\r\\n` like a V1-mode modem."""
    body = b"".join(b"\r\n" + line.encode() + b"\r\n" for line in lines)
    return body + b"\r\nOK\r\n"


def final(text: str, *lines: str) -> bytes:
    body = b"".join(b"\r\n" + line.encode() + b"\r\n" for line in lines)
    return body + b"\r\n" + text.encode() + b"\r\n"
