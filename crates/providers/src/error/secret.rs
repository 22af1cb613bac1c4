//! Credentials that never print ([`Secret`]) and scrubbing of credential-looking text.

use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// Removes anything that looks like a credential from text that will be logged or returned:
/// bearer tokens, provider key formats, `key=` style query parameters, AWS signatures and
/// access key ids, Google OAuth tokens and JWTs.
pub fn scrub(text: &str) -> String {
    static RULES: LazyLock<(RegexSet, Vec<(Regex, &'static str)>)> = LazyLock::new(|| {
        let rules: Vec<(&str, &str)> = vec![
            (r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=\-]{8,}", "$1 [REDACTED]"),
            (r"(?i)\b(basic)\s+[A-Za-z0-9+/=]{12,}", "$1 [REDACTED]"),
            (
                r"(?i)([?&;\s](?:key|api[_-]?key|apikey|access_token|token|sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature)=)[^&\s\x22',;]+",
                "$1[REDACTED]",
            ),
            (r"(?i)(Signature=)[0-9a-f]{16,}", "$1[REDACTED]"),
            (r"(?i)(Credential=)[A-Z0-9]{16,}/[^\s,]*", "$1[REDACTED]"),
            (r"\b(?:AKIA|ASIA)[0-9A-Z]{12,}\b", "[REDACTED]"),
            (r"\bAIza[0-9A-Za-z_\-]{20,}", "[REDACTED]"),
            (r"\bya29\.[0-9A-Za-z_\-.]+", "[REDACTED]"),
            (
                r"\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*",
                "[REDACTED]",
            ),
            // Provider key formats: sk-/sk_ (OpenAI, Anthropic, OpenRouter, DeepSeek, Novita),
            // gsk_ (Groq), xai-, pplx-, csk- (Cerebras), fw_ (Fireworks), cpk_ (Chutes). OpenAI
            // echoes keys masked with `*`, which is still too much of the key to show.
            (
                r"\b(?:sk|gsk|xai|pplx|csk|fw|cpk|rk|pk)[-_][A-Za-z0-9_\-*]{6,}",
                "[REDACTED]",
            ),
            (
                r#"(?i)((?:api[_-]?key|x-api-key|secret|password)\x22?\s*[:=]\s*\x22?)[^\s\x22',}\[]{6,}"#,
                "$1[REDACTED]",
            ),
        ];
        let set = RegexSet::new(rules.iter().map(|(re, _)| re)).expect("valid scrub regexes");
        let each = rules
            .into_iter()
            .map(|(re, rep)| (Regex::new(re).expect("valid scrub regex"), rep))
            .collect();
        (set, each)
    });
    let (set, rules) = &*RULES;
    // One pass over the text finds which rules apply; most texts (a target URL on every
    // proxied request) match none, and the per-rule passes are skipped.
    let matched = set.matches(text);
    if !matched.matched_any() {
        return text.to_owned();
    }
    let mut out = std::borrow::Cow::Borrowed(text);
    for (i, (re, rep)) in rules.iter().enumerate() {
        if !matched.matched(i) {
            continue;
        }
        if let std::borrow::Cow::Owned(s) = re.replace_all(&out, *rep) {
            out = std::borrow::Cow::Owned(s);
        }
    }
    out.into_owned()
}

/// [`scrub`] plus exact removal of known secret values (at least 6 characters, so a short
/// value cannot blank out ordinary words).
pub fn scrub_known<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if s.len() >= 6 && out.contains(s) {
            out = out.replace(s, "[REDACTED]");
        }
    }
    scrub(&out)
}

/// The workspace's one credential type (defined with the registry, the leaf crate).
pub use switchyard_registry::Secret;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_credentials() {
        let cases = [
            (
                "Incorrect API key provided: sk-proj-abc123************************wxyz. You can find your API key at https://platform.openai.com/account/api-keys.",
                "Incorrect API key provided: [REDACTED]. You can find your API key at https://platform.openai.com/account/api-keys.",
            ),
            ("header was Authorization: Bearer abcdefghijklmnop", "header was Authorization: Bearer [REDACTED]"),
            (
                "GET https://generativelanguage.googleapis.com/v1beta/models/x:generateContent?alt=sse&key=AIzaSyD-abcdefghijklmnopqrstuvwxyz0123 failed",
                "GET https://generativelanguage.googleapis.com/v1beta/models/x:generateContent?alt=sse&key=[REDACTED] failed",
            ),
            (
                "Credential=AKIDEXAMPLE12345678/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
                "Credential=[REDACTED], SignedHeaders=host, Signature=[REDACTED]",
            ),
            ("key id AKIAIOSFODNN7EXAMPLE is unknown", "key id [REDACTED] is unknown"),
            ("invalid key gsk_0123456789abcdefghij", "invalid key [REDACTED]"),
            ("token ya29.a0AfH6SMBx-yz_123 expired", "token [REDACTED] expired"),
            ("{\"api_key\": \"abcdef123456\"}", "{\"api_key\": \"[REDACTED]\"}"),
        ];
        for (input, want) in cases {
            assert_eq!(scrub(input), want, "input: {input}");
        }
        // Ordinary prose is left alone.
        let prose = "The model `gpt-4o` does not exist or you do not have access to it.";
        assert_eq!(scrub(prose), prose);
    }

    #[test]
    fn secret_never_printed() {
        let s = Secret::new("sk-live-123456");
        assert_eq!(format!("{s}"), "[REDACTED]");
        assert_eq!(format!("{s:?}"), "Secret([REDACTED])");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"[REDACTED]\"");
        assert_eq!(s.expose(), "sk-live-123456");
    }
}
