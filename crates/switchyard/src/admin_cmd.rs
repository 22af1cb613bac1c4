//! `switchyard admin ...`: the admin API's operations run directly against the store the config
//! names (same `--config` and `SWITCHYARD_*` variables as `switchyard serve`). Every command
//! calls [`switchyard_server::admin::Admin`], so it validates exactly like the HTTP API.
//!
//! Changes made here reach a running gateway through the shared store. With `redis_url` set,
//! revocations, provider-key and policy changes are also published on the invalidation bus, so
//! every gateway drops its cached copy within a second; without Redis, running gateways pick
//! them up within 30 s (use the HTTP API of an embedded gateway for an immediate effect).

use clap::{Args, Subcommand};
use serde_json::Value;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use switchyard_server::admin::AdminError;
use switchyard_server::admin::{Admin, LogsParams, ProviderKeyInput};
use switchyard_server::governance::{Governance, Invalidation};
use switchyard_server::Config;

/// A view as JSON (the views live in the server crate; this crate only needs their JSON).
macro_rules! v {
    ($e:expr) => {
        serde_json::to_value(&$e).expect("admin views serialise")
    };
}

#[derive(Args)]
pub struct AdminArgs {
    /// The gateway's TOML config file; `SWITCHYARD_*` environment variables override it.
    #[arg(long, env = "SWITCHYARD_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Subcommand)]
pub enum AdminCommand {
    /// Create, list and configure orgs.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Create, list and revoke gateway keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Grant credits (USD) for pass-through billing.
    #[command(subcommand)]
    Credits(CreditsCommand),
    /// Show an org's balance, held and available credits.
    Balance(OrgOpt),
    /// Show an org's credit ledger, newest first, a page at a time.
    Ledger {
        #[command(flatten)]
        org: OrgOpt,
        /// Rows per page (1-1000).
        #[arg(long)]
        limit: Option<u32>,
        /// Start after this cursor (the `next: ...` line of the previous page).
        #[arg(long)]
        before: Option<String>,
        /// Every row, all pages.
        #[arg(long)]
        all: bool,
    },
    /// Recompute every org's balance from its ledger rows, list open credit leases and their
    /// holds with their age; exits 1 when any org's books do not add up.
    Audit {
        /// Only this org (id or name).
        #[arg(long)]
        org: Option<String>,
    },
    /// Set, remove and list an org's own (BYOK) provider keys.
    #[command(subcommand, name = "provider-key")]
    ProviderKey(ProviderKeyCommand),
    /// Show an org's request log, newest first.
    Logs {
        #[command(flatten)]
        org: OrgOpt,
        /// Rows to show (1-1000).
        #[arg(long)]
        limit: Option<u32>,
        /// Only requests answered with this HTTP status.
        #[arg(long)]
        status: Option<u16>,
        /// Only requests served by this provider.
        #[arg(long)]
        provider: Option<String>,
        /// Only this user's requests (`x-switchyard-user-id` / `Helicone-User-Id`).
        #[arg(long)]
        user: Option<String>,
        /// Only this session's requests.
        #[arg(long)]
        session: Option<String>,
        /// Only requests with this custom property, as `name:value`.
        #[arg(long)]
        property: Option<String>,
    },
    /// Show an org's spend per day, provider and billing mode.
    Spend {
        #[command(flatten)]
        org: OrgOpt,
        /// Days to cover, today included (1-366).
        #[arg(long)]
        days: Option<u32>,
    },
    /// Fill an org's request log with synthetic rows (and their rollups), to try the dashboard
    /// on real volumes. Rows are priced with the registry and spread over the last `--days`.
    #[command(name = "seed-logs")]
    SeedLogs {
        #[command(flatten)]
        org: OrgOpt,
        #[arg(long, default_value_t = 100_000)]
        rows: u64,
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Random seed: the same seed gives the same rows (ids and times aside).
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Args)]
pub struct OrgOpt {
    /// The org's id or (unique) name.
    #[arg(long)]
    pub org: String,
}

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an org; prints its id.
    Create { name: String },
    /// List every org.
    List,
    /// Show one org.
    Show { org: String },
    /// Change an org's settings.
    Set {
        org: String,
        /// Store request and response bodies in the request log.
        #[arg(long, action = clap::ArgAction::Set)]
        store_bodies: bool,
    },
    /// Set or clear an org's rate-limit policy list (`QUOTA;w=SECONDS[;u=UNIT][;s=SCOPE]`).
    #[command(name = "rate-limit")]
    RateLimit {
        org: String,
        /// The policy list, e.g. `1000;w=3600` or `20;w=60;s=user,50000;w=86400;u=tokens`.
        #[arg(long, conflicts_with = "clear", required_unless_present = "clear")]
        policy: Option<String>,
        /// Remove the org's policy.
        #[arg(long)]
        clear: bool,
    },
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create a gateway key; prints it once (the key alone on stdout, details on stderr).
    Create {
        #[command(flatten)]
        org: OrgOpt,
        name: String,
    },
    /// List an org's gateway keys (never the keys themselves).
    List(OrgOpt),
    /// Revoke a gateway key by id.
    Revoke { key_id: String },
    /// Set a key's rate-limit policy list and response-cache switch.
    Set {
        #[command(flatten)]
        org: OrgOpt,
        key_id: String,
        /// The key's policy list (`""` clears it).
        #[arg(long)]
        rate_limit_policy: Option<String>,
        /// Use the response cache for every request with this key.
        #[arg(long, action = clap::ArgAction::Set)]
        cache: Option<bool>,
    },
}

