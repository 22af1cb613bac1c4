//! Vertex (Gemini via the OpenAI-compatible endpoint, Claude via rawPredict) and AI Studio over
//! the fixtures: built requests snapshotted, answers and errors read.

use serde_json::{json, Value};
use switchyard_providers::anthropic::{self, StreamTranslator};
use switchyard_providers::google::{self, auth::ServiceAccount, vertex};

const VERTEX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/vertex");
const AI_STUDIO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/google-ai-studio");

fn read(dir: &str, name: &str) -> Vec<u8> {
    std::fs::read(format!("{dir}/{name}")).unwrap()
}

fn json_fixture(dir: &str, name: &str) -> Value {
    serde_json::from_slice(&read(dir, name)).unwrap()
}

const TOKEN: &str = "ya29.test-access-token";

fn view(r: &vertex::VertexRequest) -> Value {
    json!({
        "url": r.url,
        "headers": r.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "body": r.body,
        "format": format!("{:?}", r.format),
    })
}

#[test]
fn claude_raw_predict_request() {
    let region = vertex::choose_region(None, None, true, false).unwrap();
    assert_eq!(region, "us-east5");
    let sa = ServiceAccount::from_json(
        std::str::from_utf8(&read(VERTEX, "test-service-account.json")).unwrap(),
    )
    .unwrap();
    let project = vertex::choose_project(None, sa.project_id.as_deref()).unwrap();
    let target = vertex::VertexTarget {
        region: &region,
        project: &project,
        model_id: "claude-sonnet-4@20250514",
        publisher: "anthropic",
        stream: false,
    };
    let req = vertex::build_request(&json_fixture(VERTEX, "request_claude.json"), &target, TOKEN)
        .unwrap();
    insta::assert_json_snapshot!("claude_raw_predict_request", view(&req));
    assert_eq!(req.body["anthropic_version"], "vertex-2023-10-16");
    assert!(req.body.get("model").is_none());
    assert!(req.body.get("stream").is_none());
    assert_eq!(req.format, vertex::VertexFormat::Anthropic);
}

#[test]
fn claude_stream_raw_predict_on_the_global_host() {
    let region = vertex::choose_region(Some("europe-west1"), None, true, true).unwrap();
    let target = vertex::VertexTarget {
        region: &region,
        project: "switchyard-test",
        model_id: "claude-sonnet-4@20250514",
        publisher: "anthropic",
        stream: true,
    };
    let req = vertex::build_request(&json_fixture(VERTEX, "request_claude.json"), &target, TOKEN)
        .unwrap();
    assert_eq!(
        req.url,
        "https://aiplatform.googleapis.com/v1/projects/switchyard-test/locations/global/publishers/anthropic/models/claude-sonnet-4@20250514:streamRawPredict"
    );
    assert_eq!(req.body["stream"], true);
}

#[test]
fn gemini_openai_compatible_request() {
    let target = vertex::VertexTarget {
        region: "us-central1",
        project: "switchyard-test",
        model_id: "gemini-2.5-flash",
        publisher: "google",
        stream: true,
    };
    let req = vertex::build_request(&json_fixture(VERTEX, "request_gemini.json"), &target, TOKEN)
        .unwrap();
    insta::assert_json_snapshot!("gemini_openai_request", view(&req));
    assert_eq!(req.body["model"], "google/gemini-2.5-flash");
    assert_eq!(req.format, vertex::VertexFormat::OpenAi);
}

#[test]
fn claude_answers_map_through_the_anthropic_translator() {
    let (v, usage) =
        anthropic::response_to_openai(&read(VERTEX, "claude_response.json"), "claude-sonnet-4")
            .unwrap();
    insta::assert_json_snapshot!("claude_response", v, {".created" => 0});
    assert_eq!((usage.input, usage.output), (Some(12), Some(5)));

    let sse = String::from_utf8(read(VERTEX, "claude_stream.sse")).unwrap();
    let mut t = StreamTranslator::new("claude-sonnet-4", "req-1").with_created(0);
    let mut chunks = Vec::new();
    for frame in sse.split("\n\n").filter(|f| !f.is_empty()) {
        let data = frame
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap();
        chunks.extend(t.on_event(data.as_bytes()).unwrap());
    }
    assert!(t.is_done());
    let text: String = chunks
        .iter()
        .filter_map(|c| {
            c["choices"].get(0)?["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(text, "Hi!");
    assert_eq!((t.usage().input, t.usage().output), (Some(12), Some(5)));
}

#[test]
fn vertex_error_shapes() {
    assert!(vertex::error_message(&read(VERTEX, "error_404.json"))
        .unwrap()
        .starts_with("Publisher Model `projects/switchyard-test"));
    assert!(vertex::error_message(&read(VERTEX, "error_array_429.json"))
        .unwrap()
        .starts_with("Quota exceeded"));
    assert_eq!(
        vertex::error_message(&read(VERTEX, "error_overloaded_529.json")).as_deref(),
        Some("Overloaded")
    );
}

#[test]
fn gemini_usage_from_the_openai_compatible_answers() {
    let v = json_fixture(VERTEX, "response.json");
    let u = google::usage_from_gemini_openai(&v["usage"]);
    assert_eq!(
        (u.input, u.output, u.reasoning),
        (Some(4), Some(41), Some(38))
    );
    let v = json_fixture(AI_STUDIO, "response.json");
    let u = google::usage_from_gemini_openai(&v["usage"]);
    // 21 prompt + 12 completion but 93 in total: the 60 hidden thinking tokens are output.
    assert_eq!(
        (u.input, u.output, u.reasoning),
        (Some(21), Some(72), Some(60))
    );
}

#[test]
fn ai_studio_errors_in_both_shapes() {
    assert_eq!(
        vertex::error_message(&read(AI_STUDIO, "error_400.json")).as_deref(),
        Some("API key not valid. Please pass a valid API key.")
    );
    assert!(vertex::error_message(&read(AI_STUDIO, "error_429.json"))
        .unwrap()
        .starts_with("You exceeded your current quota"));
}

#[test]
fn token_endpoint_answers() {
    let t =
        google::auth::parse_token_response(200, &read(VERTEX, "token_response.json"), 100).unwrap();
    assert_eq!(
        (t.secret(), t.expires_at),
        ("ya29.c.c0ASRK0GZfixture", 3699)
    );
    let e =
        google::auth::parse_token_response(400, &read(VERTEX, "token_error_invalid_grant.json"), 0)
            .unwrap_err();
    assert!(e.to_string().contains("invalid_grant"));
}
