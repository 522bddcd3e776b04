"""A fake model server on 127.0.0.1 for the tests: OpenAI's chat completions and Anthropic's messages, streamed
(server-sent events) the way the official SDKs read them, answering from a script (texts, 429s with
Retry-After, 500s). Never a real provider."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeModel:
    script: list[dict[str, Any]] = field(default_factory=list)  # consumed in order; the last one repeats
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def next(self) -> dict[str, Any]:
        return self.script.pop(0) if len(self.script) > 1 else self.script[0]


def _openai_events(text: str, input_tokens: int, output_tokens: int) -> Iterator[str]:
    for piece in _pieces(text):
        yield json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                          "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
    yield json.dumps({"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "fake", "choices": [],
                      "usage": {"prompt_tokens": input_tokens, "completion_tokens": output_tokens,
                                "total_tokens": input_tokens + output_tokens}})
    yield "[DONE]"


def _anthropic_events(text: str, input_tokens: int, output_tokens: int) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "message_start", {"type": "message_start", "message": {
        "id": "m1", "type": "message", "role": "assistant", "model": "fake", "content": [], "stop_reason": None,
        "stop_sequence": None, "usage": {"input_tokens": input_tokens, "output_tokens": 1}}}
    yield "content_block_start", {"type": "content_block_start", "index": 0,
                                  "content_block": {"type": "text", "text": ""}}
    for piece in _pieces(text):
        yield "content_block_delta", {"type": "content_block_delta", "index": 0,
                                      "delta": {"type": "text_delta", "text": piece}}
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield "message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                            "usage": {"output_tokens": output_tokens}}
    yield "message_stop", {"type": "message_stop"}


def _pieces(text: str) -> list[str]:
    return [text[i:i + 4] for i in range(0, len(text), 4)] or [""]


def start(script: list[dict[str, Any]]) -> tuple[FakeModel, ThreadingHTTPServer]:
    """Serve ``script`` (each: ``{"text", "input", "output"}``, or ``{"status": 429, "retry_after": "1"}``)."""
    model = FakeModel(list(script))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
            model.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
            answer = model.next()
            status = int(answer.get("status", 200))
            if status != 200:
                payload = json.dumps({"type": "error", "error": {"type": "api_error", "message": f"fake {status}"}})
                self.send_response(status)
                self.send_header("content-type", "application/json")
                if "retry_after" in answer:
                    self.send_header("retry-after", str(answer["retry_after"]))
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload.encode())
                return
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()
            text, inp, out = answer.get("text", ""), int(answer.get("input", 0)), int(answer.get("output", 0))
            if self.path.endswith("/chat/completions"):
                for line in _openai_events(text, inp, out):
                    self.wfile.write(f"data: {line}\n\n".encode())
            else:
                for event, message in _anthropic_events(text, inp, out):
                    self.wfile.write(f"event: {event}\ndata: {json.dumps(message)}\n\n".encode())
            self.wfile.flush()
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    model.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return model, server
