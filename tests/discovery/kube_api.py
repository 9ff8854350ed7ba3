"""A loopback HTTPS server that answers as the kubelet's /pods and the API server's
/api/v1/pods do, with PodLists in the format the Kubernetes API reference documents
(core/v1 Pod: metadata, spec, status). No cluster runs on the test machine."""

from __future__ import annotations

import json
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 (its own CA, as a kubelet's self-signed serving certificate is)."""
    cert, key = directory / "kubelet.crt", directory / "kubelet.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"


@dataclass
class PodListServer:
    cert: Path
    key: Path
    token: str
    answer: Answer = field(default_factory=Answer)
    requests: list[str] = field(default_factory=list)  # each request's path and query

    def __post_init__(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                if self.headers.get("Authorization") != f"Bearer {server.token}":
                    answer = Answer(401, b"Unauthorized", "text/plain")  # what the kubelet's authn says
                else:
                    answer = server.answer
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def serve(self, pod_list: dict) -> None:
        self.answer = Answer(200, json.dumps(pod_list).encode())

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def pod_list(*pods: dict) -> dict:
    return {"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "48213"}, "items": list(pods)}


def pod(name: str, uid: str, node: str, labels: dict[str, str], containers: list[dict], *,
        namespace: str = "shop", phase: str = "Running", qos_class: str = "Burstable",
        ephemeral: list[dict] = ()) -> dict:
    """A core/v1 Pod; `containers` are container() records."""
    return {
        "metadata": {"name": name, "namespace": namespace, "uid": uid, "resourceVersion": "48177",
                     "creationTimestamp": "2026-11-27T10:00:00Z", "labels": labels,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name,
                                          "uid": "6c4b4f0e-1f0e-4a59-9d43-0e0a0b3c5d11", "controller": True}]},
        "spec": {"nodeName": node, "restartPolicy": "Always", "serviceAccountName": "default",
                 "containers": [c["spec"] for c in containers],
                 **({"ephemeralContainers": [c["spec"] for c in ephemeral]} if ephemeral else {})},
        "status": {"phase": phase, "qosClass": qos_class, "hostIP": "10.0.0.11", "podIP": "10.244.1.7",
                   "startTime": "2026-11-27T10:00:01Z",
                   "conditions": [{"type": "Ready", "status": "True" if phase == "Running" else "False"}],
                   "containerStatuses": [c["status"] for c in containers],
                   **({"ephemeralContainerStatuses": [c["status"] for c in ephemeral]} if ephemeral else {})},
    }


def container(name: str, image: str, container_id: str, *, running: bool = True,
              env: dict[str, str] | None = None, started_at: str = "2026-11-27T10:00:02Z") -> dict:
    """A container's spec and its status; `container_id` is the bare runtime id (containerd's)."""
    state = ({"running": {"startedAt": started_at}} if running
             else {"waiting": {"reason": "ContainerCreating"}})
    status = {"name": name, "image": f"docker.io/library/{image}", "imageID": f"docker.io/library/{image}@sha256:"
              + "ab" * 32, "ready": running, "restartCount": 0, "started": running, "state": state}
    if running:
        status["containerID"] = f"containerd://{container_id}"
    spec = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
            "env": [{"name": key, "value": value} for key, value in (env or {}).items()]}
    return {"spec": spec, "status": status}


def now_rfc3339() -> str:
    """Now, as the API writes a time (seconds, UTC, Z)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
