//! The attempt lists of representative model strings on the embedded registry. A registry data
//! change that moves routing shows up here for review (`cargo insta test -p switchyard-routing --review`).

mod common;

use common::{embedded, lines};
use switchyard_routing::{Availability, ProviderKey};

const STRINGS: &[&str] = &[
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4o:online",
    "claude-sonnet-4",
    "claude-sonnet-4,!openrouter,!anthropic",
    "claude-3.5-sonnet",
    "claude-sonnet-4/bedrock/us-east-1",
    "claude-sonnet-4/vertex, claude-sonnet-4/anthropic, gpt-4o",
    "gpt-4o-mini/azure,gpt-4o-mini/openai/k-openai-2",
    "gemini-2.5-pro",
    "deepseek-r1",
    "kimi-k2",
    "meta-llama/Llama-4-Scout-17B-16E-Instruct/groq",
    "my-org/my-finetune/openai",
    "my-org/my-finetune/groq",
    "gpt-9",
    "gpt-4o/opneai",
    "claude-sonnet-4/anthropic,!anthropic",
];

#[test]
fn attempt_lists_of_representative_model_strings() {
    let r = embedded();
    let avail = Availability::new()
        .with_key(ProviderKey::new("k-openai", "openai"))
        .with_key(ProviderKey::new("k-openai-2", "openai"))
        .with_key(ProviderKey::new("k-aws", "bedrock").with_region("us-west-2"))
        .with_key(ProviderKey::new("k-azure-mini", "azure").for_model("gpt-4o-mini"))
        .with_ptb([
            "openai",
            "anthropic",
            "bedrock",
            "vertex",
            "google-ai-studio",
            "openrouter",
            "groq",
            "deepinfra",
        ]);
    let mut out = String::from(
        "keys: openai k-openai, k-openai-2; bedrock k-aws (us-west-2); azure k-azure-mini (gpt-4o-mini only)\n\
         ptb: openai anthropic bedrock vertex google-ai-studio openrouter groq deepinfra\n",
    );
    for s in STRINGS {
        out += &format!("\n{s}\n");
        match lines(&r, s, &avail) {
            Ok(l) => l
                .iter()
                .enumerate()
                .for_each(|(i, l)| out += &format!("  #{i} {l}\n")),
            Err(e) => out += &format!("  error {} {}: {e}\n", e.http_status(), e.code()),
        }
    }
    insta::assert_snapshot!(out);
}
