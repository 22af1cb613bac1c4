//! Prices checked by hand against the providers' own pages: one row per price, with the page it
//! was read from. To add one, add a `[[price]]` to a file of `tests/known_prices/`; the test
//! names every row that is wrong.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use switchyard_cost::CacheKind;
use switchyard_registry::Registry;

/// One price read from a provider's page.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Known {
    provider: String,
    id: String,
    /// `input`, `output`, `cache_read`, `cache_write_5m`, `cache_write_1h` or `thinking`,
    /// optionally with a tier: `input>200k` is the rate of a request of 200,000 tokens or more.
    /// Cache fields are what a cached token costs (whichever form the file uses).
    field: String,
    usd_per_million: Decimal,
    source: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct KnownFile {
    price: Vec<Known>,
}

/// Every row of `tests/known_prices/*.toml` (one file per group of providers).
fn known() -> Vec<Known> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/known_prices");
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .flat_map(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            toml::from_str::<KnownFile>(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
                .price
        })
        .collect()
}

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
    let known = known();
    let wrong: Vec<String> = known
        .iter()
        .filter_map(|k| {
            let (provider, pid, field, expected, source) =
                (&k.provider, &k.id, &k.field, k.usd_per_million, &k.source);
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
        known.len(),
        wrong.join("\n")
    );
}

#[test]
fn every_known_price_names_an_http_source() {
    for k in known() {
        assert!(
            k.source.starts_with("https://"),
            "{} {} {}: `{}`",
            k.provider,
            k.id,
            k.field,
            k.source
        );
    }
}
