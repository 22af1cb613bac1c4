"""Wire formats of the fake upstreams, written here independently of the gateway's code.

- AWS event-stream framing (Bedrock's InvokeModelWithResponseStream): prelude (total length,
  headers length, CRC-32 of both), headers, payload, CRC-32 of everything before (zlib.crc32).
- SigV4 verification of the gateway's Bedrock calls (AWS's documented canonical request).
- RS256 verification of the JWT-bearer assertion a Google service account sends to the token
  endpoint (PKCS#1 v1.5 with SHA-256, the fixture's public key).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import struct
import zlib
from pathlib import Path
from urllib.parse import quote, unquote_plus

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "crates" / "providers" / "fixtures"


def fixture(path: str) -> str:
    return (FIXTURES / path).read_text()


def sse_events(text: str) -> list[str]:
    """A fixture's SSE events, each with its blank-line terminator (one write per event)."""
    return [e + "\n\n" for e in text.split("\n\n") if e.strip()]


def sse_data(text: str) -> list[dict]:
    """The JSON `data:` payloads of an SSE text, `[DONE]` left out."""
    out = []
    for line in text.splitlines():
        if line.startswith("data:"):
            data = line[len("data:") :].strip()
            if data != "[DONE]":
                out.append(json.loads(data))
    return out


# --- AWS event-stream


def event_stream_frame(headers: list[tuple[str, str]], payload: bytes) -> bytes:
    h = b""
    for name, value in headers:
        n, v = name.encode(), value.encode()
        h += bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v  # 7: string
    total = 12 + len(h) + len(payload) + 4
    prelude = struct.pack(">II", total, len(h))
    out = prelude + struct.pack(">I", zlib.crc32(prelude)) + h + payload
    return out + struct.pack(">I", zlib.crc32(out))


def bedrock_chunk(event: dict) -> bytes:
    """A `chunk` event carrying one Anthropic stream event, with Bedrock's `p` padding."""
    payload = {"bytes": base64.b64encode(json.dumps(event).encode()).decode(), "p": "abcdefghijklmnopqrstuvwxyzABCDEFGH"}
    return event_stream_frame(
        [(":event-type", "chunk"), (":content-type", "application/json"), (":message-type", "event")],
        json.dumps(payload).encode(),
    )


def bedrock_text_stream() -> tuple[list[bytes], int, int]:
    """The Anthropic text stream fixture as Bedrock frames (no `ping`; `message_stop` carries
    Bedrock's invocation metrics), and its input and output token counts."""
    events = sse_data(fixture("anthropic/streams/text.sse"))
    input_tokens = events[0]["message"]["usage"]["input_tokens"]
    output_tokens = next(e["usage"]["output_tokens"] for e in events if e["type"] == "message_delta")
    frames = []
    for e in events:
        if e["type"] == "ping":
            continue
        if e["type"] == "message_stop":
            e["amazon-bedrock-invocationMetrics"] = {
                "inputTokenCount": input_tokens,
                "outputTokenCount": output_tokens,
                "invocationLatency": 420,
                "firstByteLatency": 180,
            }
        frames.append(bedrock_chunk(e))
    return frames, input_tokens, output_tokens


# --- SigV4


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sigv4_problem(method: str, raw_path: str, headers: dict, body: bytes, key_id: str, secret: str, region: str) -> str | None:
    """Why a request's SigV4 signature is wrong (None when it is right), for service `bedrock`."""
    auth = headers.get("authorization", "")
    m = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^,]+), ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})", auth)
    if not m:
        return f"not a SigV4 Authorization header: {auth!r}"
    credential, signed_headers, signature = m.groups()
    akid, date, cred_region, service, terminal = credential.split("/")
    if (akid, cred_region, service, terminal) != (key_id, region, "bedrock", "aws4_request"):
        return f"wrong credential scope {credential}"
    amz_date = headers.get("x-amz-date", "")
    if not amz_date.startswith(date):
        return f"x-amz-date {amz_date!r} is not of the credential's day {date}"
    path, _, query = raw_path.partition("?")
    # Services other than S3 encode each path segment a second time.
    canonical_uri = "/".join(quote(seg, safe="-_.~") for seg in path.split("/"))
    pairs = sorted(tuple(p.split("=", 1) + [""])[:2] for p in query.split("&") if p)
    canonical_query = "&".join(f"{quote(unquote_plus(k), safe='-_.~')}={quote(unquote_plus(v), safe='-_.~')}" for k, v in pairs)
    names = signed_headers.split(";")
    if "host" not in names:
        return "host is not signed"
    canonical_headers = "".join(f"{n}:{' '.join(headers.get(n, '').split())}\n" for n in names)
    payload_hash = hashlib.sha256(body).hexdigest()
    if headers.get("x-amz-content-sha256", payload_hash) != payload_hash:
        return "x-amz-content-sha256 is not the body's hash"
    canonical = "\n".join([method, canonical_uri, canonical_query, canonical_headers, signed_headers, payload_hash])
    scope = f"{date}/{region}/bedrock/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), date), region), "bedrock"), "aws4_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return f"signature mismatch over canonical request {canonical!r}"
    return None


# --- RS256 JWT (Google's JWT-bearer grant)


def _der(data: bytes, i: int) -> tuple[int, bytes, int]:
    """One DER element at `i`: (tag, content, index after it)."""
    tag, n = data[i], data[i + 1]
    i += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(data[i : i + k], "big")
        i += k
    return tag, data[i : i + n], i + n


def rsa_public_key(pem: str) -> tuple[int, int]:
    """(n, e) of a PEM SubjectPublicKeyInfo RSA key."""
    der = base64.b64decode("".join(line for line in pem.splitlines() if "-----" not in line))
    _, spki, _ = _der(der, 0)
    _, _, i = _der(spki, 0)  # AlgorithmIdentifier
    _, bits, _ = _der(spki, i)  # BIT STRING: unused-bits byte, then RSAPublicKey
    _, rsa, _ = _der(bits[1:], 0)
    _, n, i = _der(rsa, 0)
    _, e, _ = _der(rsa, i)
    return int.from_bytes(n, "big"), int.from_bytes(e, "big")


def _b64url(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


# DigestInfo prefix of SHA-256 in PKCS#1 v1.5 signatures (RFC 8017, section 9.2).
SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def jwt_rs256_claims(token: str, key: tuple[int, int]) -> dict | None:
    """The claims of an RS256 JWT whose signature `key` verifies; None otherwise."""
    try:
        head, payload, sig = token.split(".")
        if json.loads(_b64url(head)).get("alg") != "RS256":
            return None
        n, e = key
        k = (n.bit_length() + 7) // 8
        em = pow(int.from_bytes(_b64url(sig), "big"), e, n).to_bytes(k, "big")
        digest = hashlib.sha256(f"{head}.{payload}".encode()).digest()
        expected = b"\x00\x01" + b"\xff" * (k - 3 - len(SHA256_DIGEST_INFO) - 32) + b"\x00" + SHA256_DIGEST_INFO + digest
        if not hmac.compare_digest(em, expected):
            return None
        return json.loads(_b64url(payload))
    except (ValueError, KeyError):
        return None
