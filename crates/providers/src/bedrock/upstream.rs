//! Bedrock as an adapter: the signed upstream request for a [`Target`] and the event stream read
//! back as OpenAI SSE. Whole answers are Anthropic Messages JSON (see `anthropic::map_response`).

use bytes::Bytes;
use http::header::AUTHORIZATION;
use http::Method;
use serde_json::Value;
use switchyard_cost::Usage;

use super::invoke::{build_request, resolve_region};
use super::sigv4::AwsCredentials;
use super::stream::BedrockStream;
use super::types::{BedrockError, BedrockTarget, CrossRegion};
use crate::anthropic::provider_error;
use crate::error::{ErrorKind, ProviderError};
use crate::exchange::Exchange;
use crate::request::{
    headers_from_pairs, rebase_url, without_unsupported, Credentials, RequestOptions, Target,
    UpstreamRequest,
};
use crate::sse::{write_data, write_done};

/// A Bedrock error while building: a request the caller's body cannot express is theirs, the
/// rest is the key's or deployment's config.
fn build_error(provider: &str, e: BedrockError) -> ProviderError {
    match e {
        BedrockError::Translate(t) => provider_error(provider, t),
        other => ProviderError::config(provider, other.to_string()),
    }
}

/// The signed InvokeModel (or InvokeModelWithResponseStream) request.
pub fn build(
    target: &Target<'_>,
    credentials: &Credentials,
    request: &Value,
    opts: &RequestOptions<'_>,
) -> Result<UpstreamRequest, ProviderError> {
    let id = target.provider_id();
    let Credentials::Aws {
        access_key_id,
        secret_access_key,
        session_token,
    } = credentials
    else {
        return Err(ProviderError::config(id, "Bedrock needs AWS access keys"));
    };
    let region = resolve_region(
        target.key_config.region.as_deref(),
        target.endpoint.config.region.as_deref(),
    )
    .map_err(|e| build_error(id, e))?;
    let cross_region = if target.endpoint.cross_region {
        CrossRegion::Geographic
    } else {
        CrossRegion::Off
    };
    let bt = BedrockTarget {
        region,
        model_id: &target.endpoint.provider_model_id,
        cross_region,
        stream: opts.stream,
    };
    let creds = AwsCredentials::new(
        access_key_id.clone(),
        secret_access_key.expose(),
        session_token.as_ref().map(|s| s.expose().to_owned()),
    );
    let filtered = without_unsupported(target.endpoint, request);
    let signed = build_request(&filtered, &bt, &creds, opts.now).map_err(|e| build_error(id, e))?;
    let headers = headers_from_pairs(id, &signed.headers, |name| {
        *name == AUTHORIZATION || name.as_str() == "x-amz-security-token"
    })?;
    Ok(UpstreamRequest {
        method: Method::POST,
        url: rebase_url(target, signed.url, "/model/"),
        headers,
        body: Bytes::from(signed.body),
    })
}

/// A Bedrock event stream → OpenAI SSE. The translator inside always emits the usage chunk; the
/// caller gets it only when they asked.
#[derive(Debug)]
pub struct ChatStream {
    inner: BedrockStream,
    include_usage: bool,
    done: bool,
}

impl ChatStream {
    pub fn new(ex: &Exchange) -> ChatStream {
        ChatStream {
            inner: BedrockStream::new(&ex.model, &ex.request_id),
            include_usage: ex.caller_wants_usage,
            done: false,
        }
    }

    pub fn feed(
        &mut self,
        ex: &Exchange,
        bytes: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), ProviderError> {
        let chunks = self
            .inner
            .feed(bytes)
            .map_err(|e| stream_error(&ex.provider, e))?;
        for c in chunks {
            if !self.include_usage && is_usage_only_chunk(&c) {
                continue;
            }
            write_data(
                out,
                &serde_json::to_vec(&c).expect("a JSON value serialises"),
            );
        }
        if self.inner.is_done() {
            write_done(out);
            self.done = true;
        }
        Ok(())
    }

    /// The upstream closed before `message_stop` (a finished stream is never finished again).
    pub fn finish(&mut self, ex: &Exchange, _out: &mut Vec<u8>) -> Result<(), ProviderError> {
        self.done = true;
        match self.inner.finish() {
            Err(BedrockError::Decode(e)) => Err(ProviderError::stream_interrupted(
                &ex.provider,
                format!("the stream ended mid-frame ({e})"),
            )),
            Err(e) => Err(stream_error(&ex.provider, e)),
            Ok(()) => Err(ProviderError::stream_interrupted(
                &ex.provider,
                "the stream ended before message_stop",
            )),
        }
    }

    pub fn usage(&self) -> &Usage {
        self.inner.usage()
    }

    /// True once `data: [DONE]` has been written.
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// An error inside a Bedrock stream: an exception frame keeps the status AWS documents for it.
fn stream_error(provider: &str, e: BedrockError) -> ProviderError {
    match e {
        BedrockError::Exception(x) => {
            let status = x.status();
            let kind = match status {
                429 => ErrorKind::RateLimited,
                400 => ErrorKind::BadRequest,
                408 => ErrorKind::Timeout,
                _ => ErrorKind::Upstream5xx,
            };
            let mut err = ProviderError::new(provider, kind, x.to_string());
            err.status = Some(status);
            err.retryable = x.retryable();
            err
        }
        BedrockError::Translate(t) => provider_error(provider, t),
        other => ProviderError::invalid_response(provider, other.to_string()),
    }
}

/// The final usage chunk of a translated stream: `choices` empty, `usage` set.
fn is_usage_only_chunk(chunk: &Value) -> bool {
    chunk
        .get("choices")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
        && chunk.get("usage").is_some_and(|u| !u.is_null())
}
