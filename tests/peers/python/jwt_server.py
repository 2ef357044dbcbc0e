#!/usr/bin/env python3
"""An MCP server that accepts only HS256 JWTs, verified with PyJWT.

Built with the official MCP Python SDK (``mcp``: FastMCP, Streamable HTTP transport, stateful
sessions) and served by uvicorn on 127.0.0.1 (ephemeral port unless --port). Every ``/mcp``
request must carry ``Authorization: Bearer <JWT>`` where the JWT verifies with
``jwt.decode(token, secret, algorithms=["HS256"], audience=...)``: signature, ``exp`` (if
present, no leeway) and, with --audience, ``aud``. Anything else is answered 401 with
``WWW-Authenticate: Bearer realm="mcp", error="invalid_token", error_description="..."``
(no ``error`` when there is no Authorization header at all). There is no OAuth metadata.

    python jwt_server.py --secret S [--audience A] [--port P] [--json-response]
    (or PEER_JWT_SECRET / PEER_JWT_AUDIENCE in the environment)

When ready it prints ONE JSON line on stdout (the Rust ``Peer`` helper reads it):
    {"mcp": "http://127.0.0.1:P/mcp", "stats": ".../__stats", "mode": "static-jwt",
     "verifier": "PyJWT 2.x.y", "sdk": "mcp 1.x.y", "audience": null, "pid": N}
Nothing else is written to stdout; logs go to stderr. It exits on SIGTERM/SIGINT and, when
stdin is a pipe, on stdin EOF (its parent went away).

Tools: ``whoami`` -> JSON text {"sub","scope","client_id","aud","exp","jti"} of the token used
for that very call (as tests/peers/mcp-server.mjs), ``echo {text}`` -> the text.
``GET /__stats`` (no auth) -> counters, see tests/peers/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import logging
import os
import socket
import stat
import sys
import threading
import time
from importlib.metadata import version
from typing import Any

# stdout is reserved for the ready line: keep a handle on it, and send everything else that
# might print (uvicorn's access log, stray print()s) to stderr.
_READY_OUT = sys.stdout
sys.stdout = sys.stderr

import jwt  # noqa: E402  (PyJWT)
import uvicorn  # noqa: E402
from mcp.server.fastmcp import Context, FastMCP  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402

HOST = "127.0.0.1"
MCP_PATH = "/mcp"
CLAIMS_KEY = "mcp_companion.jwt_claims"
VERIFIER = f"PyJWT {jwt.__version__}"
SDK = f"mcp {version('mcp')}"

log = logging.getLogger("jwt-server")


def new_stats() -> dict[str, Any]:
    return {
        "verifier": VERIFIER,
        "sdk": SDK,
        "requests_total": 0,
        "by_http_method": {},
        "by_rpc_method": {},
        "tool_calls": {},
        "authorized": 0,
        "unauthorized": 0,
        "distinct_tokens": 0,
        "subjects": [],
        "last_auth": None,
        "auth_failures": [],
    }


class JwtAuth:
    """ASGI middleware: verifies the bearer JWT of every request to /mcp with PyJWT."""

    def __init__(self, app: Any, secret: str, audience: str | None, stats: dict[str, Any]):
        self.app = app
        self.secret = secret
        self.audience = audience
        self.stats = stats
        self.seen: set[str] = set()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != MCP_PATH:
            await self.app(scope, receive, send)
            return
        s = self.stats
        s["requests_total"] += 1
        method = scope["method"]
        s["by_http_method"][method] = s["by_http_method"].get(method, 0) + 1
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        authz = headers.get("authorization")
        if authz is None:
            await self.reject(receive, send, "missing Authorization header", token_present=False)
            return
        scheme, _, token = authz.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            await self.reject(receive, send, "Authorization header is not a Bearer token", token_present=True)
            return
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=["HS256"],
                audience=self.audience,
                options={"verify_exp": True, "verify_aud": self.audience is not None},
            )
        except jwt.PyJWTError as err:
            await self.reject(receive, send, f"{type(err).__name__}: {err}", token_present=True)
            return
        digest = hashlib.sha256(token.encode()).hexdigest()
        self.seen.add(digest)
        s["distinct_tokens"] = len(self.seen)
        s["authorized"] += 1
        sub = claims.get("sub")
        if sub is not None and sub not in s["subjects"]:
            s["subjects"].append(sub)
        s["last_auth"] = {k: claims.get(k) for k in ("sub", "aud", "iat", "exp", "jti")}
        scope[CLAIMS_KEY] = claims
        if method == "POST":
            receive = await self.peek_rpc_method(receive)
        await self.app(scope, receive, send)

    async def peek_rpc_method(self, receive: Any) -> Any:
        """Counts the JSON-RPC method(s) of a POST body and hands the body on unchanged."""
        messages = []
        body = b""
        while True:
            m = await receive()
            messages.append(m)
            if m["type"] != "http.request":
                break
            body += m.get("body", b"")
            if not m.get("more_body", False):
                break
        try:
            parsed = json.loads(body)
            for msg in parsed if isinstance(parsed, list) else [parsed]:
                name = msg.get("method")
                if isinstance(name, str):
                    by = self.stats["by_rpc_method"]
                    by[name] = by.get(name, 0) + 1
        except (ValueError, AttributeError):
            pass

        async def replay() -> Any:
            if messages:
                return messages.pop(0)
            return await receive()

        return replay

    async def reject(self, receive: Any, send: Any, reason: str, token_present: bool) -> None:
        # Read the request body first: closing a connection with unread data makes the kernel
        # answer with a reset, which can reach the client before the 401 does.
        while True:
            m = await receive()
            if m["type"] != "http.request" or not m.get("more_body", False):
                break
        s = self.stats
        s["unauthorized"] += 1
        s["auth_failures"].append({"at": time.time(), "reason": reason})
        del s["auth_failures"][:-100]
        log.info("401: %s", reason)
        quoted = reason.replace('"', "'").replace("\\", "/")
        challenge = 'Bearer realm="mcp"'
        if token_present:
            challenge += f', error="invalid_token", error_description="{quoted}"'
        body = json.dumps(
            {"error": "invalid_token" if token_present else "unauthorized", "error_description": reason}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"cache-control", b"no-store"),
                    (b"www-authenticate", challenge.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def build(secret: str, audience: str | None, json_response: bool) -> tuple[Any, dict[str, Any]]:
    stats = new_stats()
    mcp = FastMCP(
        "mcp-companion-python-jwt-peer",
        host=HOST,
        streamable_http_path=MCP_PATH,
        json_response=json_response,
        log_level="WARNING",
    )

    def count(name: str) -> None:
        stats["tool_calls"][name] = stats["tool_calls"].get(name, 0) + 1

    @mcp.tool(description="Returns the claims of the JWT used for this call (as mcp-server.mjs).")
    def whoami(ctx: Context) -> str:
        count("whoami")
        request = ctx.request_context.request
        claims = request.scope.get(CLAIMS_KEY, {}) if request is not None else {}
        return json.dumps(
            {
                "sub": claims.get("sub"),
                "scope": claims.get("scope", ""),
                "client_id": claims.get("client_id"),
                "aud": claims.get("aud"),
                "exp": claims.get("exp"),
                "jti": claims.get("jti"),
                "verifier": VERIFIER,
            }
        )

    @mcp.tool(description="Returns its text argument unchanged.")
    def echo(text: str) -> str:
        count("echo")
        return text

    @mcp.custom_route("/__stats", methods=["GET"])
    async def get_stats(_request: Request) -> JSONResponse:
        return JSONResponse(stats, headers={"cache-control": "no-store"})

    app = JwtAuth(mcp.streamable_http_app(), secret, audience, stats)
    return app, stats


def watch_stdin(server: uvicorn.Server, loop: asyncio.AbstractEventLoop) -> None:
    """Stops the server on stdin EOF when stdin is a pipe or socket (a test harness)."""
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
        return

    def run() -> None:
        while os.read(0, 4096):
            pass
        log.info("stdin closed (EOF); shutting down")
        loop.call_soon_threadsafe(setattr, server, "should_exit", True)

    threading.Thread(target=run, daemon=True).start()


async def serve(args: argparse.Namespace) -> None:
    app, _ = build(args.secret, args.audience, args.json_response)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, args.port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    loop = asyncio.get_running_loop()
    watch_stdin(server, loop)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task
            raise SystemExit("uvicorn stopped before it started")
        await asyncio.sleep(0.02)
    base = f"http://{HOST}:{port}"
    ready = {
        "mcp": f"{base}{MCP_PATH}",
        "stats": f"{base}/__stats",
        "mode": "static-jwt",
        "verifier": VERIFIER,
        "sdk": SDK,
        "audience": args.audience,
        "pid": os.getpid(),
    }
    _READY_OUT.write(json.dumps(ready) + "\n")
    _READY_OUT.flush()
    await task


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--secret", default=os.environ.get("PEER_JWT_SECRET"), help="HS256 secret")
    p.add_argument("--audience", default=os.environ.get("PEER_JWT_AUDIENCE"), help="required aud")
    p.add_argument("--port", type=int, default=0, help="0 = ephemeral (default)")
    p.add_argument("--json-response", action="store_true", help="JSON answers instead of SSE")
    args = p.parse_args()
    if not args.secret:
        p.error("--secret S (or PEER_JWT_SECRET) is required")
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="[%(asctime)s jwt-server] %(message)s"
    )
    # SIGTERM/SIGINT: uvicorn installs its own handlers for a graceful stop.
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
