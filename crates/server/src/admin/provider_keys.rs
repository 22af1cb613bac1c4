//! BYOK provider keys going in: the input (one kind of secret plus settings), its checks
//! against the provider's registry entry (auth style, required settings), and the last 4
//! characters recorded to tell keys apart. Messages name fields, never echo a secret.

use serde::Deserialize;
use serde_json::Value;
use switchyard_registry::{AuthStyle, ConfigField, Registry};
use switchyard_store::{DeploymentConfig, NewProviderKey, OrgId, ProviderSecret, Secret};

use super::service::AdminError;

const MAX_KEY_NAME_LEN: usize = 64;

fn bad(message: impl Into<String>, param: &'static str) -> AdminError {
    AdminError::invalid(message, Some(param))
}

/// A BYOK provider key to store: exactly one kind of secret plus the provider's settings.
/// Deliberately no `Debug`: it carries secrets.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderKeyInput {
    pub key_name: Option<String>,
    pub api_key: Option<String>,
    pub aws_access_key_id: Option<String>,
    pub aws_secret_access_key: Option<String>,
    pub aws_session_token: Option<String>,
    /// The service-account key file's JSON, as a string or as the object itself.
    pub service_account_json: Option<Value>,
    pub region: Option<String>,
    pub project_id: Option<String>,
    pub resource_name: Option<String>,
    pub deployment_name: Option<String>,
    pub api_version: Option<String>,
    pub base_uri: Option<String>,
}

impl ProviderKeyInput {
    /// Reads the input from a parsed JSON body. Type errors name the field but, unlike serde's
    /// own messages, never echo the value (it may be a secret).
    pub fn from_json(body: Value) -> Result<ProviderKeyInput, AdminError> {
        let Value::Object(fields) = &body else {
            return Err(AdminError::invalid(
                "request body must be a JSON object",
                None,
            ));
        };
        for (name, value) in fields {
            if name != "service_account_json" && !matches!(value, Value::String(_) | Value::Null) {
                return Err(AdminError::invalid(
                    format!("`{name}` must be a string"),
                    None,
                ));
            }
        }
        serde_json::from_value(body)
            .map_err(|e| AdminError::invalid(format!("invalid JSON body: {e}"), None))
    }
}

pub(crate) fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

fn check_key_name(name: &str) -> Result<(), AdminError> {
    // Key names are addressed in model strings (`model/provider/<key name>`), so no separators.
    let ok = name.len() <= MAX_KEY_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(bad(format!("`key_name` must be 1-{MAX_KEY_NAME_LEN} characters of letters, digits, '-', '_' or '.'"), "key_name"))
    }
}

/// The last 4 characters of a secret, to tell keys apart: never for secrets so short that 4
/// characters would give much of them away. AWS: of the access key id; Google: of the key id.
pub(crate) fn secret_hint(secret: &ProviderSecret) -> Option<String> {
    let text = match secret {
        ProviderSecret::ApiKey(k) => k.expose().to_owned(),
        ProviderSecret::Aws { access_key_id, .. } => access_key_id.expose().to_owned(),
        ProviderSecret::ServiceAccount(json) => serde_json::from_str::<Value>(json.expose())
            .ok()?
            .get("private_key_id")?
            .as_str()?
            .to_owned(),
    };
    let chars: Vec<char> = text.trim().chars().collect();
    (chars.len() >= 12).then(|| chars[chars.len() - 4..].iter().collect())
}

fn auth_style_label(auth: AuthStyle) -> &'static str {
    match auth {
        AuthStyle::AwsSigv4 => "AWS SigV4: send `aws_access_key_id` and `aws_secret_access_key` (and optionally `aws_session_token`)",
        AuthStyle::GoogleServiceAccount => "a Google service account: send `service_account_json` (the key file's JSON)",
        AuthStyle::Bearer | AuthStyle::XApiKey | AuthStyle::ApiKey => "an API key: send `api_key`",
    }
}

