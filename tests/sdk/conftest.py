"""The official OpenAI (and, for the passthrough proxy, Anthropic) Python SDKs against a running
Switchyard gateway.

Starts a fake upstream that speaks each provider's wire format (answering with the adapter
fixtures): OpenAI, Anthropic, Azure OpenAI (deployment URL + api-version), Bedrock (SigV4
checked, AWS event-stream answers), Vertex AI (Claude rawPredict / streamRawPredict, Gemini's
OpenAI-compatible endpoint) and Google's OAuth token endpoint (RS256 JWT-bearer grant checked).
Then the gateway binary configured through the environment (SWITCHYARD_LISTEN,
SWITCHYARD_DATA_DIR, SWITCHYARD_ADMIN_TOKEN, SWITCHYARD_PROVIDER_<KEY>_*), and orgs, gateway
keys and credits created with `switchyard admin ...`.

The binary is target/debug/switchyard (built by scripts/test) unless SWITCHYARD_BIN names
another one.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import secrets
import socket
import subprocess
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from fakes import FIXTURES, ROOT, bedrock_text_stream, fixture, jwt_rs256_claims, rsa_public_key, sigv4_problem, sse_events

# The gateway's own (pass-through) provider credentials: fake, and never to be seen by a client.
PTB_OPENAI_KEY = "sk-sdk-ptb-openai-0123456789abcdef"
# Every OpenAI key the fake accepts: the gateway's own, plus BYOK keys tests store for orgs.
OPENAI_KEYS = {PTB_OPENAI_KEY}
PTB_ANTHROPIC_KEY = "sk-ant-sdk-ptb-0123456789abcdef"
# Every Anthropic key the fake accepts: the gateway's own, plus callers' and BYOK keys tests add.
ANTHROPIC_KEYS = {PTB_ANTHROPIC_KEY}
PTB_AZURE_KEY = "azure-sdk-ptb-0123456789abcdef0123"
PTB_AWS_KEY_ID = "AKIASDKPTBTEST000001"
PTB_AWS_SECRET = "sdkPtbAwsSecret0123456789abcdefghijklmnop"
AWS_REGION = "us-east-1"
AZURE_RESOURCE = "sdk-resource"
AZURE_DEPLOYMENT = "sdk-gpt-4o-mini"
AZURE_API_VERSION = "2024-10-21"
VERTEX_PROJECT = "switchyard-sdk"
VERTEX_REGION = "us-east5"
VERTEX_TOKEN = json.loads(fixture("vertex/token_response.json"))["access_token"]
SERVICE_ACCOUNT = json.loads(fixture("vertex/test-service-account.json"))


def provider_of(path: str) -> str:
    """Which provider's API a request path belongs to."""
    p = urlsplit(path).path
    if p == "/token":
        return "google-token"
    if p.startswith("/openai/deployments/"):
        return "azure"
    if p.startswith("/model/"):
        return "bedrock"
    if p.endswith(":streamRawPredict") or p.endswith(":rawPredict"):
        return "vertex-claude"
    if p.endswith("/endpoints/openapi/chat/completions"):
        return "vertex-gemini"
    if p == "/v1/messages":
        return "anthropic"
    if p == "/v1/chat/completions":
        return "openai"
    return "unknown"


def openai_events(path: str, include_usage: bool) -> list[str]:
    """An OpenAI-format stream fixture; its usage chunk only when asked for, as OpenAI does."""
    return [e for e in sse_events(fixture(path)) if include_usage or '"usage":{' not in e]


