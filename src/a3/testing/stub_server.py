"""A local OpenAI-compatible chat server for tests and benchmarks, with scripted faults.

It answers ``POST /v1/chat/completions`` on 127.0.0.1 after a fixed latency. Tests script
replies by substring: every request whose conversation contains ``match`` takes the next
entry of that rule's ``responses`` (the last entry repeats). An entry may ask for a status code
(429, 500, ...), an extra ``delay`` in seconds (longer than the client's timeout = a timeout), a
``content`` string (``""`` = an empty reply) or a raw ``body`` (malformed JSON). Control routes:
``POST /_stub/script``, ``POST /_stub/reset``, ``GET /_stub/stats``.

Run it alone with ``python -m a3.testing.stub_server --latency 0.2``; it prints its URL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TypedDict

from a3.store import JsonObject


class StubStats(TypedDict):
    """What ``GET /_stub/stats`` answers."""

    requests: int
    max_in_flight: int
    served: dict[str, int]  # replies served per rule, by its match
    last_bodies: list[JsonObject]  # the last five chat request bodies, as sent (JSON)


@dataclass
class _Rule:
    match: str
    responses: list[dict[str, Any]]
    served: int = 0

    def next_response(self) -> dict[str, Any]:
        response = self.responses[min(self.served, len(self.responses) - 1)]
        self.served += 1
        return response


@dataclass
class _State:
    latency: float
    rules: list[_Rule] = field(default_factory=list)
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)


def _text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return " ".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


def _last_user_text(body: dict[str, Any]) -> str:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return _text(users[-1]) if users else ""


def _completion(body: dict[str, Any], content: str) -> dict[str, Any]:
    prompt_chars = sum(len(json.dumps(m.get("content", ""))) for m in body.get("messages", []))
    prompt_tokens = max(1, prompt_chars // 4)
    completion_tokens = max(0, len(content) // 4)
    return {
        "id": f"chatcmpl-stub-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "stub"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class StubApp:
    """A bare ASGI application; no framework, so the stub adds little latency of its own."""

    def __init__(self, latency: float) -> None:
        self.state = _State(latency=latency)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body_bytes = b""
        while True:
            message = await receive()
            body_bytes += message.get("body", b"")
            if not message.get("more_body"):
                break
        path, method = scope["path"], scope["method"]
        if path.endswith("/chat/completions") and method == "POST":
            status, payload = await self._chat(json.loads(body_bytes or b"{}"))
        elif path == "/_stub/script" and method == "POST":
            rules = json.loads(body_bytes)["rules"]
            self.state.rules.extend(_Rule(r["match"], r["responses"]) for r in rules)
            status, payload = 200, b'{"ok": true}'
        elif path == "/_stub/reset" and method == "POST":
            self.state = _State(latency=self.state.latency)
            status, payload = 200, b'{"ok": true}'
        elif path == "/_stub/stats":
            stats: StubStats = {
                "requests": self.state.requests,
                "max_in_flight": self.state.max_in_flight,
                "served": {rule.match: rule.served for rule in self.state.rules},
                "last_bodies": self.state.bodies[-5:],
            }
            status, payload = 200, json.dumps(stats).encode()
        else:
            status, payload = 404, b'{"error": {"message": "not found"}}'
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _chat(self, body: dict[str, Any]) -> tuple[int, bytes]:
        state = self.state
        state.requests += 1
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        state.bodies.append(body)
        del state.bodies[:-20]
        try:
            text = _last_user_text(body)
            conversation = "\n".join(_text(m) for m in body.get("messages", []))
            response: dict[str, Any] = {}
            for rule in state.rules:
                if rule.match in conversation:
                    response = rule.next_response()
                    break
            await asyncio.sleep(state.latency + float(response.get("delay", 0)))
            status = int(response.get("status", 200))
            if status != 200:
                kind = "rate_limit_exceeded" if status == 429 else "server_error"
                error = {"error": {"message": f"stub {status}", "type": kind, "code": kind}}
                return status, json.dumps(error).encode()
            if "body" in response:
                return 200, str(response["body"]).encode()
            content = response.get("content", f"echo: {text[:200]}")
            return 200, json.dumps(_completion(body, content)).encode()
        finally:
            state.in_flight -= 1


def serve(latency: float, port: int = 0) -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    print(f"http://127.0.0.1:{sock.getsockname()[1]}/v1", flush=True)
    config = uvicorn.Config(StubApp(latency), log_level="warning", access_log=False, backlog=2048)
    asyncio.run(uvicorn.Server(config).serve(sockets=[sock]))


class StubServer:
    """Runs the stub in a child process (so it does not share our event loop or GIL).

    >>> with StubServer(latency=0.2) as stub:
    ...     stub.script("boom", [{"status": 429}, {"content": "ok"}])
    ...     stub.base_url  # 'http://127.0.0.1:PORT/v1'
    """

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.base_url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> StubServer:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "a3.testing.stub_server", "--latency", str(self.latency)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.base_url = self._process.stdout.readline().strip()
        if not self.base_url.startswith("http://127.0.0.1:"):
            self.__exit__(None, None, None)
            raise RuntimeError("the stub server did not start")
        self._wait_ready()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None

    def _request(self, method: str, path: str, payload: Any = None) -> Any:
        import httpx

        root = self.base_url.removesuffix("/v1")
        response = httpx.request(method, root + path, json=payload, timeout=10)
        response.raise_for_status()
        return response.json()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                self._request("GET", "/_stub/stats")
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def script(self, match: str, responses: list[JsonObject]) -> None:
        self._request("POST", "/_stub/script", {"rules": [{"match": match, "responses": responses}]})

    def reset(self) -> None:
        self._request("POST", "/_stub/reset")

    def stats(self) -> StubStats:
        stats: StubStats = self._request("GET", "/_stub/stats")  # the JSON of the StubStats the server built
        return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every reply")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args()
    serve(args.latency, args.port)


if __name__ == "__main__":
    main()
