//! Checks on a request head before it reaches the router: each is cheap (no body is read) and
//! answers in the one error shape.

use http::Request;

use super::EdgeLimits;
use crate::error::ApiError;

/// The first limit the head breaks, if any.
pub(crate) fn before_routing<B>(req: &Request<B>, limits: &EdgeLimits) -> Option<ApiError> {
    let max_header = limits.server.max_header_bytes;
    if head_size(req) > max_header {
        return Some(ApiError::HeadersTooLarge { limit: max_header });
    }
    // A declared length over the limit is refused before a byte of the body is read.
    if let Some(len) = req.headers().get(http::header::CONTENT_LENGTH) {
        let too_big = len
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .is_some_and(|n| n > limits.max_body_bytes as u64);
        if too_big {
            return Some(ApiError::PayloadTooLarge {
                limit: limits.max_body_bytes,
            });
        }
    }
    if !path_is_valid(req.uri().path()) {
        return Some(ApiError::InvalidPathEncoding);
    }
    None
}

/// The request head's size as HTTP/1 sends it: request line plus `name: value\r\n` lines.
fn head_size<B>(req: &Request<B>) -> usize {
    let line = req.method().as_str().len()
        + req.uri().path_and_query().map_or(1, |p| p.as_str().len())
        + 12;
    req.headers()
        .iter()
        .fold(line, |n, (k, v)| n + k.as_str().len() + v.len() + 4)
}

/// Whether every `%` is followed by two hex digits and the decoded path is UTF-8 (what the
/// router needs to extract path parameters).
fn path_is_valid(path: &str) -> bool {
    let bytes = path.as_bytes();
    if !bytes.contains(&b'%') {
        return true;
    }
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = |b: u8| (b as char).to_digit(16);
            match (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            ) {
                (Some(h), Some(l)) => decoded.push((h * 16 + l) as u8),
                _ => return false,
            }
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_must_be_percent_encoded_utf8() {
        assert!(path_is_valid("/admin/orgs/acme/keys"));
        assert!(path_is_valid("/admin/orgs/caf%C3%A9"));
        assert!(!path_is_valid("/admin/orgs/%ff/keys"));
        assert!(!path_is_valid("/admin/orgs/%zz"));
        assert!(!path_is_valid("/admin/orgs/%4"));
    }

    #[test]
    fn head_size_counts_the_request_line_and_every_header() {
        let req = Request::get("/health")
            .header("x-a", "12345")
            .body(())
            .unwrap();
        assert_eq!(head_size(&req), 3 + 7 + 12 + (3 + 5 + 4));
    }
}
