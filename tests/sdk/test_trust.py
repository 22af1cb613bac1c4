"""Billing you can trust, as the official OpenAI SDK sees it (issue 8).

20 pass-through-billed streams with `include_usage` per native wire format (OpenAI, Anthropic,
Bedrock event-stream, Vertex Claude, Vertex Gemini through its OpenAI-compatible endpoint,
Azure), consumed the ways SDK users consume them: iterated to the end (the SDK stops at
`[DONE]` and closes the response at once), left at the usage chunk, or left after the first
content delta inside `with client.chat.completions.stream(...)`. Every stream must then be
logged exactly once, settled exactly once (one debit equal to its row's cost, the full usage
even for clients that left early: the upstream finished), the org's books must add up
(`switchyard admin audit` exits 0), and no hold may be left, neither while the gateway runs nor
after it stopped.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import openai
import pytest

from conftest import all_providers_env, start_gateway
from fakes import fixture, sse_data

MESSAGES = [{"role": "user", "content": "Say hello."}]
STREAMS = 20
# Enough for every stream's worst-case hold at once (a Gemini stream with no max_tokens holds
# about 1.29 USD: its whole output limit at the output rate).
CREDITS_USD = "50"
MODES = ["iterate"] * 10 + ["leave_at_usage"] * 5 + ["leave_in_manager"] * 5


def _tokens(path: str, field: str) -> int:
    return next(e["usage"][field] for e in sse_data(fixture(path)) if e.get("usage"))


ANTHROPIC_INPUT = sse_data(fixture("anthropic/streams/text.sse"))[0]["message"]["usage"]["input_tokens"]
VERTEX_CLAUDE_INPUT = sse_data(fixture("vertex/claude_stream.sse"))[0]["message"]["usage"]["input_tokens"]

# (case, model string, provider that must answer, fake upstream's label, prompt tokens of its fixture)
CASES = [
    ("openai", "gpt-4o-mini/openai", "openai", "openai", _tokens("openai/stream.sse", "prompt_tokens")),
    ("anthropic", "claude-4.6-sonnet/anthropic", "anthropic", "anthropic", ANTHROPIC_INPUT),
    ("bedrock", "claude-4.6-sonnet/bedrock", "bedrock", "bedrock", ANTHROPIC_INPUT),
    ("vertex-claude", "claude-4.6-sonnet/vertex", "vertex", "vertex-claude", VERTEX_CLAUDE_INPUT),
    ("vertex-gemini", "gemini-3.5-flash/vertex", "vertex", "vertex-gemini", _tokens("vertex/stream.sse", "prompt_tokens")),
    ("azure", "gpt-4o-mini/azure", "azure", "azure", _tokens("azure/stream.sse", "prompt_tokens")),
]


@pytest.fixture(scope="module")
def trust_gateway(upstream, tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("switchyard-trust")
    # Leases report their holds every second, so `held_nanos` is fresh when the test reads it.
    config = data_dir / "switchyard.toml"
    config.write_text("[billing]\nlease_ttl_secs = 30\nmaintain_interval_secs = 1\n")
    env = {**all_providers_env(upstream, data_dir), "SWITCHYARD_CONFIG": str(config)}
    gw = start_gateway(upstream, data_dir, env)
    gw.orgs = {}
    # Events 20 ms apart, the end right after the last: clients that leave early leave while
    # the gateway still reads the upstream, and `[DONE]` is followed at once by the end.
    upstream.pace = 0.02
    yield gw
    upstream.pace = 0.0
    gw.stop()


def sdk(gw, key):
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, timeout=30)


def run_stream(client, model: str, mode: str, tag: str) -> dict:
    """One stream, consumed the way `mode` says; what the client saw."""
    opts = dict(
        model=model,
        messages=MESSAGES,
        stream_options={"include_usage": True},
        extra_headers={"x-switchyard-property-client": tag},
    )
    seen = {"tag": tag, "mode": mode, "request_id": None, "provider": None, "content": "", "usage": None}
    if mode == "leave_in_manager":
        with client.chat.completions.stream(**opts) as stream:
            for event in stream:
                if event.type == "content.delta" and event.delta:
                    seen["content"] += event.delta
                    break  # leaving the `with` block closes the response mid-stream
        return seen
    stream = client.chat.completions.create(stream=True, **opts)
    seen["request_id"] = stream.response.headers["x-switchyard-request-id"]
    seen["provider"] = stream.response.headers["x-switchyard-provider"]
    for chunk in stream:  # the SDK stops at `[DONE]` and closes the response
        if chunk.choices:
            seen["content"] += chunk.choices[0].delta.content or ""
        if chunk.usage:
            seen["usage"] = chunk.usage.model_dump()
            if mode == "leave_at_usage":
                stream.close()
                break
    return seen


def poll(read, done, what: str, timeout: float = 20):
    """`read()` until `done(value)`; the gateway writes rows and debits in batches."""
    deadline = time.time() + timeout
    while True:
        value = read()
        if done(value):
            return value
        assert time.time() < deadline, f"{what}: {value!r:.2000}"
        time.sleep(0.1)


def books(gw, org: str):
    logs = gw.admin_json("logs", "--org", org, "--limit", "1000")
    # Small pages, all of them: they must join up to the one-page listing, nothing lost or twice.
    ledger = gw.admin_json("ledger", "--org", org, "--all", "--limit", "7")
    assert ledger["next_before"] is None, "--all pages to the end"
    whole = gw.admin_json("ledger", "--org", org, "--limit", "1000")
    assert [e["id"] for e in ledger["data"]] == [e["id"] for e in whole["data"]]
    debits = [e for e in ledger["data"] if e["kind"] == "debit"]
    return logs, ledger["data"], debits


def assert_books_add_up(gw, org: str, logs: list, entries: list) -> dict:
    """balance = credits granted − settled costs = Σ ledger rows = credits − Σ log costs; audit 0."""
    balance = gw.admin_json("balance", "--org", org)
    granted = sum(e["amount_nanos"] for e in entries if e["kind"] == "credit")
    charged = -sum(e["amount_nanos"] for e in entries if e["kind"] == "debit")
    logged = sum(r["cost_nanos"] or 0 for r in logs if r["billing"] == "ptb")
    assert balance["balance_nanos"] == sum(e["amount_nanos"] for e in entries)
    assert balance["balance_nanos"] == granted - charged == granted - logged
    assert granted == int(Decimal(CREDITS_USD) * 10**9)
    assert balance["balance_nanos"] >= 0
    audit = gw.run_admin("audit", "--org", org)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "ok" in audit.stdout and "MISMATCH" not in audit.stdout, audit.stdout
    return balance


@pytest.mark.parametrize("case,model,provider,label,prompt_tokens", CASES, ids=[c[0] for c in CASES])
def test_sdk_streams_are_settled_and_logged_exactly_once(trust_gateway, upstream, case, model, provider, label, prompt_tokens):
    gw = trust_gateway
    org = f"trust-{case}"
    key = gw.org(org, CREDITS_USD)
    gw.orgs[org] = key
    before = upstream.hits()[label]
    client = sdk(gw, key)
    tags = [f"{case}-{i}-{mode}" for i, mode in enumerate(MODES)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        seen = list(pool.map(lambda tm: run_stream(client, model, tm[1], tm[0]), zip(tags, MODES)))
    assert upstream.hits()[label] - before == STREAMS, "each stream reached its upstream once"
    problems = [r["problem"] for r in upstream.requests if r["provider"] == label and "problem" in r]
    assert not problems, problems

    full = [s for s in seen if s["mode"] == "iterate"]
    for s in seen:
        assert s["content"], f"{s['tag']} saw content"
    for s in full + [s for s in seen if s["mode"] == "leave_at_usage"]:
        assert s["provider"] == provider, s
        assert s["usage"] and s["usage"]["prompt_tokens"] == prompt_tokens, s
    usage = full[0]["usage"]
    assert all(s["usage"] == usage for s in full), "every complete stream reports the same usage"

    logs, entries, debits = poll(
        lambda: books(gw, org),
        lambda b: len(b[0]) >= STREAMS and len(b[2]) >= STREAMS,
        f"{STREAMS} log rows and {STREAMS} debits",
    )
    # Exactly once: one row per client stream, one debit per row, nothing else.
    by_tag = {}
    for r in logs:
        by_tag.setdefault(r["properties"].get("client"), []).append(r)
    assert sorted(by_tag) == sorted(tags), sorted(by_tag)
    assert all(len(rows) == 1 for rows in by_tag.values()), {t: len(r) for t, r in by_tag.items() if len(r) != 1}
    assert len(logs) == STREAMS and len({r["id"] for r in logs}) == STREAMS
    debit_of = {}
    for d in debits:
        assert d["request_id"] not in debit_of, f"request {d['request_id']} debited twice"
        debit_of[d["request_id"]] = d
    assert set(debit_of) == {r["id"] for r in logs}, "one debit per logged request, and only those"
    for s in seen:
        row = by_tag[s["tag"]][0]
        if s["request_id"]:
            assert row["id"] == s["request_id"], "the row is the request the client got"
        assert (row["status"], row["error_type"], row["billing"], row["provider"]) == (200, None, "ptb", provider), row
        assert row["stream"] is True
        # Clients that left early are charged the full usage: the gateway read the upstream on.
        # (The row's output counts what is billed: for Gemini that includes its reasoning
        # tokens, which its `completion_tokens` leaves out.)
        assert row["prompt_tokens"] == usage["prompt_tokens"], row
        assert row["completion_tokens"] >= usage["completion_tokens"], row
        assert row["cost_nanos"] > 0, row
        assert -debit_of[row["id"]]["amount_nanos"] == row["cost_nanos"], (row, debit_of[row["id"]])
        assert Decimal(row["cost_usd"]) * 10**9 == row["cost_nanos"]
    assert len({(r["prompt_tokens"], r["completion_tokens"], r["cost_nanos"]) for r in logs}) == 1, "same usage, same cost"

    assert_books_add_up(gw, org, logs, entries)
    # No hold left: the lease's report (every second) shows nothing held.
    poll(lambda: gw.admin_json("balance", "--org", org), lambda b: b["held_nanos"] == 0, "held after the streams")


def test_zz_after_a_graceful_stop_no_lease_is_left_and_the_books_add_up(trust_gateway):
    gw = trust_gateway
    assert len(gw.orgs) == len(CASES), "the stream tests ran first"
    code = gw.stop()
    assert code == 0, gw.log_path.read_text()[-3000:]
    for org in gw.orgs:
        logs, entries, debits = books(gw, org)
        assert len(logs) == STREAMS and len(debits) == STREAMS
        balance = assert_books_add_up(gw, org, logs, entries)
        assert (balance["leased_nanos"], balance["held_nanos"]) == (0, 0), balance
    audit = gw.run_admin("--json", "audit")
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert all(a["consistent"] and not a["leases"] for a in json.loads(audit.stdout))
    # A clean stop with nothing in flight leaves no in-flight journal behind.
    journal = gw.data_dir / "journal"
    assert not list(journal.glob("*.wal")), [p.read_text()[:2000] for p in journal.glob("*.wal")]