#[derive(Subcommand)]
pub enum CreditsCommand {
    /// Add credits: a USD amount as a decimal, e.g. 12.50 (at most 9 decimal places).
    Add {
        #[command(flatten)]
        org: OrgOpt,
        #[arg(allow_hyphen_values = true)]
        usd: String,
        /// A note stored on the ledger row (e.g. an invoice number).
        #[arg(long)]
        note: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum ProviderKeyCommand {
    /// Store (or replace) a provider key. Secrets may come from flags, environment variables
    /// (`SWITCHYARD_BYOK_*`) or stdin, so they need not land in shell history.
    Set(Box<ProviderKeySetArgs>),
    /// Remove a provider key.
    Remove {
        #[command(flatten)]
        org: OrgOpt,
        provider: String,
        /// The key's name, when it has one.
        #[arg(long)]
        key_name: Option<String>,
    },
    /// List an org's provider keys (metadata only, never secrets).
    List(OrgOpt),
}

#[derive(Args)]
pub struct ProviderKeySetArgs {
    #[command(flatten)]
    pub org: OrgOpt,
    /// Registry provider id, e.g. `openai`, `bedrock`, `vertex`.
    pub provider: String,
    /// Name this key, to hold several per provider (`model/provider/<key name>`).
    #[arg(long)]
    pub key_name: Option<String>,
    /// API key (providers that use one).
    #[arg(long, env = "SWITCHYARD_BYOK_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Read the API key from stdin.
    #[arg(long)]
    pub api_key_stdin: bool,
    /// AWS access key id (Bedrock).
    #[arg(
        long,
        env = "SWITCHYARD_BYOK_AWS_ACCESS_KEY_ID",
        hide_env_values = true
    )]
    pub aws_access_key_id: Option<String>,
    /// AWS secret access key (Bedrock).
    #[arg(
        long,
        env = "SWITCHYARD_BYOK_AWS_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    pub aws_secret_access_key: Option<String>,
    /// Read the AWS secret access key from stdin.
    #[arg(long)]
    pub aws_secret_access_key_stdin: bool,
    /// AWS session token, for temporary credentials.
    #[arg(
        long,
        env = "SWITCHYARD_BYOK_AWS_SESSION_TOKEN",
        hide_env_values = true
    )]
    pub aws_session_token: Option<String>,
    /// A Google service-account key file (Vertex); `-` reads it from stdin.
    #[arg(long)]
    pub service_account_file: Option<PathBuf>,
    #[arg(long)]
    pub region: Option<String>,
    #[arg(long)]
    pub project_id: Option<String>,
    /// Azure resource name.
    #[arg(long)]
    pub resource_name: Option<String>,
    /// Azure deployment name.
    #[arg(long)]
    pub deployment_name: Option<String>,
    #[arg(long)]
    pub api_version: Option<String>,
    /// Base URL override for this key.
    #[arg(long)]
    pub base_uri: Option<String>,
}

