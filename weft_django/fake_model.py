"""A fake model server on 127.0.0.1, for tests and the offline demo: OpenAI's chat completions and Anthropic's
messages, streamed (server-sent events) the way the official SDKs read them, answering from a script (texts,
429s with Retry-After, 500s). Never a real provider; it listens on loopback only.

    python -m weft_django.fake_model --script answers.json --port-file port.txt   # serves until killed

An answer: ``{"text": "...", "input": 10, "output": 20}`` (tokens it reports), ``{"status": 429,
"retry_after": "1"}``, optionally ``"delay"`` (seconds between streamed pieces) and ``"match"`` (used, and not
consumed, when the last message contains that text; answers without it are consumed in order, the last repeats).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeModel:
    script: list[dict[str, Any]] = field(default_factory=list)  # consumed in order; the last one repeats
    requests: list[dict[str, Any]] = field(default_factory=list)  # each: path, body, headers, at (time.time())
    port: int = 0

    @property
    def openai_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def next(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = body.get("messages") or [{}]
        last = str(messages[-1].get("content", ""))
        for answer in self.script:
            if "match" in answer and answer["match"] in last:
                return answer
        ordered = [a for a in self.script if "match" not in a]
        if len(ordered) > 1:
            self.script.remove(ordered[0])
        return ordered[0] if ordered else {"text": ""}


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


def _pieces(text: str) -> list[str]:  # small, so a stream arrives in several pieces
    return [text[i:i + 4] for i in range(0, len(text), 4)] or [""]


def start(script: list[dict[str, Any]], port: int = 0) -> tuple[FakeModel, ThreadingHTTPServer]:
    """Serve ``script`` on 127.0.0.1 (``port`` 0: any free one) in a daemon thread; ``server.shutdown()`` ends it."""
    model = FakeModel(list(script))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"{}")
            model.requests.append({"path": self.path, "body": body, "headers": dict(self.headers), "at": time.time()})
            answer = model.next(body)
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
            delay = float(answer.get("delay", 0))
            if self.path.endswith("/chat/completions"):
                events = [f"data: {line}\n\n" for line in _openai_events(text, inp, out)]
            else:
                events = [f"event: {e}\ndata: {json.dumps(m)}\n\n" for e, m in _anthropic_events(text, inp, out)]
            for event in events:
                self.wfile.write(event.encode())
                self.wfile.flush()
                time.sleep(delay)
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    model.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return model, server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake OpenAI/Anthropic-compatible model server on 127.0.0.1.")
    parser.add_argument("--script", required=True, help="A JSON file: a list of answers.")
    parser.add_argument("--port", type=int, default=0, help="The port (default: any free one).")
    parser.add_argument("--port-file", help="Write the port it listens on to this file once it listens.")
    args = parser.parse_args(argv)
    with open(args.script) as f:
        script = json.load(f)
    model, server = start(script, args.port)
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(str(model.port))
    print(f"fake model server on {model.openai_url} (OpenAI) and {model.anthropic_url} (Anthropic)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
