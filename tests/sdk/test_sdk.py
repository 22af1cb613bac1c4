"""The official OpenAI Python SDK sees the right content, usage and errors through the gateway."""

import json
from decimal import Decimal

import openai
import pytest

from conftest import FIXTURES, PTB_ANTHROPIC_KEY, PTB_OPENAI_KEY

OPENAI_ANSWER = json.loads((FIXTURES / "openai" / "response.json").read_text())
ANTHROPIC_ANSWER = json.loads((FIXTURES / "anthropic" / "responses" / "text.json").read_text())
MESSAGES = [{"role": "user", "content": "Say hello."}]


def client(gateway, key):
    # No SDK retries: each test sees the gateway's first answer.
    return openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=key, max_retries=0, timeout=30)


def test_whole_answer(gateway, upstream, funded_key):
    raw = client(gateway, funded_key).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello! How can I help?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == OPENAI_ANSWER["usage"]["prompt_tokens"]
    assert completion.usage.completion_tokens == OPENAI_ANSWER["usage"]["completion_tokens"]
    assert completion.usage.prompt_tokens_details.cached_tokens == 1024
    assert raw.headers["x-switchyard-provider"] == "openai"
    assert raw.headers["x-switchyard-billing"] == "ptb"
    assert raw.headers["x-switchyard-fallback-index"] == "0"
    assert Decimal(raw.headers["x-switchyard-cost-usd"]) > 0
    sent = upstream.requests[-1]
    assert sent["body"]["model"] == "gpt-4o-mini"
    assert sent["headers"]["authorization"] == f"Bearer {PTB_OPENAI_KEY}"


def test_stream_with_usage(gateway, funded_key):
    stream = client(gateway, funded_key).chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == "Hello! How can I help?"
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1
    assert usage[0].prompt_tokens == OPENAI_ANSWER["usage"]["prompt_tokens"]
    assert usage[0].completion_tokens == OPENAI_ANSWER["usage"]["completion_tokens"]


def test_stream_without_usage_sees_no_usage_chunk(gateway, upstream, funded_key):
    chunks = list(
        client(gateway, funded_key).chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hello! How can I help?"
    assert all(c.usage is None for c in chunks)
    # The gateway still asked the provider for usage, to bill the stream.
    assert upstream.requests[-1]["body"]["stream_options"]["include_usage"] is True


def test_anthropic_model_in_the_openai_shape(gateway, upstream, funded_key):
    c = client(gateway, funded_key)
    completion = c.chat.completions.create(model="claude-4.6-sonnet", messages=MESSAGES, max_tokens=64)
    assert completion.choices[0].message.content == "Hello! How can I help you today?"
    assert completion.usage.prompt_tokens == ANTHROPIC_ANSWER["usage"]["input_tokens"]
    assert completion.usage.completion_tokens == ANTHROPIC_ANSWER["usage"]["output_tokens"]
    sent = upstream.requests[-1]
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["x-api-key"] == PTB_ANTHROPIC_KEY
    assert sent["body"]["model"] == "claude-sonnet-4-6"

    chunks = list(
        c.chat.completions.create(model="claude-4.6-sonnet", messages=MESSAGES, max_tokens=64, stream=True)
    )
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == "Hello!"


def test_bad_key_is_authentication_error(gateway):
    with pytest.raises(openai.AuthenticationError) as e:
        client(gateway, "sy-not-a-key").chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert e.value.status_code == 401
    assert e.value.code == "invalid_api_key"


def test_unknown_model_is_not_found(gateway, funded_key):
    with pytest.raises(openai.NotFoundError) as e:
        client(gateway, funded_key).chat.completions.create(model="gpt-9-imaginary", messages=MESSAGES)
    assert e.value.status_code == 404
    assert "gpt-9-imaginary" in e.value.message
    assert e.value.code == "model_not_found"


def test_insufficient_credits_is_402(gateway, upstream, broke_key):
    before = len(upstream.requests)
    with pytest.raises(openai.APIStatusError) as e:
        client(gateway, broke_key).chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert e.value.status_code == 402
    assert type(e.value) is openai.APIStatusError  # the SDK has no narrower class for 402
    assert "insufficient credits" in e.value.message
    assert "balance 0 USD" in e.value.message
    assert e.value.code == "insufficient_credits"
    assert len(upstream.requests) == before, "nothing is sent upstream"


def test_bad_request_is_bad_request_error(gateway, funded_key):
    with pytest.raises(openai.BadRequestError) as e:
        client(gateway, funded_key).chat.completions.create(model="gpt-4o-mini", messages=[])
    assert e.value.status_code == 400
    assert e.value.param == "messages"

    with pytest.raises(openai.BadRequestError) as e:
        client(gateway, funded_key).chat.completions.create(model="gpt-4o-mini/no-such-provider", messages=MESSAGES)
    assert "no-such-provider" in e.value.message


def test_no_secret_reaches_the_client(gateway, funded_key):
    raw = client(gateway, funded_key).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    )
    text = raw.http_response.text + json.dumps(dict(raw.headers))
    for s in (PTB_OPENAI_KEY, PTB_ANTHROPIC_KEY, funded_key):
        assert s not in text
