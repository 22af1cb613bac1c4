"""The official OpenAI Python SDK against a running Switchyard gateway.

Starts fake OpenAI and Anthropic upstreams (answering with the adapter fixtures, in each
provider's wire format), then the gateway binary configured through the environment
(SWITCHYARD_LISTEN, SWITCHYARD_DATA_DIR, SWITCHYARD_ADMIN_TOKEN, SWITCHYARD_PROVIDER_<KEY>_*),
and creates orgs, gateway keys and credits with `switchyard admin ...`.

The binary is target/debug/switchyard (built by scripts/test) unless SWITCHYARD_BIN names
another one.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "crates" / "providers" / "fixtures"

# The gateway's own (pass-through) provider keys: fake, and never to be seen by a client.
PTB_OPENAI_KEY = "sk-sdk-ptb-openai-0123456789abcdef"
PTB_ANTHROPIC_KEY = "sk-ant-sdk-ptb-0123456789abcdef"


def fixture(path: str) -> str:
    return (FIXTURES / path).read_text()


def sse_events(text: str) -> list[str]:
    """A fixture's SSE events, each with its blank-line terminator (one write per event)."""
    return [e + "\n\n" for e in text.split("\n\n") if e.strip()]


class Upstream:
    """Records what the gateway sent; answers OpenAI and Anthropic requests from fixtures."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    def handler(self):
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: an SSE body ends when the connection closes, as a plain stream does.
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                request = json.loads(body or b"{}")
                with upstream.lock:
                    upstream.requests.append(
                        {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": request}
                    )
                stream = bool(request.get("stream"))
                if self.path == "/v1/chat/completions":
                    if stream:
                        usage = (request.get("stream_options") or {}).get("include_usage")
                        events = [
                            e
                            for e in sse_events(fixture("openai/stream.sse"))
                            if usage or '"usage":{' not in e
                        ]
                        self.send_stream(events)
                    else:
                        self.send_json(200, fixture("openai/response.json"))
                elif self.path == "/v1/messages":
                    if stream:
                        self.send_stream(sse_events(fixture("anthropic/streams/text.sse")))
                    else:
                        self.send_json(200, fixture("anthropic/responses/text.json"))
                else:
                    self.send_json(404, json.dumps({"error": {"message": "no such path"}}))

            def send_json(self, status: int, text: str) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def send_stream(self, events: list[str]) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                for e in events:
                    self.wfile.write(e.encode())
                    self.wfile.flush()

        return Handler


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary() -> Path:
    path = Path(os.environ.get("SWITCHYARD_BIN", ROOT / "target" / "debug" / "switchyard"))
    if not path.exists():
        pytest.exit(f"{path} is missing: run `cargo build -p switchyard` first", 2)
    return path


class Gateway:
    def __init__(self, url: str, env: dict, bin_path: Path, admin_token: str) -> None:
        self.url = url
        self.env = env
        self.bin = bin_path
        self.admin_token = admin_token

    def admin(self, *args: str) -> str:
        """`switchyard admin ...` on the gateway's store; returns stdout."""
        done = subprocess.run(
            [str(self.bin), "admin", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"switchyard admin {' '.join(args)}: {done.stderr}")
        return done.stdout.strip()

    def org(self, name: str, credits_usd: str | None) -> str:
        """Creates an org and a gateway key (and credits); returns the key."""
        self.admin("org", "create", name)
        key = self.admin("key", "create", "--org", name, "sdk")
        if credits_usd:
            self.admin("credits", "add", "--org", name, credits_usd, "--note", "sdk tests")
        assert key.startswith("sy-"), key
        return key


@pytest.fixture(scope="session")
def upstream():
    up = Upstream()
    server = ThreadingHTTPServer(("127.0.0.1", 0), up.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    up.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield up
    server.shutdown()


@pytest.fixture(scope="session")
def gateway(upstream, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("switchyard-data")
    port = free_port()
    admin_token = secrets.token_hex(16)
    env = {
        **os.environ,
        "SWITCHYARD_LISTEN": f"127.0.0.1:{port}",
        "SWITCHYARD_DATA_DIR": str(data_dir),
        "SWITCHYARD_ADMIN_TOKEN": admin_token,
        "SWITCHYARD_MASTER_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        "SWITCHYARD_PROVIDER_OPENAI_BASE_URL": upstream.url,
        "SWITCHYARD_PROVIDER_OPENAI_API_KEY": PTB_OPENAI_KEY,
        "SWITCHYARD_PROVIDER_ANTHROPIC_BASE_URL": upstream.url,
        "SWITCHYARD_PROVIDER_ANTHROPIC_API_KEY": PTB_ANTHROPIC_KEY,
    }
    bin_path = binary()
    log = open(data_dir / "gateway.log", "w")
    proc = subprocess.Popen([str(bin_path), "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            log.close()
            pytest.exit(f"the gateway did not start:\n{(data_dir / 'gateway.log').read_text()}", 2)
        time.sleep(0.1)
    gw = Gateway(url, env, bin_path, admin_token)
    gw.log_path = data_dir / "gateway.log"
    yield gw
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def funded_key(gateway):
    return gateway.org("sdk-funded", "10")


@pytest.fixture(scope="session")
def broke_key(gateway):
    return gateway.org("sdk-broke", None)
