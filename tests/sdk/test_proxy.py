"""The passthrough proxy front door (README "Passthrough proxy") through the official OpenAI and
Anthropic Python SDKs, which change nothing but their base URL (`<gateway>/openai/v1`,
`<gateway>/anthropic`). Each SDK, whole answers and streams, in both auth modes:

- caller's key: the SDK's api_key is the caller's own provider key, the gateway key travels in
  `x-switchyard-auth`; the upstream gets the caller's key untouched and nothing of the gateway's.
- gateway key alone: the SDK's api_key is the gateway key; the upstream gets the org's stored
  (BYOK) key in the provider's own style, or the SDK sees 401 `provider_key_missing`.

The SDKs' HTTP transport keeps the exchanges as they went over the wire, so the request bytes
and headers the SDK sent are compared with what the fake upstream received, and the answer
bytes the SDK received with what the fake sent. Log rows are read through the admin HTTP API.
"""

from __future__ import annotations

import gzip
import json
import re
import time
import urllib.request
from dataclasses import dataclass
from decimal import Decimal

import anthropic
import httpx2
import openai
import pytest

from conftest import ANTHROPIC_KEYS, OPENAI_KEYS
from fakes import fixture, sse_data

CALLER_OPENAI_KEY = "sk-proxy-caller-openai-0123456789abcd"
BYOK_OPENAI_KEY = "sk-proxy-byok-openai-0123456789abcdef"
CALLER_ANTHROPIC_KEY = "sk-ant-proxy-caller-0123456789abcdef"
BYOK_ANTHROPIC_KEY = "sk-ant-proxy-byok-0123456789abcdefgh"
OPENAI_KEYS.update({CALLER_OPENAI_KEY, BYOK_OPENAI_KEY})
ANTHROPIC_KEYS.update({CALLER_ANTHROPIC_KEY, BYOK_ANTHROPIC_KEY})

MESSAGES = [{"role": "user", "content": "Say hello."}]
OPENAI_ANSWER = json.loads(fixture("openai/response.json"))
ANTHROPIC_ANSWER = json.loads(fixture("anthropic/responses/text.json"))
OPENAI_STREAM = sse_data(fixture("openai/stream.sse"))
ANTHROPIC_STREAM = sse_data(fixture("anthropic/streams/text.sse"))

CALLER = "caller_key"
# The caller's Anthropic key in `x-api-key` (as older SDKs and curl send it) instead of the
# current SDK's `Authorization: Bearer`.
CALLER_X_API_KEY = "caller_key_in_x_api_key"
GATEWAY = "gateway_key"
MODES = [CALLER, GATEWAY]
ANTHROPIC_MODES = [CALLER, CALLER_X_API_KEY, GATEWAY]
# Set again for each hop, so never compared with what the SDK sent.
PER_HOP = {"host", "content-length", "connection", "keep-alive", "transfer-encoding"}


# --- the SDKs' wire


class Tee(httpx2.SyncByteStream):
    """An answer's body as it comes off the connection (before any content decoding), kept."""

    def __init__(self, inner: httpx2.SyncByteStream, into: bytearray) -> None:
        self.inner = inner
        self.into = into

    def __iter__(self):
        for chunk in self.inner:
            self.into.extend(chunk)
            yield chunk

    def close(self) -> None:
        self.inner.close()


@dataclass
class Exchange:
    request: httpx2.Request
    response: httpx2.Response
    received: bytearray


class Wire(httpx2.HTTPTransport):
    """The SDK's HTTP transport, remembering each exchange."""

    def __init__(self) -> None:
        super().__init__()
        self.exchanges: list[Exchange] = []

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response = super().handle_request(request)
        received = bytearray()
        response.stream = Tee(response.stream, received)
        self.exchanges.append(Exchange(request, response, received))
        return response

    def only(self) -> Exchange:
        assert len(self.exchanges) == 1, "the SDK made one request (no retries)"
        return self.exchanges[0]


# --- the gateway's admin API


