//! AWS Signature Version 4 through the maintained `aws-sigv4` crate.
//!
//! A thin wrapper: it takes the request as plain strings and bytes (the URL already
//! percent-encoded as it will be sent) and returns the headers to add. `aws-sigv4` builds the
//! canonical request the way AWS services other than S3 expect it, which includes encoding the
//! path a second time (`%3A` in the URL becomes `%253A` in the canonical request); the tests hold
//! it to AWS's published signature test vectors.

use std::fmt;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    sign, PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

/// An AWS access key pair, optionally with the session token of temporary credentials.
/// `Debug` never prints the secret or the token.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
}

impl AwsCredentials {
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
    ) -> Self {
        AwsCredentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: session_token.filter(|t| !t.is_empty()),
        }
    }

    /// The secret, for code that must scrub it from text.
    pub fn secret_access_key(&self) -> &str {
        &self.secret_access_key
    }

    pub fn session_token(&self) -> Option<&str> {
        self.session_token.as_deref()
    }
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// What to sign and for whom.
#[derive(Clone, Copy, Debug)]
pub struct SigningScope<'a> {
    /// Region in the credential scope; must be the region of the URL's host.
    pub region: &'a str,
    /// Signing name of the service (`bedrock` for bedrock-runtime).
    pub service: &'a str,
    pub time: SystemTime,
    /// Also send (and sign) `x-amz-content-sha256`, as S3 needs. Bedrock does not.
    pub content_sha256_header: bool,
}

/// The signing failed: a malformed URL or header, or bad scope parameters.
#[derive(Debug, thiserror::Error)]
#[error("SigV4 signing failed: {0}")]
pub struct SigningError(pub String);

/// Signs a request and returns the headers to add to it: `x-amz-date`, `authorization`,
/// `x-amz-security-token` with temporary credentials, and `x-amz-content-sha256` when asked for.
/// `headers` are the headers that will be sent (they are all signed); `host` comes from the URL
/// when absent.
pub fn sign_headers(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    credentials: &AwsCredentials,
    scope: &SigningScope<'_>,
) -> Result<Vec<(String, String)>, SigningError> {
    let identity: Identity = Credentials::new(
        credentials.access_key_id.clone(),
        credentials.secret_access_key.clone(),
        credentials.session_token.clone(),
        None,
        "switchyard",
    )
    .into();
    let mut settings = SigningSettings::default();
    if scope.content_sha256_header {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(scope.region)
        .name(scope.service)
        .time(scope.time)
        .settings(settings)
        .build()
        .map_err(|e| SigningError(e.to_string()))?
        .into();
    let signable = SignableRequest::new(
        method,
        url,
        headers.iter().copied(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| SigningError(e.to_string()))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| SigningError(e.to_string()))?
        .into_parts();
    Ok(instructions
        .headers()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}