/// A failure with its exit code: 2 for what the user can fix, 1 otherwise.
struct Failure(String, u8);

impl From<AdminError> for Failure {
    fn from(e: AdminError) -> Self {
        let code = if e.is_client_error() { 2 } else { 1 };
        Failure(e.to_string(), code)
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure(message.into(), 2)
}

pub fn run(args: AdminArgs, registry: Option<PathBuf>) -> ExitCode {
    let mut config = match Config::load(args.config.as_deref(), std::env::vars()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if registry.is_some() {
        config.registry_dir = registry;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        let registry =
            switchyard_server::load_registry(&config).map_err(|e| Failure(e.to_string(), 2))?;
        let store = switchyard_server::open_store(&config)
            .await
            .map_err(|e| Failure(e.to_string(), 1))?;
        let admin = Admin::new(store.as_ref(), &registry);
        let bus = match config.redis_url.as_deref() {
            Some(url) => Governance::new(&config.governance, Some(url)).ok(),
            None => None,
        };
        let result = execute(&admin, args.command, args.json).await;
        if let (Ok(Some(msg)), Some(g)) = (&result, &bus) {
            if !g.bus.publish(msg.clone()).await {
                eprintln!("warning: Redis did not take the invalidation; gateways pick the change up within 30 s");
            }
        }
        let _ = store.close().await;
        result.map(|_| ())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure(message, code)) => {
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

/// Runs one command; returns what running gateways should drop from their caches.
async fn execute(
    admin: &Admin<'_>,
    command: AdminCommand,
    json: bool,
) -> Result<Option<Invalidation>, Failure> {
    let mut stale = None;
    match command {
        AdminCommand::Org(OrgCommand::Create { name }) => {
            let org = admin.create_org(&name).await?;
            if json {
                print_json(&v!(org));
            } else {
                eprintln!("created org `{}`", org.name);
                println!("{}", org.id);
            }
        }
        AdminCommand::Org(OrgCommand::List) => {
            let orgs = admin.list_orgs().await?;
            print_list(
                json,
                v!(orgs),
                &[
                    "id",
                    "name",
                    "store_bodies",
                    "rate_limit_policy",
                    "created_at",
                ],
            );
        }
        AdminCommand::Org(OrgCommand::Show { org }) => print_one(json, v!(admin.org(&org).await?)),
        AdminCommand::Org(OrgCommand::Set { org, store_bodies }) => {
            let org = admin.set_store_bodies(&org, store_bodies).await?;
            stale = Some(Invalidation::OrgChanged { org_id: org.id });
            print_one(json, v!(org))
        }
        AdminCommand::Org(OrgCommand::RateLimit { org, policy, clear }) => {
            let policy = if clear { None } else { policy };
            let org = admin.set_org_rate_limit(&org, policy.as_deref()).await?;
            stale = Some(Invalidation::PolicyChanged {
                org_id: org.id,
                key_id: None,
            });
            print_one(json, v!(org))
        }
        AdminCommand::Key(KeyCommand::Set {
            org,
            key_id,
            rate_limit_policy,
            cache,
        }) => {
            let key = admin
                .set_key_governance(
                    &org.org,
                    &key_id,
                    rate_limit_policy.as_deref().map(Some),
                    cache,
                )
                .await?;
            stale = Some(Invalidation::PolicyChanged {
                org_id: key.org_id,
                key_id: Some(key.id),
            });
            print_one(json, v!(key))
        }
        AdminCommand::Key(KeyCommand::Create { org, name }) => {
            let key = admin.create_key(&org.org, &name).await?;
            if json {
                print_json(&v!(key));
            } else {
                eprintln!(
                    "created gateway key `{}` (id {}, prefix {}); it is shown only now:",
                    key.name, key.id, key.prefix
                );
                println!("{}", key.key);
            }
        }
        AdminCommand::Key(KeyCommand::List(org)) => {
            let keys = admin.list_keys(&org.org).await?;
            print_list(
                json,
                v!(keys),
                &[
                    "id",
                    "name",
                    "prefix",
                    "rate_limit_policy",
                    "cache_enabled",
                    "created_at",
                    "revoked_at",
                ],
            );
        }
        AdminCommand::Key(KeyCommand::Revoke { key_id }) => {
            let revoked = admin.revoke_key(&key_id).await?;
            stale = Some(Invalidation::GatewayKeyRevoked { key_id: revoked.id });
            if json {
                print_json(&v!(revoked));
            } else {
                println!(
                    "revoked gateway key {} (gateways on the same Redis stop accepting it within 1 s, others within 30 s)",
                    revoked.id
                );
            }
        }
        AdminCommand::Credits(CreditsCommand::Add { org, usd, note }) => {
            let b = admin.add_credits(&org.org, &usd, note.as_deref()).await?;
            print_one(json, v!(b));
        }
        AdminCommand::Balance(org) => print_one(json, v!(admin.balance(&org.org).await?)),
        AdminCommand::Ledger {
            org,
            limit,
            before,
            all,
        } => {
            let mut before = before;
            let mut rows = Vec::new();
            let next = loop {
                let page = admin.ledger(&org.org, limit, before.as_deref()).await?;
                rows.extend(page.data);
                match page.next_before {
                    Some(next) if all => before = Some(next),
                    next => break next,
                }
            };
            if json {
                print_json(&serde_json::json!({"data": v!(rows), "next_before": next}));
            } else {
                print_list(
                    false,
                    v!(rows),
                    &[
                        "created_at",
                        "kind",
                        "amount_usd",
                        "balance_after_usd",
                        "request_id",
                        "note",
                    ],
                );
                if let Some(next) = next {
                    println!("next: --before {next}");
                }
            }
        }
        AdminCommand::Audit { org } => {
            let audits = admin.audit(org.as_deref()).await?;
            let bad = audits.iter().filter(|a| !a.consistent).count();
            if json {
                print_json(&v!(audits));
            } else {
                for a in &audits {
                    let o = &a.audit;
                    println!(
                        "{} ({}): balance {} = ledger {} over {} rows; leased {} = leases {}: {}",
                        o.org_name,
                        o.org_id,
                        o.balance_nanos,
                        o.ledger_sum_nanos,
                        o.ledger_rows,
                        o.leased_nanos,
                        o.leases_sum_nanos,
                        if a.consistent { "ok" } else { "MISMATCH" }
                    );
                    for p in &a.problems {
                        println!("  problem: {p}");
                    }
                    for (l, age) in o.leases.iter().zip(&a.oldest_hold_age_secs) {
                        println!(
                            "  lease of instance {}: {} nano-USD, {} held by {} holds{}, renewed {}, expires {}",
                            l.instance_id,
                            l.amount_nanos,
                            l.held_nanos,
                            l.holds,
                            age.map(|s| format!(" (oldest {s} s)")).unwrap_or_default(),
                            l.renewed_at,
                            l.expires_at
                        );
                    }
                }
                println!("{} orgs audited, {bad} with mismatches", audits.len());
            }
            if bad > 0 {
                return Err(Failure(
                    format!("{bad} org(s) with books that do not add up"),
                    1,
                ));
            }
        }
        AdminCommand::ProviderKey(ProviderKeyCommand::Set(args)) => {
            let (org, provider) = (args.org.org.clone(), args.provider.clone());
            let input = provider_key_input(*args, &mut std::io::stdin().lock())?;
            let view = admin.set_provider_key(&org, &provider, input).await?;
            stale = Some(Invalidation::ProviderKeysChanged {
                org_id: view.info.org_id,
            });
            if json {
                print_json(&v!(view));
            } else {
                let info = &view.info;
                let named = info
                    .key_name
                    .as_deref()
                    .map(|n| format!(" `{n}`"))
                    .unwrap_or_default();
                println!(
                    "stored {} key{named} for `{}` ({}), encrypted",
                    info.secret_kind.as_str(),
                    info.provider,
                    info.org_id
                );
            }
        }
        AdminCommand::ProviderKey(ProviderKeyCommand::Remove {
            org,
            provider,
            key_name,
        }) => {
            let removed = admin
                .remove_provider_key(&org.org, &provider, key_name.as_deref())
                .await?;
            stale = Some(Invalidation::ProviderKeysChanged {
                org_id: removed.org_id,
            });
            if json {
                print_json(&v!(removed));
            } else {
                println!(
                    "removed the `{}` key of org {}",
                    removed.provider, removed.org_id
                );
            }
        }
        AdminCommand::ProviderKey(ProviderKeyCommand::List(org)) => {
            let keys = admin.list_provider_keys(&org.org).await?;
            print_list(
                json,
                v!(keys),
                &[
                    "provider",
                    "key_name",
                    "secret_kind",
                    "config",
                    "updated_at",
                ],
            );
        }
        AdminCommand::Logs {
            org,
            limit,
            status,
            provider,
            user,
            session,
            property,
        } => {
            let rows = admin
                .logs(
                    &org.org,
                    LogsParams {
                        limit,
                        status,
                        provider,
                        user_id: user,
                        session_id: session,
                        property,
                        ..LogsParams::default()
                    },
                )
                .await?;
            print_list(
                json,
                v!(rows),
                &[
                    "created_at",
                    "status",
                    "model",
                    "provider",
                    "billing",
                    "prompt_tokens",
                    "completion_tokens",
                    "cost_usd",
                    "latency_ms",
                    "error_type",
                    "id",
                ],
            );
        }
        AdminCommand::SeedLogs {
            org,
            rows,
            days,
            seed,
        } => {
            let org = admin.org(&org.org).await?;
            let started = std::time::Instant::now();
            let written = switchyard_server::dashboard::seed::seed_logs(
                admin.store,
                admin.registry,
                org.id,
                rows,
                days,
                seed,
            )
            .await
            .map_err(|e| Failure(e.to_string(), 1))?;
            if json {
                print_json(
                    &serde_json::json!({"org_id": org.id, "rows": written, "seconds": started.elapsed().as_secs_f64()}),
                );
            } else {
                println!(
                    "wrote {written} request-log rows for `{}` over {days} days in {:.1} s",
                    org.name,
                    started.elapsed().as_secs_f64()
                );
            }
        }
        AdminCommand::Spend { org, days } => {
            let report = admin.spend(&org.org, days).await?;
            if json {
                print_json(&v!(report));
            } else {
                print_list(
                    false,
                    v!(report.rows),
                    &[
                        "day",
                        "provider",
                        "billing",
                        "requests",
                        "cost_usd",
                        "unpriced_requests",
                        "prompt_tokens",
                        "completion_tokens",
                    ],
                );
                println!(
                    "total over {} days: {} requests, {} USD, {} unpriced",
                    report.days,
                    report.total_requests,
                    report.total_cost_usd,
                    report.total_unpriced_requests
                );
            }
        }
    }
    Ok(stale)
}

/// Builds the API's input from the flags, reading at most one secret from `stdin`.
fn provider_key_input(
    args: ProviderKeySetArgs,
    stdin: &mut dyn Read,
) -> Result<ProviderKeyInput, Failure> {
    let from_stdin = [
        args.api_key_stdin,
        args.aws_secret_access_key_stdin,
        args.service_account_file.as_deref() == Some(std::path::Path::new("-")),
    ];
    if from_stdin.iter().filter(|b| **b).count() > 1 {
        return Err(usage("only one secret can be read from stdin"));
    }
    let mut read_stdin = |what: &str| -> Result<String, Failure> {
        let mut text = String::new();
        stdin
            .read_to_string(&mut text)
            .map_err(|e| Failure(format!("cannot read {what} from stdin: {e}"), 1))?;
        let text = text.trim_end_matches(['\n', '\r']).to_owned();
        if text.trim().is_empty() {
            return Err(usage(format!("stdin gave an empty {what}")));
        }
        Ok(text)
    };
    let api_key = match (args.api_key, args.api_key_stdin) {
        (Some(_), true) => {
            return Err(usage(
                "give --api-key (or SWITCHYARD_BYOK_API_KEY) or --api-key-stdin, not both",
            ))
        }
        (_, true) => Some(read_stdin("API key")?),
        (k, false) => k,
    };
    let aws_secret_access_key = match (args.aws_secret_access_key, args.aws_secret_access_key_stdin)
    {
        (Some(_), true) => {
            return Err(usage(
                "give --aws-secret-access-key or --aws-secret-access-key-stdin, not both",
            ))
        }
        (_, true) => Some(read_stdin("AWS secret access key")?),
        (k, false) => k,
    };
    let service_account_json = match args.service_account_file {
        None => None,
        Some(path) if path.as_os_str() == "-" => {
            Some(Value::String(read_stdin("service-account JSON")?))
        }
        Some(path) => Some(Value::String(std::fs::read_to_string(&path).map_err(
            |e| {
                usage(format!(
                    "cannot read --service-account-file {}: {e}",
                    path.display()
                ))
            },
        )?)),
    };
    Ok(ProviderKeyInput {
        key_name: args.key_name,
        api_key,
        aws_access_key_id: args.aws_access_key_id,
        aws_secret_access_key,
        aws_session_token: args.aws_session_token,
        service_account_json,
        region: args.region,
        project_id: args.project_id,
        resource_name: args.resource_name,
        deployment_name: args.deployment_name,
        api_version: args.api_version,
        base_uri: args.base_uri,
    })
}

fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON prints")
    );
}

/// One object: JSON, or `field: value` lines.
fn print_one(json: bool, value: Value) {
    if json {
        return print_json(&value);
    }
    if let Value::Object(map) = value {
        let width = map.keys().map(String::len).max().unwrap_or(0);
        for (k, v) in &map {
            println!("{k:<width$}  {}", cell(v));
        }
    }
}

/// A list: JSON, or a table of the named columns.
fn print_list(json: bool, rows: Value, columns: &[&str]) {
    if json {
        return print_json(&rows);
    }
    let rows = match rows {
        Value::Array(rows) if !rows.is_empty() => rows,
        _ => {
            println!("(none)");
            return;
        }
    };
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| columns.iter().map(|c| cell(&r[*c])).collect())
        .collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].len())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |values: Vec<String>| {
        let parts: Vec<String> = values
            .iter()
            .zip(&widths)
            .map(|(v, w)| format!("{v:<w$}"))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(columns.iter().map(|c| c.to_uppercase()).collect());
    for row in cells {
        line(row);
    }
}

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Object(m) if m.is_empty() => "-".into(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", cell(v)))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: AdminCommand,
    }

    fn set_args(argv: &[&str]) -> ProviderKeySetArgs {
        let mut full = vec!["t", "provider-key", "set"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).unwrap().command {
            AdminCommand::ProviderKey(ProviderKeyCommand::Set(a)) => *a,
            _ => panic!("not provider-key set"),
        }
    }

    #[test]
    fn api_key_from_stdin_drops_the_newline() {
        let args = set_args(&["--org", "acme", "openai", "--api-key-stdin"]);
        let input = provider_key_input(args, &mut "sk-from-stdin\n".as_bytes())
            .map_err(|f| f.0)
            .unwrap();
        assert_eq!(input.api_key.as_deref(), Some("sk-from-stdin"));
    }

    #[test]
    fn two_stdin_secrets_or_flag_plus_stdin_are_refused() {
        let args = set_args(&[
            "--org",
            "a",
            "bedrock",
            "--api-key-stdin",
            "--aws-secret-access-key-stdin",
        ]);
        assert!(provider_key_input(args, &mut "x".as_bytes()).is_err_and(|f| f.1 == 2));
        let args = set_args(&["--org", "a", "openai", "--api-key", "k", "--api-key-stdin"]);
        assert!(provider_key_input(args, &mut "x".as_bytes()).is_err_and(|f| f.1 == 2));
        let args = set_args(&["--org", "a", "openai", "--api-key-stdin"]);
        assert!(
            provider_key_input(args, &mut "\n".as_bytes()).is_err_and(|f| f.0.contains("empty"))
        );
    }

    #[test]
    fn negative_amounts_reach_validation() {
        let cli = Cli::try_parse_from(["t", "credits", "add", "--org", "a", "-5"]).unwrap();
        assert!(
            matches!(cli.command, AdminCommand::Credits(CreditsCommand::Add { usd, .. }) if usd == "-5")
        );
    }

    #[test]
    fn org_is_required() {
        assert!(Cli::try_parse_from(["t", "balance"]).is_err());
        assert!(Cli::try_parse_from(["t", "key", "create", "ci"]).is_err());
    }
}
