"""A wake-up that a thread gives the agent's loop while it waits in poll(2): an eventfd,
so the wait ends at once rather than at its timeout (a discovery source's news)."""

from __future__ import annotations

import os


class Wake:
    def __init__(self):
        self.fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)

    def set(self) -> None:
        os.eventfd_write(self.fd, 1)

    def take(self) -> bool:
        """Whether a wake-up was given since the last take."""
        try:
            os.eventfd_read(self.fd)
        except BlockingIOError:
            return False
        return True

    def close(self) -> None:
        os.close(self.fd)
