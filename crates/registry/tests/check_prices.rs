//! `check-prices` on a small registry and a small LiteLLM-format fixture: every outcome kind.

use rust_decimal_macros::dec;
use switchyard_registry::check::acknowledged::{parse_acknowledged, Acknowledgement};
use switchyard_registry::check::{check_prices, litellm, Disagreement, PriceCheck};
use switchyard_registry::Registry;
use time::macros::date;

fn provider(id: &str, format: &str, auth: &str, regional: bool) -> String {
    let mut s = format!("[{id}]\nname = \"{id}\"\nbase_url = \"https://{id}.test\"\nformat = \"{format}\"\nchat_path = \"/chat\"\nauth = \"{auth}\"\n");
    if regional {
        s += "required_config = [\"region\"]\ndeployment_config = [\"region\"]\n";
    }
    s + &format!("[{id}.ui]\nlogo = \"/l.svg\"\ndescription = \"d\"\ndocs_url = \"https://{id}.test\"\napi_key_label = \"k\"\napi_key_placeholder = \"k\"\nrelevance = 1\n\n")
}

fn model(id: &str) -> String {
    format!("[{id}]\nname = \"{id}\"\ncontext_length = 1000\nmax_output_tokens = 100\ncreated = \"2025-01-01\"\ninput_modalities = [\"text\"]\noutput_modalities = [\"text\"]\ntokenizer = \"GPT\"\n\n")
}

const ENDPOINTS: &str = r#"
pricing_source = "https://maker.test/pricing"
pricing_checked = "2026-11-01"

[[endpoint]]
model = "x"
provider = "openai"
provider_model_id = "gpt-x"
context_length = 1000
max_completion_tokens = 100
deployments = ["*"]
[[endpoint.pricing]]
input = 0.000002
output = 0.000008
cache = { read = 0.25 }

[[endpoint]]
model = "y"
provider = "openai"
provider_model_id = "gpt-y"
context_length = 1000
max_completion_tokens = 100
deployments = ["*"]
[[endpoint.pricing]]
input = 0.0000011
output = 0.000004
cache_price = { read = 0.0000001 }

[[endpoint]]
model = "only"
provider = "openai"
provider_model_id = "gpt-ours-only"
context_length = 1000
max_completion_tokens = 100
deployments = ["*"]
[[endpoint.pricing]]
input = 0.000001
output = 0.000001

[[endpoint]]
model = "z"
provider = "bedrock"
provider_model_id = "anthropic.claude-z-v1:0"
context_length = 1000
max_completion_tokens = 100
[[endpoint.pricing]]
input = 0.000003
output = 0.000015
cache = { write_5m = 1.25 }
[endpoint.deployments.us-east-1]
provider_model_id = "us.anthropic.claude-z-v1:0"
[[endpoint.deployments.us-east-1.pricing]]
input = 0.0000033
output = 0.0000165
cache = { write_5m = 1.25 }
[endpoint.deployments.eu-west-1]

[[endpoint]]
model = "z"
provider = "chutes"
provider_model_id = "maker/z"
context_length = 1000
max_completion_tokens = 100
deployments = ["*"]
[[endpoint.pricing]]
input = 0.000001
output = 0.000001
"#;

fn registry() -> Registry {
    let providers = [
        provider("openai", "openai", "bearer", false),
        provider("bedrock", "bedrock", "aws-sigv4", true),
        provider("chutes", "openai", "bearer", false),
    ]
    .concat();
    let models = ["x", "y", "only", "z"].map(model).concat();
    Registry::from_files(&[
        ("providers.toml".into(), providers),
        (
            "authors/maker/author.toml".into(),
            "name = \"Maker\"\n".into(),
        ),
        ("authors/maker/models.toml".into(), models),
        ("authors/maker/endpoints.toml".into(), ENDPOINTS.into()),
    ])
    .unwrap_or_else(|e| panic!("{e}"))
}

fn theirs() -> Vec<litellm::TheirEntry> {
    let json = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/litellm/small.json"
    ))
    .unwrap();
    litellm::parse(&json).unwrap()
}

const ACKS: &str = r#"
[[acknowledged]]
provider = "openai"
id = "gpt-y"
field = "input>200k"
reason = "The provider's page lists no long-context tier."

[[acknowledged]]
provider = "openai"
id = "gpt-omitted"
field = "missing"
reason = "Not a chat model on the provider's page."

[[acknowledged]]
provider = "openai"
id = "gpt-x"
field = "output"
reason = "Was wrong once; fixed since."

[[acknowledged]]
provider = "nope"
id = "gpt-x"
field = "input"
reason = "typo"

[[acknowledged]]
provider = "openai"
id = "gpt-x"
field = "price"
reason = "no such field"
"#;

fn run(acks: &str) -> PriceCheck {
    let acks = parse_acknowledged(acks).unwrap();
    check_prices(&registry(), &theirs(), &acks, date!(2026 - 12 - 01))
}

fn fields(r: &PriceCheck) -> Vec<(String, String, Option<String>)> {
    r.disagreements
        .iter()
        .map(|d| (d.endpoint.clone(), d.field.clone(), d.acknowledged.clone()))
        .collect()
}

