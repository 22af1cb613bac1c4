//! The crate's layout rule, checked: the file-level `use` graph of `src/` has no cycle (no file
//! imports one that imports it), the dispatcher is the only file that imports every provider
//! module, and the shared leaf modules import no provider module back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`anthropic::request`) → the file's source without its test module.
fn modules() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("src is readable") {
            let path: PathBuf = entry.expect("dir entry").path();
            if path.is_dir() {
                walk(&path, root, out);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let rel = path.strip_prefix(root).expect("under src");
            let mut segs: Vec<String> = rel
                .with_extension("")
                .iter()
                .map(|s| s.to_string_lossy().into_owned())
                .collect();
            if segs.last().map(String::as_str) == Some("mod") || segs == ["lib"] {
                segs.pop();
            }
            let src = std::fs::read_to_string(&path).expect("source is readable");
            // Test modules may `use super::*`; they are not part of the layout.
            let src = src.split("#[cfg(test)]").next().unwrap_or("").to_owned();
            out.insert(segs.join("::"), src);
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    walk(&root, &root, &mut out);
    out
}

/// The `use` paths of a file, `{a, b}` groups expanded one level.
fn use_paths(src: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("use ") {
        let before = &rest[..i];
        let line_start = before.rfind('\n').map_or(0, |n| n + 1);
        let prefix = before[line_start..].trim();
        let is_stmt = prefix.is_empty() || prefix.starts_with("pub");
        let Some(end) = rest[i..].find(';') else {
            break;
        };
        let stmt: String = rest[i + 4..i + end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        rest = &rest[i + end..];
        if !is_stmt || prefix.starts_with("//") {
            continue;
        }
        let (base, group) = stmt.split_once('{').unwrap_or((&stmt, ""));
        let items: Vec<&str> = if group.is_empty() {
            vec![""]
        } else {
            group.trim_end_matches('}').split(',').collect()
        };
        for item in items {
            let full = format!("{base}{item}");
            out.push(
                full.split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            );
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules();
    let resolve = |segs: &[String]| -> Option<String> {
        (0..=segs.len())
            .rev()
            .map(|n| segs[..n].join("::"))
            .find(|m| mods.contains_key(m))
    };
    let mut edges = BTreeMap::new();
    for (m, src) in &mods {
        let cur: Vec<String> = m
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        let mut out = BTreeSet::new();
        for segs in use_paths(src) {
            let abs: Vec<String> = match segs.first().map(String::as_str) {
                Some("crate") => segs[1..].to_vec(),
                Some("super") => {
                    let mut parent = cur.clone();
                    let mut s = &segs[..];
                    while s.first().map(String::as_str) == Some("super") {
                        parent.pop();
                        s = &s[1..];
                    }
                    parent.extend(s.iter().cloned());
                    parent
                }
                Some("self") => cur.iter().chain(&segs[1..]).cloned().collect(),
                // A child module (`pub use request::x` in a mod.rs), else an external crate.
                Some(_) => {
                    let child: Vec<String> = cur.iter().chain(&segs).cloned().collect();
                    match resolve(&child) {
                        Some(t) if t != *m => child,
                        _ => continue,
                    }
                }
                None => continue,
            };
            if let Some(t) = resolve(&abs).filter(|t| t != m) {
                out.insert(t);
            }
        }
        edges.insert(m.clone(), out);
    }
    edges
}

#[test]
fn use_graph_has_no_cycle() {
    let edges = graph();
    // Kahn's algorithm: whatever is left after removing every node without imports is a cycle.
    let mut remaining = edges.clone();
    loop {
        let leaves: Vec<String> = remaining
            .iter()
            .filter(|(_, out)| out.iter().all(|t| !remaining.contains_key(t)))
            .map(|(m, _)| m.clone())
            .collect();
        if leaves.is_empty() {
            break;
        }
        for l in leaves {
            remaining.remove(&l);
        }
    }
    assert!(
        remaining.is_empty(),
        "files that import each other: {:#?}",
        remaining
    );
    // The check can fail: the graph it walks is the real one.
    assert!(edges["adapter"].contains("openai"), "{edges:#?}");
    assert!(
        edges["anthropic::upstream"].contains("request"),
        "{edges:#?}"
    );
}

#[test]
fn shared_modules_are_leaves() {
    let edges = graph();
    let providers = [
        "anthropic",
        "azure",
        "bedrock",
        "google",
        "openai",
        "adapter",
        "tap",
    ];
    for leaf in ["request", "exchange", "error", "sse", "usage"] {
        let bad: Vec<&String> = edges[leaf]
            .iter()
            .filter(|t| providers.iter().any(|p| t.split("::").next() == Some(p)))
            .collect();
        assert!(bad.is_empty(), "{leaf} imports {bad:?}");
    }
    // Only the dispatcher (and the crate root re-exporting it) imports it.
    for (m, out) in &edges {
        if out.contains("adapter") {
            assert!(m.is_empty(), "{m} imports the dispatcher");
        }
    }
}