/// Checks a key against its provider and builds what the store keeps.
pub(crate) fn validate(
    registry: &Registry,
    org_id: OrgId,
    provider: &str,
    input: ProviderKeyInput,
) -> Result<NewProviderKey, AdminError> {
    let provider = provider.trim();
    let Some(p) = registry.provider(provider) else {
        let known: Vec<&str> = registry.providers().map(|p| p.id.as_str()).collect();
        return Err(bad(
            format!(
                "unknown provider `{provider}`; valid providers: {}",
                known.join(", ")
            ),
            "provider",
        ));
    };
    let ProviderKeyInput {
        key_name,
        api_key,
        aws_access_key_id,
        aws_secret_access_key,
        aws_session_token,
        service_account_json,
        region,
        project_id,
        resource_name,
        deployment_name,
        api_version,
        base_uri,
    } = input;
    let (api_key, aws_id, aws_secret, aws_token) = (
        clean(api_key),
        clean(aws_access_key_id),
        clean(aws_secret_access_key),
        clean(aws_session_token),
    );
    let sa_json = match service_account_json {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => clean(Some(s)),
        Some(v @ Value::Object(_)) => Some(v.to_string()),
        Some(_) => {
            return Err(bad(
                "`service_account_json` must be the key file's JSON, as an object or a string",
                "service_account_json",
            ))
        }
    };
    let has_aws = aws_id.is_some() || aws_secret.is_some() || aws_token.is_some();
    let kinds = [api_key.is_some(), has_aws, sa_json.is_some()]
        .into_iter()
        .filter(|k| *k)
        .count();
    let wants = auth_style_label(p.auth);
    if kinds == 0 {
        return Err(bad(
            format!(
                "no secret given: provider `{}` authenticates with {wants}",
                p.id
            ),
            "api_key",
        ));
    }
    if kinds > 1 {
        return Err(bad(
            format!("send exactly one kind of secret (`api_key`, the AWS pair, or `service_account_json`); provider `{}` authenticates with {wants}", p.id),
            "api_key",
        ));
    }
    let mut project_id = clean(project_id);
    let secret = match p.auth {
        AuthStyle::AwsSigv4 => {
            if !has_aws {
                return Err(bad(
                    format!(
                        "wrong kind of secret: provider `{}` authenticates with {wants}",
                        p.id
                    ),
                    "aws_access_key_id",
                ));
            }
            let id = aws_id.ok_or_else(|| {
                bad(
                    "`aws_access_key_id` is missing (it goes with `aws_secret_access_key`)",
                    "aws_access_key_id",
                )
            })?;
            let secret = aws_secret.ok_or_else(|| {
                bad(
                    "`aws_secret_access_key` is missing (it goes with `aws_access_key_id`)",
                    "aws_secret_access_key",
                )
            })?;
            ProviderSecret::Aws {
                access_key_id: Secret::new(id),
                secret_access_key: Secret::new(secret),
                session_token: aws_token.map(Secret::new),
            }
        }
        AuthStyle::GoogleServiceAccount => {
            let Some(json) = sa_json else {
                return Err(bad(
                    format!(
                        "wrong kind of secret: provider `{}` authenticates with {wants}",
                        p.id
                    ),
                    "service_account_json",
                ));
            };
            switchyard_providers::google::auth::ServiceAccount::from_json(&json).map_err(|e| {
                bad(
                    format!("`service_account_json`: {e}"),
                    "service_account_json",
                )
            })?;
            // The key file names its project; use it when none is given.
            if project_id.is_none() {
                project_id = serde_json::from_str::<Value>(&json)
                    .ok()
                    .and_then(|v| v.get("project_id")?.as_str().map(str::to_owned))
                    .filter(|s| !s.is_empty());
            }
            ProviderSecret::ServiceAccount(Secret::new(json))
        }
        AuthStyle::Bearer | AuthStyle::XApiKey | AuthStyle::ApiKey => {
            let Some(key) = api_key else {
                return Err(bad(
                    format!(
                        "wrong kind of secret: provider `{}` authenticates with {wants}",
                        p.id
                    ),
                    "api_key",
                ));
            };
            ProviderSecret::ApiKey(Secret::new(key))
        }
    };
    let config = DeploymentConfig {
        region: clean(region),
        project_id,
        resource_name: clean(resource_name),
        deployment_name: clean(deployment_name),
        api_version: clean(api_version),
        base_uri: clean(base_uri),
    };
    for field in &p.required_config {
        let present = match field {
            ConfigField::Region => config.region.is_some(),
            ConfigField::ProjectId => config.project_id.is_some(),
            ConfigField::ResourceName => config.resource_name.is_some(),
            ConfigField::DeploymentName => config.deployment_name.is_some(),
            ConfigField::ApiVersion => config.api_version.is_some(),
            ConfigField::BaseUri => config.base_uri.is_some(),
        };
        if !present {
            let name = field.as_str();
            return Err(bad(format!("provider `{}` requires `{name}`", p.id), name));
        }
    }
    if let Some(uri) = &config.base_uri {
        if !(uri.starts_with("http://") || uri.starts_with("https://")) {
            return Err(bad(
                format!("`base_uri` must be an http(s) URL, got `{uri}`"),
                "base_uri",
            ));
        }
    }
    let key_name = clean(key_name);
    if let Some(n) = &key_name {
        check_key_name(n)?;
    }
    Ok(NewProviderKey {
        org_id,
        provider: p.id.clone(),
        key_name,
        config,
        secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_hints_are_the_last_four_of_long_secrets_only() {
        let key = |k: &str| secret_hint(&ProviderSecret::ApiKey(Secret::new(k)));
        assert_eq!(key("sk-0123456789abcd").as_deref(), Some("abcd"));
        assert_eq!(key("short-key"), None);
        let aws = ProviderSecret::Aws {
            access_key_id: Secret::new("AKIAEXAMPLE0000WXYZ"),
            secret_access_key: Secret::new("never-shown-secret-access-key"),
            session_token: None,
        };
        assert_eq!(secret_hint(&aws).as_deref(), Some("WXYZ"));
        let sa = ProviderSecret::ServiceAccount(Secret::new(
            r#"{"private_key_id": "0123456789abcdef9876", "private_key": "-----BEGIN"}"#,
        ));
        assert_eq!(secret_hint(&sa).as_deref(), Some("9876"));
    }

    #[test]
    fn key_names_fit_model_strings() {
        assert!(check_key_name("prod-eu_1.a").is_ok());
        for bad in ["a/b", "a,b", "!a", "a b", &"x".repeat(65)] {
            assert!(check_key_name(bad).is_err(), "{bad}");
        }
    }
}
