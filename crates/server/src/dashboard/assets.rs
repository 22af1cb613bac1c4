//! Static assets, embedded in the binary: the vendored htmx and uPlot builds (pinned npm
//! versions, licences in `assets/vendor/*/LICENSE`), the dashboard's own CSS and script, and
//! provider logos. Logos: real SVGs from the `simple-icons` package (CC0) for the providers it
//! has, and a generated monogram for every other registry provider, so every `logo` path of
//! `registry/providers.toml` resolves.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

macro_rules! asset {
    ($path:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path))
    };
}

/// `(file name, content type, bytes)` of every asset under `/dashboard/assets/`.
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "htmx.min.js",
        "text/javascript",
        asset!("vendor/htmx/htmx.min.js"),
    ),
    (
        "uPlot.iife.min.js",
        "text/javascript",
        asset!("vendor/uplot/uPlot.iife.min.js"),
    ),
    (
        "uPlot.min.css",
        "text/css",
        asset!("vendor/uplot/uPlot.min.css"),
    ),
    ("dashboard.css", "text/css", asset!("dashboard.css")),
    ("dashboard.js", "text/javascript", asset!("dashboard.js")),
    ("favicon.svg", "image/svg+xml", asset!("favicon.svg")),
    (
        "LICENSES.txt",
        "text/plain; charset=utf-8",
        asset!("LICENSES.txt"),
    ),
];

/// Vendored logos, by the file name the registry uses (`/logos/<name>`).
const LOGOS: &[(&str, &[u8])] = &[
    ("anthropic.svg", asset!("logos/anthropic.svg")),
    ("deepseek.svg", asset!("logos/deepseek.svg")),
    ("google-ai-studio.svg", asset!("logos/google-ai-studio.svg")),
    ("mistral.svg", asset!("logos/mistral.svg")),
    ("openrouter.svg", asset!("logos/openrouter.svg")),
    ("perplexity.svg", asset!("logos/perplexity.svg")),
    ("vertex.svg", asset!("logos/vertex.svg")),
    ("xai.svg", asset!("logos/xai.svg")),
];

fn answer(content_type: &'static str, bytes: Vec<u8>, immutable: bool) -> Response {
    let cache = if immutable {
        // Pages reference assets with `?v=`; a new build changes the version.
        "public, max-age=31536000, immutable"
    } else {
        "public, max-age=3600"
    };
    let mut res = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        ],
        bytes,
    )
        .into_response();
    res.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    res
}

pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, ct, bytes)) => answer(ct, bytes.to_vec(), true),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

pub async fn favicon() -> Response {
    answer("image/svg+xml", asset!("favicon.svg").to_vec(), false)
}

/// A vendored logo, else a monogram for the registry provider whose `ui.logo` is this path.
pub async fn logo(State(state): State<Arc<AppState>>, Path(file): Path<String>) -> Response {
    if let Some((_, bytes)) = LOGOS.iter().find(|(name, _)| *name == file) {
        return answer("image/svg+xml", bytes.to_vec(), false);
    }
    let path = format!("/logos/{file}");
    match state.registry.providers().find(|p| p.ui.logo == path) {
        Some(p) => answer(
            "image/svg+xml",
            monogram(&p.id, &p.name).into_bytes(),
            false,
        ),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Whether a logo path is served from a vendored file (not a monogram).
pub fn has_vendored_logo(path: &str) -> bool {
    path.strip_prefix("/logos/")
        .is_some_and(|f| LOGOS.iter().any(|(name, _)| *name == f))
}

/// A rounded square in a colour derived from the id, with the name's initials.
pub fn monogram(id: &str, name: &str) -> String {
    let hash = id.bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    });
    let hue = hash % 360;
    let words: Vec<&str> = name
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let initials: String = match words.as_slice() {
        [] => "?".into(),
        [one] => one.chars().take(2).collect(),
        [a, b, ..] => a.chars().take(1).chain(b.chars().take(1)).collect(),
    };
    let initials: String = initials
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_uppercase();
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 24 24\" role=\"img\">\
         <title>{}</title><rect width=\"24\" height=\"24\" rx=\"5\" fill=\"hsl({hue},55%,42%)\"/>\
         <text x=\"12\" y=\"16.2\" text-anchor=\"middle\" font-family=\"system-ui,sans-serif\" \
         font-size=\"{}\" font-weight=\"700\" fill=\"#fff\">{initials}</text></svg>",
        xml_escape(name),
        if initials.len() > 1 { 10 } else { 13 },
    )
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monograms_are_stable_and_escaped() {
        let a = monogram("openai", "OpenAI");
        assert_eq!(a, monogram("openai", "OpenAI"));
        assert!(a.contains(">OP</text>"));
        assert!(monogram("x", "Canopy Wave").contains(">CW</text>"));
        assert!(monogram("x", "A<b>").contains("A&lt;b&gt;"));
    }

    #[test]
    fn every_registry_logo_resolves() {
        let r = switchyard_registry::Registry::embedded().unwrap();
        for p in r.providers() {
            let file =
                p.ui.logo
                    .strip_prefix("/logos/")
                    .unwrap_or_else(|| panic!("{}: logo {} is not under /logos/", p.id, p.ui.logo));
            assert!(file.ends_with(".svg"), "{}: {}", p.id, p.ui.logo);
        }
    }
}
