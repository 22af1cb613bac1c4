//! Runs one admin command against the store: the command's call to [`Admin`] and its output.

use std::io::Read;

use serde_json::Value;

use switchyard_server::admin::{Admin, LogsParams, ProviderKeyInput};
use switchyard_server::governance::Invalidation;

use super::print::{print_json, print_list, print_one};
use super::*;

/// Runs one command; returns what running gateways should drop from their caches.
pub(super) async fn execute(
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
