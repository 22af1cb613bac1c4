//! The rate-limit policy grammar: accepted forms, the canonical spelling, and every error,
//! each naming the part that is wrong.

use http::{HeaderMap, HeaderValue};
use rust_decimal::Decimal;
use switchyard_server::governance::policy::{MAX_WINDOW_SECS, MIN_WINDOW_SECS};
use switchyard_server::governance::ratelimit::policies_from_headers;
use switchyard_server::governance::{Policy, PolicyError, ScopeKind, Unit};
use switchyard_server::Config;

fn err(text: &str) -> PolicyError {
    Policy::parse(text).expect_err(text)
}

#[test]
fn helicone_examples_parse() {
    for (text, quota, w, unit, scope) in [
        ("1000;w=3600", "1000", 3600, Unit::Request, ScopeKind::Org),
        (
            "10;w=1000;u=cents;s=user",
            "10",
            1000,
            Unit::Cents,
            ScopeKind::User,
        ),
        (
            "500000;w=86400;s=user",
            "500000",
            86400,
            Unit::Request,
            ScopeKind::User,
        ),
        (
            "300;w=1800;s=organization",
            "300",
            1800,
            Unit::Request,
            ScopeKind::Property("organization".into()),
        ),
        ("0.5;w=60;u=cents", "0.5", 60, Unit::Cents, ScopeKind::Org),
        (
            "20000;w=60;u=tokens;s=key",
            "20000",
            60,
            Unit::Tokens,
            ScopeKind::Key,
        ),
    ] {
        let p = Policy::parse(text).unwrap();
        assert_eq!(p.quota, quota.parse::<Decimal>().unwrap(), "{text}");
        assert_eq!(p.window_secs, w, "{text}");
        assert_eq!(p.unit, unit, "{text}");
        assert_eq!(p.scope, scope, "{text}");
        // The canonical form parses to the same policy.
        assert_eq!(Policy::parse(p.as_str()).unwrap(), p, "{text}");
        assert_eq!(text.parse::<Policy>().unwrap().to_string(), p.as_str());
    }
}

#[test]
fn lenient_where_harmless() {
    // Any order after the quota, case-insensitive names and units, spaces, a trailing `;`.
    let p = Policy::parse(" 100 ; U=Tokens ; S=Team_1 ; W=60 ; ").unwrap();
    assert_eq!(p.as_str(), "100;w=60;u=tokens;s=team_1");
    assert_eq!(
        Policy::parse("100;w=60;u=request;s=USER").unwrap().as_str(),
        "100;w=60;s=user"
    );
    // The window bounds themselves are allowed.
    assert!(Policy::parse(&format!("1;w={MIN_WINDOW_SECS}")).is_ok());
    assert!(Policy::parse(&format!("1;w={MAX_WINDOW_SECS}")).is_ok());
    assert_eq!(
        Policy::parse("2.50;w=60;u=cents").unwrap().as_str(),
        "2.5;w=60;u=cents"
    );
}

#[test]
fn every_error_names_its_part() {
    assert_eq!(err(""), PolicyError::Empty);
    assert_eq!(err("   "), PolicyError::Empty);

    for q in ["abc", "-5", "0", "1e3", "+5", "", " ", "1,5"] {
        let e = err(&format!("{q};w=60"));
        assert!(matches!(e, PolicyError::Quota { .. }), "{q:?}: {e:?}");
        assert!(
            e.to_string()
                .starts_with("quota must be a whole number >= 1"),
            "{e}"
        );
    }
    // Fractions only for cents; tokens are whole too.
    assert_eq!(
        err("1.5;w=60").to_string(),
        "quota must be a whole number >= 1, got \"1.5\""
    );
    assert!(matches!(
        err("1.5;w=60;u=tokens"),
        PolicyError::Quota { .. }
    ));
    for q in ["0", "0.0", ".5", "5.", "-1"] {
        let e = err(&format!("{q};w=60;u=cents"));
        assert_eq!(
            e.to_string(),
            format!("quota must be a positive number of cents, got {q:?}")
        );
    }
    assert!(matches!(
        err("1000000000001;w=60"),
        PolicyError::Quota { .. }
    ));

    assert_eq!(err("100"), PolicyError::MissingWindow);
    assert_eq!(err("100;u=cents;s=user"), PolicyError::MissingWindow);

    for w in ["abc", "", "59", "0", "60.5", "-60", "1e3"] {
        let e = err(&format!("100;w={w}"));
        assert_eq!(e, PolicyError::Window(w.into()), "{w:?}");
        assert_eq!(
            e.to_string(),
            format!("w must be a whole number of seconds >= 60, got {w:?}")
        );
    }
    for w in ["31536001", "99999999999999999999999"] {
        let e = err(&format!("100;w={w}"));
        assert_eq!(e, PolicyError::WindowTooLong(w.into()));
        assert!(
            e.to_string()
                .starts_with("w must be at most 31536000 seconds"),
            "{e}"
        );
    }

    for u in ["requests", "dollars", "", "token"] {
        let e = err(&format!("100;w=60;u={u}"));
        assert_eq!(e, PolicyError::Unit(u.into()));
        assert_eq!(
            e.to_string(),
            format!("u must be request, tokens or cents, got {u:?}")
        );
    }

    let long = "p".repeat(65);
    for s in ["", "a b", "prop.name", "tëam", "x:y", long.as_str()] {
        let e = err(&format!("100;w=60;s={s}"));
        assert_eq!(e, PolicyError::Scope(s.trim().into()), "{s:?}");
        assert!(
            e.to_string()
                .starts_with("s must be user, key or a property name"),
            "{e}"
        );
    }

    assert_eq!(err("100;w60"), PolicyError::Malformed("w60".into()));
    assert_eq!(
        err("100;w60").to_string(),
        "\"w60\" is not a NAME=VALUE parameter (expected w=, u= or s=)"
    );
    assert_eq!(
        err("100;w=60;x=1"),
        PolicyError::UnknownParameter("x".into())
    );
    assert_eq!(
        err("100;w=60;q=1").to_string(),
        "unknown parameter \"q\" (expected w, u or s)"
    );

    assert_eq!(err("100;w=60;w=120"), PolicyError::Duplicate("w"));
    assert_eq!(
        err("100;w=60;u=cents;U=tokens"),
        PolicyError::Duplicate("u")
    );
    assert_eq!(err("100;w=60;s=user;s=key").to_string(), "s is given twice");
}

