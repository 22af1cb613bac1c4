//! Prices checked by hand against the providers' own pages: one row per price, with the page it
//! was read from. To add one, append a row to `KNOWN`; the test names every row that is wrong.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use switchyard_cost::CacheKind;
use switchyard_registry::Registry;

/// (provider, provider model id, field, USD per 1M tokens, source page).
///
/// `field` is `input`, `output`, `cache_read`, `cache_write_5m`, `cache_write_1h` or `thinking`,
/// optionally with a tier: `input>200k` is the rate of a request of 200,000 tokens or more.
/// Cache fields are what a cached token costs (whichever form the file uses).
const KNOWN: &[(&str, &str, &str, Decimal, &str)] = &[
    (
        "openai",
        "gpt-4o",
        "input",
        dec!(2.5),
        "https://openai.com/api/pricing",
    ),
    (
        "openai",
        "gpt-4o",
        "output",
        dec!(10),
        "https://openai.com/api/pricing",
    ),
    (
        "openai",
        "gpt-4o",
        "cache_read",
        dec!(1.25),
        "https://openai.com/api/pricing",
    ),
    (
        "openai",
        "gpt-4o-mini",
        "input",
        dec!(0.15),
        "https://openai.com/api/pricing",
    ),
    (
        "openai",
        "gpt-4o-mini",
        "output",
        dec!(0.6),
        "https://openai.com/api/pricing",
    ),
    (
        "anthropic",
        "claude-sonnet-4-20250514",
        "input",
        dec!(3),
        "https://www.anthropic.com/pricing",
    ),
    (
        "anthropic",
        "claude-sonnet-4-20250514",
        "output",
        dec!(15),
        "https://www.anthropic.com/pricing",
    ),
    (
        "anthropic",
        "claude-sonnet-4-20250514",
        "cache_read",
        dec!(0.3),
        "https://www.anthropic.com/pricing",
    ),
    (
        "anthropic",
        "claude-sonnet-4-20250514",
        "cache_write_5m",
        dec!(3.75),
        "https://www.anthropic.com/pricing",
    ),
    (
        "anthropic",
        "claude-sonnet-4-20250514",
        "cache_write_1h",
        dec!(6),
        "https://www.anthropic.com/pricing",
    ),
    (
        "anthropic",
        "claude-3-5-haiku-20241022",
        "input",
        dec!(0.8),
        "https://www.anthropic.com/pricing",
    ),
    (
        "anthropic",
        "claude-3-5-haiku-20241022",
        "output",
        dec!(4),
        "https://www.anthropic.com/pricing",
    ),
    (
        "google-ai-studio",
        "gemini-2.5-pro",
        "input",
        dec!(1.25),
        "https://ai.google.dev/gemini-api/docs/pricing",
    ),
    (
        "google-ai-studio",
        "gemini-2.5-pro",
        "output",
        dec!(10),
        "https://ai.google.dev/gemini-api/docs/pricing",
    ),
    (
        "google-ai-studio",
        "gemini-2.5-pro",
        "input>200k",
        dec!(2.5),
        "https://ai.google.dev/gemini-api/docs/pricing",
    ),
    (
        "google-ai-studio",
        "gemini-2.5-pro",
        "output>200k",
        dec!(15),
        "https://ai.google.dev/gemini-api/docs/pricing",
    ),
    (
        "google-ai-studio",
        "gemini-2.5-flash",
        "input",
        dec!(0.3),
        "https://ai.google.dev/gemini-api/docs/pricing",
    ),
    (
        "google-ai-studio",
        "gemini-2.5-flash",
        "output",
        dec!(2.5),
        "https://ai.google.dev/gemini-api/docs/pricing",
    ),
    (
        "xai",
        "grok-4",
        "input",
        dec!(3),
        "https://docs.x.ai/docs/pricing",
    ),
    (
        "xai",
        "grok-4",
        "output",
        dec!(15),
        "https://docs.x.ai/docs/pricing",
    ),
    (
        "xai",
        "grok-3-mini",
        "input",
        dec!(0.3),
        "https://docs.x.ai/docs/pricing",
    ),
    (
        "xai",
        "grok-3-mini",
        "output",
        dec!(0.5),
        "https://docs.x.ai/docs/pricing",
    ),
];

/// The registry's price of `field` (see [`KNOWN`]) in USD per 1M tokens, or why there is none.
fn ours(r: &Registry, provider: &str, pid: &str, field: &str) -> Result<Decimal, String> {
    let e = r
        .endpoint_by_provider_model_id(provider, pid)
        .ok_or_else(|| format!("{pid} is not on {provider}"))?;
    let (name, tokens) = match field.split_once('>') {
        None => (field, 0),
        Some((name, size)) => {
            let k: u64 = size
                .strip_suffix('k')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("bad tier `{size}` (write e.g. input>200k)"))?;
            (name, k * 1000)
        }
    };
    let tier = e.pricing.tier_for(tokens);
    let per_token = match name {
        "input" => Some(tier.input),
        "output" => Some(tier.output),
        "thinking" => Some(tier.thinking.unwrap_or(tier.output)),
        "cache_read" => tier.stated_cache_price(CacheKind::Read),
        "cache_write_5m" => tier.stated_cache_price(CacheKind::Write5m),
        "cache_write_1h" => tier.stated_cache_price(CacheKind::Write1h),
        other => return Err(format!("unknown field `{other}`")),
    };
    per_token
        .map(|p| (p * dec!(1000000)).normalize())
        .ok_or_else(|| format!("no `{name}` price"))
}

#[test]
fn known_prices_match_the_providers_pages() {
    let r = Registry::embedded().expect("the embedded registry is valid");
    let wrong: Vec<String> = KNOWN
        .iter()
        .filter_map(|&(provider, pid, field, expected, source)| {
            match ours(&r, provider, pid, field) {
                Ok(got) if got == expected => None,
                Ok(got) => Some(format!(
                    "{provider} {pid} {field}: registry {got}, {source} says {expected}"
                )),
                Err(why) => Some(format!("{provider} {pid} {field}: {why} ({source})")),
            }
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {} known prices differ:\n{}",
        wrong.len(),
        KNOWN.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_known_price_names_an_http_source() {
    for (provider, pid, field, _, source) in KNOWN {
        assert!(
            source.starts_with("https://"),
            "{provider} {pid} {field}: `{source}`"
        );
    }
}
