"""A webhook receiver on 127.0.0.1 that is down when a job fails gets the signed delivery once it is up:
deliveries are weft tasks (retried, with attempts), and the receiver checks the signature."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import WorkerProcess, wait_for
from weft_django import notifications, service
from weft_django.models import Attempt, Subscription, Task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SECRET = "whsec-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def receiver(port: int, got: list[dict[str, Any]]) -> ThreadingHTTPServer:
    class Hook(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            expected = notifications.sign(SECRET, self.headers["x-weft-timestamp"], body)
            got.append({"valid": self.headers.get("x-weft-signature") == expected, "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", port), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_webhooks__a_receiver_that_was_down_gets_the_signed_delivery_later(worker: WorkerProcess) -> None:
    port = free_port()
    Subscription.objects.create(name="ops", events=["job.failed"], target=f"http://127.0.0.1:{port}/hook",
                                secret=SECRET)
    job = service.submit("t.fatal")
    assert service.wait(job.pk, timeout=30).status == "failed"
    delivery = wait_for(lambda: Task.objects.filter(skill_name="weft.notify").first(), 30, 0.05, "the delivery task")
    # Nobody listens yet: the first attempt fails (connection refused) and the task is retried.
    wait_for(lambda: Attempt.objects.filter(task=delivery, outcome="failed").exists(), 30, 0.05, "a failed delivery")
    got: list[dict[str, Any]] = []
    server = receiver(port, got)
    try:
        wait_for(lambda: Task.objects.filter(pk=delivery.pk, status="succeeded").exists(), 60, 0.1,
                 "the delivery to succeed")
    finally:
        server.shutdown()
        server.server_close()
    [received] = got
    assert received["valid"]
    assert received["body"]["event"] == "job.failed" and received["body"]["job"]["id"] == job.pk
    assert "no point retrying" in received["body"]["job"]["cause"]
    assert Attempt.objects.filter(task=delivery).count() >= 2
