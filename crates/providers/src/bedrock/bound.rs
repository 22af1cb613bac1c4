//! The usage bound of a Bedrock InvokeModel request: the Claude Messages body it sends.

use serde_json::Value;

use super::invoke::request_body;
use crate::anthropic::bound::messages_bound;
use crate::anthropic::provider_error;
use crate::bound::UsageBound;
use crate::error::ProviderError;
use crate::request::{without_unsupported, Target};

/// The bound of the body `bedrock::build` signs and sends.
pub fn usage_bound(target: &Target<'_>, request: &Value) -> Result<UsageBound, ProviderError> {
    let filtered = without_unsupported(target.endpoint, request);
    let body = request_body(&filtered, &target.endpoint.provider_model_id)
        .map_err(|e| provider_error(target.provider_id(), e))?;
    messages_bound(target, &body)
}