#[test]
fn every_outcome_kind_is_reported() {
    let r = run(ACKS);
    // Only the providers the list describes get a row: chutes has no entry there.
    let rows: Vec<&str> = r.providers.iter().map(|p| p.provider.as_str()).collect();
    assert_eq!(rows, ["bedrock", "openai"]);
    let openai = &r.providers[1];
    assert_eq!(
        (
            openai.matched,
            openai.agreeing,
            openai.disagreeing,
            openai.acknowledged
        ),
        (2, 1, 1, 1)
    );
    assert_eq!(openai.theirs_missing, 1);
    // Current chat ids: gpt-x, gpt-y, gpt-new, gpt-omitted (gpt-old is deprecated, ft: and
    // embeddings do not count).
    assert_eq!((openai.their_current, openai.we_have), (4, 2));
    assert_eq!(
        (openai.ours_missing, openai.ours_missing_acknowledged),
        (2, 1)
    );
    assert_eq!(openai.coverage_percent(), Some(dec!(50.0)));
    // gpt-omitted is left out on purpose: 2 of the 3 others.
    assert_eq!(
        openai.coverage_percent_excluding_acknowledged(),
        Some(dec!(66.7))
    );
    let bedrock = &r.providers[0];
    assert_eq!(
        (bedrock.matched, bedrock.agreeing, bedrock.disagreeing),
        (2, 2, 0)
    );
    assert_eq!((bedrock.their_current, bedrock.we_have), (1, 1));

    assert_eq!(
        fields(&r),
        [
            ("y:openai:*".into(), "input".into(), None),
            (
                "y:openai:*".into(),
                "input>200k".into(),
                Some("The provider's page lists no long-context tier.".into())
            ),
        ]
    );
    assert_eq!(
        r.disagreements[0],
        Disagreement {
            endpoint: "y:openai:*".into(),
            provider: "openai".into(),
            id: "gpt-y".into(),
            key: "gpt-y".into(),
            field: "input".into(),
            ours: Some(dec!(0.0000011)),
            theirs: dec!(0.000001),
            ratio: Some(dec!(1.1)),
            acknowledged: None,
        }
    );
    let missing: Vec<(&str, bool)> = r
        .ours_missing
        .iter()
        .map(|m| (m.id.as_str(), m.acknowledged.is_some()))
        .collect();
    assert_eq!(missing, [("gpt-new", false), ("gpt-omitted", true)]);
    assert_eq!(r.theirs_missing, ["only:openai:*"]);
    assert_eq!(r.stale.len(), 1);
    assert_eq!(r.stale[0].field, "output");
    let invalid: Vec<&str> = r.invalid.iter().map(|(_, why)| why.as_str()).collect();
    assert_eq!(invalid.len(), 2);
    assert!(
        invalid[0].contains("unknown provider `nope`"),
        "{invalid:?}"
    );
    assert!(
        invalid[1].starts_with("unknown field `price`"),
        "{invalid:?}"
    );
    assert!(!r.is_clean());
}

#[test]
fn regional_entries_price_their_own_deployments() {
    let r = run("");
    // us-east-1 sends the `us.` profile id: matched to the US geography entry at 3.3/16.5, and
    // the eu-west-1 deployment to its region's entry, both agreeing.
    assert!(r.disagreements.iter().all(|d| d.provider != "bedrock"));
    assert_eq!(r.providers[0].matched, 2);
}

#[test]
fn clean_when_every_difference_is_acknowledged() {
    let r = run(ACKS);
    assert_eq!(r.unacknowledged().count(), 1);
    let clean: Vec<Acknowledgement> = parse_acknowledged(ACKS)
        .unwrap()
        .into_iter()
        .filter(|a| a.provider == "openai" && a.field != "output" && a.field != "price")
        .chain([Acknowledgement {
            provider: "openai".into(),
            id: "gpt-y".into(),
            field: "input".into(),
            reason: "The provider's page says 1.10.".into(),
        }])
        .collect();
    let r = check_prices(&registry(), &theirs(), &clean, date!(2026 - 12 - 01));
    assert!(r.is_clean(), "{:#?}", r.disagreements);
    // On a date after gpt-new's deprecation it no longer counts as current.
    let r = check_prices(&registry(), &theirs(), &clean, date!(2027 - 06 - 01));
    assert_eq!(r.providers[1].their_current, 3);
}

#[test]
fn the_acknowledged_file_is_checked_for_shape() {
    let e = parse_acknowledged(
        "[[acknowledged]]\nprovider = \"openai\"\nid = \"x\"\nfield = \"input\"\n",
    )
    .unwrap_err();
    assert!(e.contains("missing field `reason`"), "{e}");
    let e = parse_acknowledged("[[acknowledged]]\nprovider = \"openai\"\nid = \"x\"\nfield = \"input\"\nreason = \"r\"\nnote = 1\n")
        .unwrap_err();
    assert!(e.starts_with("acknowledged[0].note"), "{e}");
    // The repository's file parses.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../registry/acknowledged.toml"
    ))
    .unwrap();
    parse_acknowledged(&text).unwrap();
}