#[test]
fn lists_and_request_headers() {
    let ps = Policy::parse_list("100;w=60, 1000;w=3600;s=user ,").unwrap();
    assert_eq!(
        ps.iter().map(Policy::as_str).collect::<Vec<_>>(),
        ["100;w=60", "1000;w=3600;s=user"]
    );
    let e = Policy::parse_list("100;w=60, 5;w=60;u=euros").unwrap_err();
    assert_eq!(
        e.to_string(),
        "policy 2 (\"5;w=60;u=euros\"): u must be request, tokens or cents, got \"euros\""
    );

    let mut h = HeaderMap::new();
    assert!(policies_from_headers(&h).unwrap().is_empty());
    h.insert(
        "x-switchyard-ratelimit-policy",
        HeaderValue::from_static("10;w=60"),
    );
    h.append(
        "x-switchyard-ratelimit-policy",
        HeaderValue::from_static("20;w=120;s=key"),
    );
    h.insert(
        "helicone-ratelimit-policy",
        HeaderValue::from_static("30;w=3600;u=cents"),
    );
    let ps = policies_from_headers(&h).unwrap();
    assert_eq!(
        ps.iter().map(Policy::as_str).collect::<Vec<_>>(),
        ["10;w=60", "20;w=120;s=key", "30;w=3600;u=cents"]
    );
    h.insert(
        "helicone-ratelimit-policy",
        HeaderValue::from_static("30;w=30"),
    );
    assert!(policies_from_headers(&h)
        .unwrap_err()
        .to_string()
        .contains("w must be"));
}

#[test]
fn config_section_and_redis_url() {
    let c = Config::load(
        None,
        vec![(
            "SWITCHYARD_REDIS_URL".to_string(),
            "redis://:secret@127.0.0.1:6379/2".to_string(),
        )],
    )
    .unwrap();
    assert_eq!(
        c.redis_url.as_deref(),
        Some("redis://:secret@127.0.0.1:6379/2")
    );
    assert_eq!(c.governance.key_prefix, "switchyard:");
    assert_eq!(c.governance.cache_default_ttl_secs, 7 * 24 * 3600);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "redis_url = \"redis://127.0.0.1:6380\"\n[governance]\nkey_prefix = \"gw1:\"\ncache_max_bytes = 1024\n",
    )
    .unwrap();
    let c = Config::load(Some(&path), vec![]).unwrap();
    assert_eq!(c.redis_url.as_deref(), Some("redis://127.0.0.1:6380"));
    assert_eq!(c.governance.key_prefix, "gw1:");
    assert_eq!(c.governance.cache_max_bytes, 1024);
    assert_eq!(
        c.governance.redis_timeout_ms, 250,
        "unset fields keep defaults"
    );

    // A bad URL names the field and never echoes the value (it may hold a password).
    for url in ["http://127.0.0.1", "rediss://:pw-secret@host"] {
        let e = Config::load(None, vec![("SWITCHYARD_REDIS_URL".into(), url.into())])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("config field `redis_url`"), "{e}");
        assert!(!e.contains("secret") && !e.contains("127.0.0.1"), "{e}");
    }
    std::fs::write(&path, "[governance]\nkey_prefix = \"a{b}\"\n").unwrap();
    let e = Config::load(Some(&path), vec![]).unwrap_err().to_string();
    assert!(e.contains("governance.key_prefix"), "{e}");
    std::fs::write(&path, "[governance]\ncache_ttl = 5\n").unwrap();
    let e = Config::load(Some(&path), vec![]).unwrap_err().to_string();
    assert!(e.contains("cache_ttl"), "{e}");
}
