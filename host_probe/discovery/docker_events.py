"""Docker's event stream, followed for the containers created with the service label.

A poll finds a container once it runs, up to a poll interval after its start: its
first moments go unobserved. Docker says "create" before it starts a container, and
`docker run` starts it tens of milliseconds later, so the stream is followed in a
thread of its own and each creation is handed on at once (issue 23). The stream is
an addition to polling, never a replacement: when it fails, polling goes on and the
failure is reported once, until the stream is back.
"""

from __future__ import annotations

import threading
from typing import Callable

RETRY_SECONDS = 5.0


class CreationFollower(threading.Thread):
    """Calls `on_connected(client)` before each subscription, `on_created(client, event)`
    for every container created with `label`, and `on_state(problem)` when the stream
    breaks (a sentence) or is followed again (""). Each call comes from this thread,
    with its own client: a requests session is not shared between threads."""

    def __init__(self, socket: str, label: str, on_connected: Callable, on_created: Callable,
                 on_state: Callable[[str], None], timeout_seconds: float, retry_seconds: float = RETRY_SECONDS):
        super().__init__(name="docker-events", daemon=True)
        self.socket = socket
        self.label = label
        self.on_connected = on_connected
        self.on_created = on_created
        self.on_state = on_state
        self.timeout_seconds = timeout_seconds  # of each request; the stream itself has none
        self.retry_seconds = retry_seconds
        self._stopped = threading.Event()
        self.tried = threading.Event()  # the first subscription is made, or has failed
        self._stream = None

    def run(self) -> None:
        import docker  # not before the compile (see host_probe.discovery.containers)
        import requests

        while not self._stopped.is_set():
            try:
                client = docker.APIClient(base_url=f"unix://{self.socket}", timeout=self.timeout_seconds)
                self.on_connected(client)
                self._stream = client.events(decode=True, filters={"type": "container", "event": "create",
                                                                   "label": self.label})
                if self._stopped.is_set():  # stopped while subscribing: stop() saw no stream to close
                    self._stream.close()
                    break
                self.on_state("")
                self.tried.set()
                for event in self._stream:
                    if self._stopped.is_set():
                        break
                    self.on_created(client, event)
                problem = "the daemon closed it"
            except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
                problem = " ".join(str(exc).split()) or type(exc).__name__
            except Exception as exc:  # noqa: BLE001 - an event this code mishandles: said, and followed again
                problem = f"{type(exc).__name__}: {exc}"
            self.tried.set()
            if not self._stopped.is_set():
                self.on_state(f"docker: the Engine API's event stream at {self.socket} failed ({problem}): "
                              "new containers are found by polling only, their start-up unobserved; "
                              f"retrying every {self.retry_seconds:g}s")
            self._stopped.wait(self.retry_seconds)

    def stop(self) -> None:
        self._stopped.set()
        stream = self._stream
        if stream is not None:
            try:
                stream.close()  # unblocks the read in run()
            except Exception:  # noqa: BLE001 - already closed, or the socket already gone
                pass