def admin_api(gateway, method: str, path: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        gateway.url + path,
        data=data,
        method=method,
        headers={"authorization": f"Bearer {gateway.admin_token}", "content-type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def log_rows(gateway, org: str, count: int) -> list[dict]:
    """The org's log rows once `count` are written (the gateway writes them in batches)."""
    deadline = time.time() + 20
    while True:
        rows = admin_api(gateway, "GET", f"/admin/orgs/{org}/logs?limit=100")["data"]
        if len(rows) >= count:
            assert len(rows) == count, f"one row per request: {rows}"
            return rows
        assert time.time() < deadline, f"{count} log rows, got {len(rows)}"
        time.sleep(0.1)


# --- one org, one SDK client, one mode


@dataclass
class Setup:
    gateway: object
    upstream: object
    org: str
    key: str
    mode: str
    wire: Wire
    client: object
    # The header (and value) the upstream must receive its auth in; the SDK's header that must
    # not reach it (the gateway key's, in gateway-key mode).
    upstream_auth: tuple[str, str]
    removed: str | None


@pytest.fixture
def org(gateway, request):
    """A fresh org for each test, so its log holds exactly this test's requests."""
    name = "proxy-" + re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")
    # Through the HTTP admin API, like the rest of this file (a CLI run per call is slower).
    admin_api(gateway, "POST", "/admin/orgs", {"name": name})
    key = admin_api(gateway, "POST", f"/admin/orgs/{name}/keys", {"name": "sdk"})["key"]
    assert key.startswith("sy-")
    return name, key


def store_key(gateway, org: str, provider: str, key: str) -> None:
    # Through the HTTP admin API: the running gateway drops its cached keys for the org.
    admin_api(gateway, "PUT", f"/admin/orgs/{org}/provider-keys/{provider}", {"api_key": key})


def openai_setup(gateway, upstream, org, mode: str, store: bool = True) -> Setup:
    name, key = org
    wire = Wire()
    headers = {"x-switchyard-property-mode": mode}
    if mode == CALLER:
        api_key, upstream_auth, removed = CALLER_OPENAI_KEY, ("authorization", f"Bearer {CALLER_OPENAI_KEY}"), None
        headers["x-switchyard-auth"] = f"Bearer {key}"
    else:
        # The gateway key is where the SDK puts its api_key; the org's stored key replaces it.
        api_key, upstream_auth, removed = key, ("authorization", f"Bearer {BYOK_OPENAI_KEY}"), None
        if store:
            store_key(gateway, name, "openai", BYOK_OPENAI_KEY)
    client = openai.OpenAI(
        base_url=f"{gateway.url}/openai/v1",
        api_key=api_key,
        default_headers=headers,
        max_retries=0,  # each test sees the gateway's first answer
        timeout=30,
        http_client=openai.DefaultHttpxClient(transport=wire),
    )
    return Setup(gateway, upstream, name, key, mode, wire, client, upstream_auth, removed)


def anthropic_setup(gateway, upstream, org, mode: str, store: bool = True) -> Setup:
    name, key = org
    wire = Wire()
    headers = {"x-switchyard-property-mode": mode}
    if mode == CALLER:
        # The SDK sends its api_key as `Authorization: Bearer`; forwarded as it is.
        api_key, upstream_auth, removed = CALLER_ANTHROPIC_KEY, ("authorization", f"Bearer {CALLER_ANTHROPIC_KEY}"), None
        headers["x-switchyard-auth"] = f"Bearer {key}"
    elif mode == CALLER_X_API_KEY:
        # No api_key (so no `Authorization`): the SDK sends the key given in its headers.
        api_key, upstream_auth, removed = None, ("x-api-key", CALLER_ANTHROPIC_KEY), None
        headers.update({"x-api-key": CALLER_ANTHROPIC_KEY, "x-switchyard-auth": f"Bearer {key}"})
    else:
        # The gateway key in the SDK's `Authorization`: removed, the stored key goes in
        # Anthropic's own `x-api-key`.
        api_key, upstream_auth, removed = key, ("x-api-key", BYOK_ANTHROPIC_KEY), "authorization"
        if store:
            store_key(gateway, name, "anthropic", BYOK_ANTHROPIC_KEY)
    client = anthropic.Anthropic(
        base_url=f"{gateway.url}/anthropic",
        api_key=api_key,
        default_headers=headers,
        max_retries=0,
        timeout=30,
        http_client=anthropic.DefaultHttpxClient(transport=wire),
    )
    return Setup(gateway, upstream, name, key, mode, wire, client, upstream_auth, removed)


# --- what every proxied request must show


def upstream_request(s: Setup, before: int, label: str) -> dict:
    new = s.upstream.requests[before:]
    assert [r["provider"] for r in new] == [label], "one request reached the upstream"
    return new[0]


def assert_forwarded(s: Setup, ex: Exchange, got: dict, prefix: str) -> None:
    """The SDK's request reached the upstream byte for byte, its headers unchanged but for the
    gateway's (stripped) and the auth the gateway adds in gateway-key mode."""
    sent = ex.request
    assert got["raw"] == sent.content, "request body forwarded unchanged"
    assert sent.url.raw_path.decode().startswith(prefix)
    assert got["path"] == sent.url.raw_path.decode()[len(prefix) :]
    sent_headers = {k.lower(): v for k, v in sent.headers.items()}
    for name, value in sent_headers.items():
        if name in PER_HOP or name.startswith("x-switchyard-") or name == s.removed:
            continue
        if name == s.upstream_auth[0] and s.mode == GATEWAY:
            continue  # replaced by the stored key
        assert got["headers"].get(name) == value, f"header {name} forwarded unchanged"
    assert s.removed is None or s.removed not in got["headers"], f"{s.removed} (the gateway key's header) removed"
    added = set(got["headers"]) - set(sent_headers) - PER_HOP
    assert added <= {s.upstream_auth[0]}, f"the gateway added {added}"
    name, value = s.upstream_auth
    assert got["headers"].get(name) == value, f"{name} is the {'stored' if s.mode == GATEWAY else 'caller'} key"
    assert not [h for h in got["headers"] if h.startswith("x-switchyard-")], "no x-switchyard-* header reaches the upstream"
    assert s.key not in json.dumps(got["headers"]), "the gateway key never reaches the upstream"


def assert_answer_headers(ex: Exchange, provider: str) -> str:
    h = ex.response.headers
    assert h["x-switchyard-provider"] == provider
    assert h["x-switchyard-billing"] == "byok", "the caller pays the provider, in both modes"
    assert re.fullmatch(r"[0-9a-f-]{36}", h["x-switchyard-request-id"]), h["x-switchyard-request-id"]
    return h["x-switchyard-request-id"]


def assert_row(s: Setup, request_id: str, provider: str, got: dict, stream: bool, prompt: int, completion: int) -> dict:
    (row,) = log_rows(s.gateway, s.org, 1)
    assert row["id"] == request_id, "the row is the request the SDK got"
    assert (row["route"], row["provider"], row["billing"], row["status"], row["error_type"]) == ("proxy", provider, "byok", 200, None), row
    assert row["stream"] is stream
    assert row["model"] == got["body"]["model"]
    assert row["target_url"] == s.upstream.url + got["path"]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (prompt, completion), row
    assert row["cost_nanos"] and row["cost_nanos"] > 0, f"a priced answer has a cost: {row}"
    assert Decimal(row["cost_usd"]) * 10**9 == row["cost_nanos"]
    assert row["properties"] == {"mode": s.mode}
    assert s.key not in json.dumps(row) and BYOK_OPENAI_KEY not in json.dumps(row) and BYOK_ANTHROPIC_KEY not in json.dumps(row)
    return row


# --- OpenAI


@pytest.mark.parametrize("mode", MODES)
def test_openai_sdk_whole_answer(gateway, upstream, org, mode):
    s = openai_setup(gateway, upstream, org, mode)
    before = len(upstream.requests)
    raw = s.client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello! How can I help?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == OPENAI_ANSWER["model"], "the provider's own answer, not the gateway's"
    assert completion.usage.prompt_tokens == OPENAI_ANSWER["usage"]["prompt_tokens"]
    assert completion.usage.completion_tokens == OPENAI_ANSWER["usage"]["completion_tokens"]

    ex = s.wire.only()
    got = upstream_request(s, before, "openai")
    assert_forwarded(s, ex, got, "/openai")
    assert bytes(ex.received) == got["sent"] == raw.http_response.content, "answer bytes unchanged"
    request_id = assert_answer_headers(ex, "openai")
    assert raw.headers["content-type"] == "application/json"
    row = assert_row(s, request_id, "openai", got, False, OPENAI_ANSWER["usage"]["prompt_tokens"], OPENAI_ANSWER["usage"]["completion_tokens"])
    assert row["cached_tokens"] == OPENAI_ANSWER["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert Decimal(raw.headers["x-switchyard-cost-usd"]) * 10**9 == row["cost_nanos"]


@pytest.mark.parametrize("mode", MODES)
def test_openai_sdk_stream(gateway, upstream, org, mode):
    s = openai_setup(gateway, upstream, org, mode)
    before = len(upstream.requests)
    # The proxy forwards the body as it is: usage comes only when the caller asks for it.
    stream = s.client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    request_id = assert_answer_headers(s.wire.only(), "openai")
    assert request_id == stream.response.headers["x-switchyard-request-id"]
    chunks = list(stream)  # ends at `[DONE]`
    assert stream.response.is_closed
    deltas = [c.choices[0].delta.content for c in chunks if c.choices]
    assert deltas == [e["choices"][0]["delta"].get("content") for e in OPENAI_STREAM if e["choices"]]
    assert deltas == ["", "Hello!", " How can I help?", None]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and not chunks[-1].choices, "the usage chunk comes last"
    usage = OPENAI_STREAM[-1]["usage"]
    assert (chunks[-1].usage.prompt_tokens, chunks[-1].usage.completion_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])

    ex = s.wire.only()
    got = upstream_request(s, before, "openai")
    assert_forwarded(s, ex, got, "/openai")
    assert got["body"]["stream_options"] == {"include_usage": True}
    assert bytes(ex.received) == got["sent"], "stream bytes unchanged"
    assert got["sent"].endswith(b"data: [DONE]\n\n")
    assert ex.response.headers["content-type"] == "text/event-stream"
    assert_row(s, request_id, "openai", got, True, usage["prompt_tokens"], usage["completion_tokens"])


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_sdk_whole_answer_from_a_compressing_upstream_is_priced(gateway, upstream, org, sdk):
    # Providers gzip answers for clients that accept it, as both SDKs do: the SDK must get the
    # gzip bytes as sent (its Accept-Encoding forwarded unchanged), and the row must still have
    # tokens and a cost (the usage tap decodes its own copy).
    setup, label, prefix = (openai_setup, "openai", "/openai") if sdk == "openai" else (anthropic_setup, "anthropic", "/anthropic")
    s = setup(gateway, upstream, org, CALLER)
    before = len(upstream.requests)
    upstream.gzip = True
    try:
        if sdk == "openai":
            raw = s.client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)
            assert raw.parse().usage.prompt_tokens == OPENAI_ANSWER["usage"]["prompt_tokens"]
        else:
            raw = s.client.messages.with_raw_response.create(model="claude-sonnet-4-20250514", max_tokens=64, messages=MESSAGES)
            assert raw.parse().usage.input_tokens == ANTHROPIC_ANSWER["usage"]["input_tokens"]
    finally:
        upstream.gzip = False
    ex = s.wire.only()
    got = upstream_request(s, before, label)
    assert_forwarded(s, ex, got, prefix)
    assert got["headers"]["accept-encoding"] == ex.request.headers["accept-encoding"]
    assert ex.response.headers["content-encoding"] == "gzip"
    assert bytes(ex.received) == got["sent"], "the provider's compressed bytes, as sent"
    assert gzip.decompress(got["sent"]) == raw.http_response.content
    request_id = assert_answer_headers(ex, label)
    (row,) = log_rows(gateway, s.org, 1)
    assert row["id"] == request_id
    assert row["prompt_tokens"] and row["cost_nanos"] and row["cost_nanos"] > 0, row
    assert Decimal(raw.headers["x-switchyard-cost-usd"]) * 10**9 == row["cost_nanos"]


def test_openai_sdk_stream_without_usage_is_logged_unpriced(gateway, upstream, org):
    s = openai_setup(gateway, upstream, org, CALLER)
    before = len(upstream.requests)
    chunks = list(s.client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello! How can I help?"
    assert all(c.usage is None for c in chunks)
    got = upstream_request(s, before, "openai")
    # Unlike the unified API, the proxy does not add `stream_options` to the caller's body.
    assert "stream_options" not in got["body"]
    assert bytes(s.wire.only().received) == got["sent"]
    (row,) = log_rows(gateway, s.org, 1)
    assert (row["route"], row["status"], row["stream"]) == ("proxy", 200, True)
    assert (row["prompt_tokens"], row["completion_tokens"], row["cost_nanos"]) == (None, None, None), row


def test_openai_sdk_gateway_key_without_stored_key_is_401(gateway, upstream, org):
    s = openai_setup(gateway, upstream, org, GATEWAY, store=False)
    before = len(upstream.requests)
    with pytest.raises(openai.AuthenticationError) as e:
        s.client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert e.value.status_code == 401
    assert e.value.code == "provider_key_missing"
    assert "`openai`" in e.value.message
    assert len(upstream.requests) == before, "nothing is sent upstream"
    (row,) = log_rows(gateway, s.org, 1)
    assert (row["route"], row["status"], row["error_type"]) == ("proxy", 401, "authentication_error"), row


# --- Anthropic


@pytest.mark.parametrize("mode", ANTHROPIC_MODES)
def test_anthropic_sdk_whole_answer(gateway, upstream, org, mode):
    s = anthropic_setup(gateway, upstream, org, mode)
    before = len(upstream.requests)
    raw = s.client.messages.with_raw_response.create(model="claude-sonnet-4-20250514", max_tokens=64, messages=MESSAGES)
    message = raw.parse()
    assert [b.text for b in message.content] == ["Hello! ", "How can I help you today?"]
    assert message.stop_reason == "end_turn"
    assert message.id == ANTHROPIC_ANSWER["id"]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (ANTHROPIC_ANSWER["usage"]["input_tokens"], ANTHROPIC_ANSWER["usage"]["output_tokens"])

    ex = s.wire.only()
    got = upstream_request(s, before, "anthropic")
    assert_forwarded(s, ex, got, "/anthropic")
    assert bytes(ex.received) == got["sent"] == raw.http_response.content, "answer bytes unchanged"
    request_id = assert_answer_headers(ex, "anthropic")
    row = assert_row(s, request_id, "anthropic", got, False, ANTHROPIC_ANSWER["usage"]["input_tokens"], ANTHROPIC_ANSWER["usage"]["output_tokens"])
    assert Decimal(raw.headers["x-switchyard-cost-usd"]) * 10**9 == row["cost_nanos"]


@pytest.mark.parametrize("mode", ANTHROPIC_MODES)
def test_anthropic_sdk_stream(gateway, upstream, org, mode):
    s = anthropic_setup(gateway, upstream, org, mode)
    before = len(upstream.requests)
    # The README's example: the SDK's stream helper.
    with s.client.messages.stream(model="claude-sonnet-4-20250514", max_tokens=64, messages=MESSAGES) as stream:
        request_id = assert_answer_headers(s.wire.only(), "anthropic")
        events = list(stream)  # ends after `message_stop`
        final = stream.get_final_message()
        assert stream.get_final_text() == "Hello!"
    # Every event the upstream sent, in order (the SDK drops `ping`; `text` is the helper's own).
    want = [e["type"] for e in ANTHROPIC_STREAM if e["type"] != "ping"]
    assert [e.type for e in events if e.type != "text"] == want
    assert want[0] == "message_start" and want[-1] == "message_stop"
    assert [e.text for e in events if e.type == "text"] == ["Hello", "!"]
    input_tokens = ANTHROPIC_STREAM[0]["message"]["usage"]["input_tokens"]
    output_tokens = next(e["usage"]["output_tokens"] for e in ANTHROPIC_STREAM if e["type"] == "message_delta")
    assert (final.usage.input_tokens, final.usage.output_tokens) == (input_tokens, output_tokens)
    assert final.stop_reason == "end_turn"

    ex = s.wire.only()
    got = upstream_request(s, before, "anthropic")
    assert got["body"]["stream"] is True
    assert_forwarded(s, ex, got, "/anthropic")
    assert bytes(ex.received) == got["sent"], "stream bytes unchanged"
    assert got["sent"].startswith(b"event: message_start\n") and got["sent"].endswith(b'event: message_stop\ndata: {"type": "message_stop"}\n\n')
    assert ex.response.headers["content-type"] == "text/event-stream"
    assert_row(s, request_id, "anthropic", got, True, input_tokens, output_tokens)


def test_anthropic_sdk_gateway_key_without_stored_key_is_401(gateway, upstream, org):
    s = anthropic_setup(gateway, upstream, org, GATEWAY, store=False)
    before = len(upstream.requests)
    with pytest.raises(anthropic.AuthenticationError) as e:
        s.client.messages.create(model="claude-sonnet-4-20250514", max_tokens=64, messages=MESSAGES)
    assert e.value.status_code == 401
    assert "provider_key_missing" in json.dumps(e.value.body)
    assert "`anthropic`" in e.value.message
    assert len(upstream.requests) == before, "nothing is sent upstream"
    (row,) = log_rows(gateway, s.org, 1)
    assert (row["route"], row["status"], row["error_type"]) == ("proxy", 401, "authentication_error"), row