class Upstream:
    """Records what the gateway sent (with the provider it was for); answers from fixtures, in
    each provider's wire format, after checking the gateway's PTB credentials."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.url = ""
        # Seconds between the events of a stream (0: all at once).
        self.pace = 0.0
        # gzip JSON answers for clients that accept it, as the providers' CDNs do (off: plain).
        self.gzip = False
        self.google_key = rsa_public_key(fixture("vertex/test-public-key.pem"))
        self.bedrock_frames, _, _ = bedrock_text_stream()

    def hits(self) -> Counter:
        with self.lock:
            return Counter(r["provider"] for r in self.requests)

    @property
    def token_uri(self) -> str:
        return f"{self.url}/token"

    def handler(self):
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: a stream's body ends when the connection closes, as a plain stream does.
            protocol_version = "HTTP/1.0"

            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                provider = provider_of(self.path)
                try:
                    body = json.loads(raw) if provider != "google-token" else {}
                except ValueError:
                    body = {}
                # `raw`: the request bytes as received; `sent`: the answer's bytes as written.
                self.record = {"path": self.path, "provider": provider, "headers": headers, "body": body, "raw": raw, "sent": b""}
                with upstream.lock:
                    upstream.requests.append(self.record)
                answer = getattr(self, "answer_" + provider.replace("-", "_"), None)
                if answer is None:
                    return self.send_json(404, json.dumps({"error": {"message": "no such path"}}))
                answer(headers, body, raw)

            # --- per provider

            def answer_openai(self, headers, body, raw):
                if headers.get("authorization") not in {f"Bearer {k}" for k in OPENAI_KEYS}:
                    return self.send_json(401, fixture("openai/error_401.json"))
                if body.get("stream"):
                    usage = (body.get("stream_options") or {}).get("include_usage")
                    return self.send_stream("text/event-stream", [e.encode() for e in openai_events("openai/stream.sse", usage)])
                self.send_json(200, fixture("openai/response.json"))

            def answer_anthropic(self, headers, body, raw):
                # `x-api-key`, or a bearer token as the current Anthropic SDK sends its api_key.
                bearer = headers.get("authorization", "").removeprefix("Bearer ")
                if headers.get("x-api-key") not in ANTHROPIC_KEYS and bearer not in ANTHROPIC_KEYS:
                    return self.send_json(401, fixture("anthropic/errors/authentication_error_401.json"))
                if body.get("stream"):
                    return self.send_stream("text/event-stream", [e.encode() for e in sse_events(fixture("anthropic/streams/text.sse"))])
                self.send_json(200, fixture("anthropic/responses/text.json"))

            def answer_azure(self, headers, body, raw):
                url = urlsplit(self.path)
                if headers.get("api-key") != PTB_AZURE_KEY:
                    return self.send_json(401, fixture("azure/error_401.json"))
                if url.path != f"/openai/deployments/{AZURE_DEPLOYMENT}/chat/completions" or parse_qs(url.query).get("api-version") != [AZURE_API_VERSION]:
                    return self.send_json(404, fixture("azure/error_404.json"))
                if body.get("stream"):
                    usage = (body.get("stream_options") or {}).get("include_usage")
                    return self.send_stream("text/event-stream", [e.encode() for e in openai_events("azure/stream.sse", usage)])
                self.send_json(200, fixture("azure/response.json"))

            def answer_bedrock(self, headers, body, raw):
                problem = sigv4_problem("POST", self.path, headers, raw, PTB_AWS_KEY_ID, PTB_AWS_SECRET, AWS_REGION)
                if problem:
                    self.log_problem(problem)
                    return self.send_json(403, fixture("bedrock/error_signature_403.json"), [("x-amzn-errortype", "InvalidSignatureException")])
                if self.path.endswith("/invoke-with-response-stream"):
                    return self.send_stream("application/vnd.amazon.eventstream", upstream.bedrock_frames)
                self.send_json(200, fixture("bedrock/response.json"))

            def vertex_denied(self, headers) -> bool:
                if headers.get("authorization") != f"Bearer {VERTEX_TOKEN}" or f"/projects/{VERTEX_PROJECT}/" not in self.path:
                    self.send_json(401, json.dumps({"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}))
                    return True
                return False

            def answer_vertex_claude(self, headers, body, raw):
                if self.vertex_denied(headers):
                    return
                if self.path.endswith(":streamRawPredict"):
                    return self.send_stream("text/event-stream", [e.encode() for e in sse_events(fixture("vertex/claude_stream.sse"))])
                self.send_json(200, fixture("vertex/claude_response.json"))

            def answer_vertex_gemini(self, headers, body, raw):
                if self.vertex_denied(headers):
                    return
                if body.get("stream"):
                    return self.send_stream("text/event-stream", [e.encode() for e in sse_events(fixture("vertex/stream.sse"))])
                self.send_json(200, fixture("vertex/response.json"))

            def answer_google_token(self, headers, body, raw):
                form = parse_qs(raw.decode())
                claims = jwt_rs256_claims((form.get("assertion") or [""])[0], upstream.google_key)
                ok = (
                    headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
                    and form.get("grant_type") == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
                    and claims is not None
                    and claims.get("aud") == upstream.token_uri
                    and claims.get("iss") == SERVICE_ACCOUNT["client_email"]
                    and "cloud-platform" in claims.get("scope", "")
                )
                if not ok:
                    self.log_problem(f"token grant refused: {form} {claims}")
                    return self.send_json(400, fixture("vertex/token_error_invalid_grant.json"))
                self.send_json(200, fixture("vertex/token_response.json"))

            # --- writing answers

            def log_problem(self, text: str) -> None:
                with upstream.lock:
                    self.record["problem"] = text

            def send_json(self, status: int, text: str, extra: list[tuple[str, str]] = ()) -> None:
                data = text.encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                if upstream.gzip and "gzip" in self.headers.get("accept-encoding", ""):
                    data = gzip.compress(data)
                    self.send_header("content-encoding", "gzip")
                self.send_header("content-length", str(len(data)))
                for k, v in extra:
                    self.send_header(k, v)
                self.end_headers()
                self.log_sent(data)
                self.wfile.write(data)

            def send_stream(self, content_type: str, chunks: list[bytes]) -> None:
                self.send_response(200)
                self.send_header("content-type", content_type)
                self.end_headers()
                for i, c in enumerate(chunks):
                    if i and upstream.pace:
                        time.sleep(upstream.pace)
                    self.log_sent(c)
                    self.wfile.write(c)
                    self.wfile.flush()

            def log_sent(self, data: bytes) -> None:
                # Before the write: once written, the client may look before this thread resumes.
                with upstream.lock:
                    self.record["sent"] += data

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
        self.proc: subprocess.Popen | None = None
        self.log_file = None
        self.log_path: Path | None = None
        self.data_dir: Path | None = None

    def run_admin(self, *args: str) -> subprocess.CompletedProcess:
        """`switchyard admin ...` on the gateway's store, whatever its exit code."""
        return subprocess.run([str(self.bin), "admin", *args], env=self.env, capture_output=True, text=True, timeout=60)

    def admin(self, *args: str) -> str:
        """`switchyard admin ...` on the gateway's store; returns stdout."""
        done = self.run_admin(*args)
        if done.returncode != 0:
            raise RuntimeError(f"switchyard admin {' '.join(args)}: {done.stderr}")
        return done.stdout.strip()

    def admin_json(self, *args: str):
        return json.loads(self.admin("--json", *args))

    def org(self, name: str, credits_usd: str | None) -> str:
        """Creates an org and a gateway key (and credits); returns the key."""
        self.admin("org", "create", name)
        key = self.admin("key", "create", "--org", name, "sdk")
        if credits_usd:
            self.admin("credits", "add", "--org", name, credits_usd, "--note", "sdk tests")
        assert key.startswith("sy-"), key
        return key

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then waits for the graceful stop (drain, log flush, leases returned)."""
        if self.proc is None:
            return 0
        self.proc.terminate()
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        if self.log_file:
            self.log_file.close()
        return code


def start_gateway(upstream: Upstream, data_dir: Path, extra_env: dict | None = None) -> Gateway:
    """The gateway binary on a free port, its store in `data_dir`; waits for /health."""
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
        **(extra_env or {}),
    }
    gw = Gateway(f"http://127.0.0.1:{port}", env, binary(), admin_token)
    gw.data_dir = data_dir
    gw.log_path = data_dir / "gateway.log"
    gw.log_file = open(gw.log_path, "w")
    gw.proc = subprocess.Popen([str(gw.bin), "serve"], env=env, stdout=gw.log_file, stderr=subprocess.STDOUT)
    deadline = time.time() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{gw.url}/health", timeout=1) as r:
                if r.status == 200:
                    return gw
        except OSError:
            pass
        if gw.proc.poll() is not None or time.time() > deadline:
            gw.stop()
            pytest.exit(f"the gateway did not start:\n{gw.log_path.read_text()}", 2)
        time.sleep(0.1)


def all_providers_env(upstream: Upstream, data_dir: Path) -> dict:
    """PTB credentials for Azure, Bedrock and Vertex too, every one pointed at the fake."""
    sa_file = data_dir / "service-account.json"
    sa_file.write_text(json.dumps(SERVICE_ACCOUNT))
    return {
        "SWITCHYARD_PROVIDER_AZURE_BASE_URL": upstream.url,
        "SWITCHYARD_PROVIDER_AZURE_API_KEY": PTB_AZURE_KEY,
        "SWITCHYARD_PROVIDER_AZURE_RESOURCE_NAME": AZURE_RESOURCE,
        "SWITCHYARD_PROVIDER_AZURE_DEPLOYMENT_NAME": AZURE_DEPLOYMENT,
        "SWITCHYARD_PROVIDER_AZURE_API_VERSION": AZURE_API_VERSION,
        "SWITCHYARD_PROVIDER_BEDROCK_BASE_URL": upstream.url,
        "SWITCHYARD_PROVIDER_BEDROCK_AWS_ACCESS_KEY_ID": PTB_AWS_KEY_ID,
        "SWITCHYARD_PROVIDER_BEDROCK_AWS_SECRET_ACCESS_KEY": PTB_AWS_SECRET,
        "SWITCHYARD_PROVIDER_BEDROCK_REGION": AWS_REGION,
        "SWITCHYARD_PROVIDER_VERTEX_BASE_URL": upstream.url,
        "SWITCHYARD_PROVIDER_VERTEX_SERVICE_ACCOUNT_FILE": str(sa_file),
        "SWITCHYARD_PROVIDER_VERTEX_TOKEN_URI": upstream.token_uri,
        "SWITCHYARD_PROVIDER_VERTEX_PROJECT_ID": VERTEX_PROJECT,
        "SWITCHYARD_PROVIDER_VERTEX_REGION": VERTEX_REGION,
    }


@pytest.fixture(scope="session")
def upstream():
    up = Upstream()
    server = ThreadingHTTPServer(("127.0.0.1", 0), up.handler())
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    up.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield up
    server.shutdown()


@pytest.fixture(scope="session")
def gateway(upstream, tmp_path_factory):
    gw = start_gateway(upstream, tmp_path_factory.mktemp("switchyard-data"))
    yield gw
    gw.stop(timeout=15)


@pytest.fixture(scope="session")
def funded_key(gateway):
    return gateway.org("sdk-funded", "10")


@pytest.fixture(scope="session")
def broke_key(gateway):
    return gateway.org("sdk-broke", None)
