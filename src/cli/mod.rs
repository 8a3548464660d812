//! Headless subcommands: each maps to service calls and prints a table or, with `--json`, JSON
//! (camelCase fields, amounts as decimal strings). Errors print one line (or a JSON object) to
//! stderr; the exit status is 2 for bad input and 1 for other failures.

pub mod args;
pub mod bench;

/// `println!` for command output. A reader that stops early (`escrowgrid ledger list --json |
/// head`) closes the pipe: that ends the command quietly with status 0 instead of a panic, as
/// other Unix tools do.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::write_stdout(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// `completions` and `man`: documents made from the argument definitions; no store, no config.
pub fn print_docs(command: &Command) -> std::io::Result<()> {
    use clap::CommandFactory;
    let mut cli = args::Cli::command();
    let mut out = Vec::new();
    match command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut cli, "escrowgrid", &mut out);
        }
        _ => clap_mangen::Man::new(cli).render(&mut out)?,
    }
    outln!("{}", String::from_utf8_lossy(&out).trim_end());
    Ok(())
}

/// `health` when the store cannot even be opened: what it knows, and the reason.
pub fn print_unreachable(
    backend: crate::service::Backend,
    target: &str,
    e: &crate::service::StoreError,
    log_file: Option<&str>,
    json: bool,
) {
    if json {
        print_json(&json!({
            "backend": backend, "target": target, "connected": false,
            "error": e.to_string(), "logFile": log_file,
        }));
    } else {
        outln!("backend:   {backend}\ntarget:    {target}\nconnected: NO\nerror:     {e}");
    }
}

pub fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write the output: {e}");
        std::process::exit(1);
    }
}

use crate::domain::{LedgerKind, Outcome, PositionState, text::sanitize};
use crate::service::stream::{StreamFilter, StreamItem, StreamStatus};
use crate::service::{
    Actor, NewAsset, NewInstitution, NewPosition, NewTemplate, PolicyInput, Service, ServiceError,
    ServiceResult, TransitionRequest,
};
use crate::service::{AuditQuery, LedgerQuery, Page, PositionFilter, PositionQuery};
use args::*;
use comfy_table::{Table, presets};
use serde::Serialize;
use serde_json::{Value, json};

/// Reads a JSON object argument: inline JSON, or `@path` to read it from a file.
pub fn json_arg(field: &str, raw: &str) -> ServiceResult<Value> {
    let text = match raw.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| ServiceError::field(field, format!("cannot read {path}: {e}")))?,
        None => raw.to_string(),
    };
    serde_json::from_str(&text)
        .map_err(|e| ServiceError::field(field, format!("is not valid JSON: {e}")))
}

pub(crate) fn print_json<T: Serialize>(v: &T) {
    outln!(
        "{}",
        serde_json::to_string_pretty(v).expect("serialisable output")
    );
}

/// Prints a table; every cell is sanitised (database text is untrusted).
fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    let mut t = Table::new();
    t.load_style(presets::NOTHING);
    t.set_header(headers.iter().map(|h| h.to_string()));
    for r in rows {
        t.add_row(r.into_iter().map(|c| sanitize(&c).into_owned()));
    }
    outln!("{t}");
}

fn s(x: &str) -> String {
    sanitize(x).into_owned()
}

fn ts(t: &crate::domain::time::Timestamp) -> String {
    crate::domain::time::format(t)
}

fn short_hash(h: &str) -> String {
    h.chars().take(12).collect()
}

/// `{data, pagination}` for JSON lists; `next` is the cursor for the following page.
fn print_page<T: Serialize>(json: bool, data: &[T], limit: u32, next: Option<String>) -> bool {
    if json {
        print_json(&json!({
            "data": data,
            "pagination": {"limit": limit, "hasMore": next.is_some(), "nextAfter": next},
        }));
    }
    json
}

fn check_limit(limit: u32) -> ServiceResult<u32> {
    if (1..=1000).contains(&limit) {
        Ok(limit)
    } else {
        Err(ServiceError::field("limit", "must be between 1 and 1000"))
    }
}

fn parse_state(field: &str, v: Option<String>) -> ServiceResult<Option<PositionState>> {
    v.map(|s| PositionState::parse_field(field, &s))
        .transpose()
        .map_err(Into::into)
}

fn parse_kind(v: Option<String>) -> ServiceResult<Option<LedgerKind>> {
    v.map(|s| LedgerKind::parse_field("kind", &s))
        .transpose()
        .map_err(Into::into)
}

fn one_line(v: &Value) -> String {
    let t = v.to_string();
    if t.chars().count() > 80 {
        format!("{}…", t.chars().take(79).collect::<String>())
    } else {
        t
    }
}

pub async fn run(svc: &Service, actor: &Actor, cmd: Command, json: bool) -> ServiceResult<i32> {
    match cmd {
        Command::Institution(c) => institution(svc, actor, c, json).await,
        Command::Template(c) => template(svc, actor, c, json).await,
        Command::Asset(c) => asset(svc, actor, c, json).await,
        Command::Position(c) => position(svc, actor, c, json).await,
        Command::Policy(c) => policy(svc, actor, c, json).await,
        Command::ApiKey(c) => apikey(svc, actor, c, json).await,
        Command::Ledger(c) => ledger(svc, actor, c, json).await,
        Command::Audit(c) => audit(svc, actor, c, json).await,
        Command::Health => health(svc, actor, json).await,
        Command::Seed(a) => seed(svc, actor, a, json).await,
        c @ (Command::Completions { .. } | Command::Man) => {
            print_docs(&c).map_err(|e| ServiceError::Internal(e.to_string()))?;
            Ok(0)
        }
        Command::Bench(_) => Err(ServiceError::Internal(
            "bench runs from main with its own store handles".into(),
        )),
        Command::Migrate => {
            let (backend, v) = svc.schema().await?;
            if json {
                print_json(&json!({"backend": backend, "schemaVersion": v}));
            } else {
                outln!(
                    "{} schema is at version {}",
                    backend,
                    v.map(|v| v.to_string()).unwrap_or_else(|| "n/a".into())
                );
            }
            Ok(0)
        }
    }
}

async fn institution(
    svc: &Service,
    actor: &Actor,
    c: InstitutionCmd,
    json: bool,
) -> ServiceResult<i32> {
    match c {
        InstitutionCmd::Create {
            name,
            regions,
            verticals,
        } => {
            let i = svc
                .create_institution(
                    actor,
                    NewInstitution {
                        name,
                        regions,
                        verticals,
                    },
                )
                .await?;
            if json {
                print_json(&i);
            } else {
                outln!("Created institution {} ({})", i.id, s(&i.name));
            }
        }
        InstitutionCmd::List { page } => {
            let limit = check_limit(page.limit)?;
            let rows = svc
                .list_institutions(
                    actor,
                    Page {
                        after: page.after,
                        limit: limit + 1,
                    },
                )
                .await?;
            let (rows, next) = split_page(rows, limit, |i| i.id.clone());
            if !print_page(json, &rows, limit, next.clone()) {
                print_table(
                    &["ID", "NAME", "REGIONS", "VERTICALS", "CREATED"],
                    rows.iter()
                        .map(|i| {
                            vec![
                                i.id.clone(),
                                i.name.clone(),
                                join(&i.regions),
                                join(&i.verticals),
                                ts(&i.created_at),
                            ]
                        })
                        .collect(),
                );
                more_hint(next);
            }
        }
        InstitutionCmd::Show { id } => {
            let i = svc.get_institution(actor, &id).await?;
            let policies = svc
                .list_policies(actor, Some(id.clone()))
                .await
                .unwrap_or_default();
            let templates = svc
                .list_templates(actor, Some(id.clone()), Page::first(1000))
                .await?;
            let assets = svc
                .list_assets(actor, Some(id.clone()), None, Page::first(1000))
                .await?;
            let summary = svc.institution_summary(actor, &id).await?;
            if json {
                let mut v = serde_json::to_value(&i).expect("json");
                v["policies"] = json!(policies);
                v["templates"] = json!(templates);
                v["assets"] = json!(assets);
                v["positionCount"] = json!(summary.positions);
                print_json(&v);
            } else {
                outln!("{}  {}", i.id, s(&i.name));
                outln!("  regions:   {}", join(&i.regions));
                outln!("  verticals: {}", join(&i.verticals));
                outln!("  created:   {}", ts(&i.created_at));
                outln!("  positions: {}", summary.positions);
                outln!("\nPolicies");
                for p in &policies {
                    outln!("  {}", policy_line(p));
                }
                if policies.is_empty() {
                    outln!("  (none: no limits beyond the templates')");
                }
                outln!("\nTemplates");
                for t in &templates {
                    outln!("  {}  {}  {}  {}", t.id, t.code, t.region, s(&t.name));
                }
                outln!("\nAssets");
                for a in &assets {
                    outln!("  {}  {}  {}", a.id, a.template_id, s(&a.label));
                }
            }
        }
    }
    Ok(0)
}

fn join<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

fn policy_line(p: &crate::domain::InstitutionPolicy) -> String {
    let pp = &p.config.position;
    format!(
        "{:<6} min {:<14} max {:<18} currencies {}",
        p.region,
        pp.min_amount
            .map(|m| m.to_string())
            .unwrap_or_else(|| "-".into()),
        pp.max_amount
            .map(|m| m.to_string())
            .unwrap_or_else(|| "-".into()),
        match &pp.allowed_currencies {
            None => "any".to_string(),
            Some(v) if v.is_empty() => "none (blocked)".to_string(),
            Some(v) => join(v),
        }
    )
}

/// Splits a page fetched with `limit + 1` rows into the page and the next cursor.
fn split_page<T>(
    mut rows: Vec<T>,
    limit: u32,
    id: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    if rows.len() > limit as usize {
        rows.truncate(limit as usize);
        let next = rows.last().map(id);
        (rows, next)
    } else {
        (rows, None)
    }
}

fn more_hint(next: Option<String>) {
    if let Some(n) = next {
        eprintln!("(more: --after {n})");
    }
}

async fn template(svc: &Service, actor: &Actor, c: TemplateCmd, json: bool) -> ServiceResult<i32> {
    match c {
        TemplateCmd::Create {
            institution,
            code,
            name,
            vertical,
            region,
            config,
        } => {
            let config = json_arg("config", &config)?;
            let t = svc
                .create_template(
                    actor,
                    NewTemplate {
                        institution_id: institution,
                        code,
                        name,
                        vertical,
                        region,
                        config,
                    },
                )
                .await?;
            if json {
                print_json(&t);
            } else {
                outln!(
                    "Created template {} ({} {}, {})",
                    t.id,
                    t.code,
                    t.region,
                    s(&t.name)
                );
            }
        }
        TemplateCmd::List { institution, page } => {
            let limit = check_limit(page.limit)?;
            let rows = svc
                .list_templates(
                    actor,
                    institution,
                    Page {
                        after: page.after,
                        limit: limit + 1,
                    },
                )
                .await?;
            let (rows, next) = split_page(rows, limit, |t| t.id.clone());
            if !print_page(json, &rows, limit, next.clone()) {
                print_table(
                    &[
                        "ID",
                        "INSTITUTION",
                        "CODE",
                        "VERTICAL",
                        "REGION",
                        "NAME",
                        "CONFIG",
                    ],
                    rows.iter()
                        .map(|t| {
                            vec![
                                t.id.clone(),
                                t.institution_id.clone(),
                                t.code.to_string(),
                                t.vertical.to_string(),
                                t.region.to_string(),
                                t.name.clone(),
                                one_line(&t.config),
                            ]
                        })
                        .collect(),
                );
                more_hint(next);
            }
        }
        TemplateCmd::Show { id } => {
            let t = svc.get_template(actor, &id).await?;
            if json {
                print_json(&t);
            } else {
                outln!("{}  {}", t.id, s(&t.name));
                outln!("  institution: {}", t.institution_id);
                outln!("  code:        {} ({})", t.code, t.vertical);
                outln!("  region:      {}", t.region);
                outln!("  created:     {}", ts(&t.created_at));
                outln!("  config:");
                if let Some(m) = t.config.as_object() {
                    for (k, v) in m {
                        outln!("    {:<20} {}", s(k), s(&one_line(v)));
                    }
                }
            }
        }
    }
    Ok(0)
}

async fn asset(svc: &Service, actor: &Actor, c: AssetCmd, json: bool) -> ServiceResult<i32> {
    match c {
        AssetCmd::Create {
            institution,
            template,
            label,
            metadata,
        } => {
            let metadata = metadata.map(|m| json_arg("metadata", &m)).transpose()?;
            let a = svc
                .create_asset(
                    actor,
                    NewAsset {
                        institution_id: institution,
                        template_id: template,
                        label,
                        metadata,
                    },
                )
                .await?;
            if json {
                print_json(&a);
            } else {
                outln!("Created asset {} ({})", a.id, s(&a.label));
            }
        }
        AssetCmd::List {
            institution,
            template,
            page,
        } => {
            let limit = check_limit(page.limit)?;
            let rows = svc
                .list_assets(
                    actor,
                    institution,
                    template,
                    Page {
                        after: page.after,
                        limit: limit + 1,
                    },
                )
                .await?;
            let (rows, next) = split_page(rows, limit, |a| a.id.clone());
            if !print_page(json, &rows, limit, next.clone()) {
                print_table(
                    &["ID", "INSTITUTION", "TEMPLATE", "LABEL", "CREATED"],
                    rows.iter()
                        .map(|a| {
                            vec![
                                a.id.clone(),
                                a.institution_id.clone(),
                                a.template_id.clone(),
                                a.label.clone(),
                                ts(&a.created_at),
                            ]
                        })
                        .collect(),
                );
                more_hint(next);
            }
        }
        AssetCmd::Show { id } => {
            let a = svc.get_asset(actor, &id).await?;
            if json {
                print_json(&a);
            } else {
                outln!("{}  {}", a.id, s(&a.label));
                outln!("  institution: {}", a.institution_id);
                outln!("  template:    {}", a.template_id);
                outln!("  created:     {}", ts(&a.created_at));
                outln!("  metadata:    {}", s(&a.metadata.to_string()));
            }
        }
    }
    Ok(0)
}

async fn position(svc: &Service, actor: &Actor, c: PositionCmd, json: bool) -> ServiceResult<i32> {
    match c {
        PositionCmd::Create {
            institution,
            asset,
            holder,
            currency,
            amount,
            external_ref,
        } => {
            let p = svc
                .create_position(
                    actor,
                    NewPosition {
                        institution_id: institution,
                        asset_id: asset,
                        holder_reference: holder,
                        currency,
                        amount,
                        external_reference: external_ref,
                    },
                )
                .await?;
            if json {
                print_json(&p);
            } else {
                outln!(
                    "Created position {} ({} {} for {}, {})",
                    p.id,
                    p.amount.display_grouped(),
                    p.currency,
                    s(&p.holder_reference),
                    p.state
                );
            }
        }
        PositionCmd::List {
            institution,
            asset,
            template,
            state,
            holder,
            search,
            page,
        } => {
            let limit = check_limit(page.limit)?;
            let filter = PositionFilter {
                institution_id: institution,
                asset_id: asset,
                template_id: template,
                state: parse_state("state", state)?,
                holder_reference: holder,
                text: search,
            };
            let q = PositionQuery {
                filter,
                cursor: page.after.map(|id| crate::service::PositionCursor {
                    value: String::new(),
                    id,
                }),
                limit: limit + 1,
                ..Default::default()
            };
            let rows = svc.list_positions(actor, q).await?;
            let (rows, next) = split_page(rows, limit, |p| p.id.clone());
            if !print_page(json, &rows, limit, next.clone()) {
                print_table(
                    &[
                        "ID",
                        "INSTITUTION",
                        "ASSET",
                        "HOLDER",
                        "AMOUNT",
                        "CCY",
                        "STATE",
                        "UPDATED",
                    ],
                    rows.iter()
                        .map(|p| {
                            vec![
                                p.id.clone(),
                                p.institution_id.clone(),
                                p.asset_id.clone(),
                                p.holder_reference.clone(),
                                p.amount.display_grouped(),
                                p.currency.to_string(),
                                p.state.to_string(),
                                ts(&p.updated_at),
                            ]
                        })
                        .collect(),
                );
                more_hint(next);
            }
        }
        PositionCmd::Show { id } => {
            let d = svc.position_detail(actor, &id).await?;
            if json {
                print_json(&d);
            } else {
                let p = &d.position;
                outln!("{}  {}", p.id, p.state);
                outln!("  institution:        {}", p.institution_id);
                outln!("  asset:              {}", p.asset_id);
                outln!("  holder reference:   {}", s(&p.holder_reference));
                outln!(
                    "  amount:             {} {}",
                    p.amount.display_grouped(),
                    p.currency
                );
                outln!(
                    "  external reference: {}",
                    p.external_reference
                        .as_deref()
                        .map(s)
                        .unwrap_or_else(|| "-".into())
                );
                outln!("  created:            {}", ts(&p.created_at));
                outln!(
                    "  updated:            {} (version {})",
                    ts(&p.updated_at),
                    p.version
                );
                outln!("\nLifecycle");
                outln!("  {}  created as CREATED", ts(&p.created_at));
                for e in &d.events {
                    outln!(
                        "  {}  {} -> {}{}",
                        ts(&e.at),
                        e.from_state,
                        e.to_state,
                        e.reason
                            .as_deref()
                            .map(|r| format!("  \"{}\"", s(r)))
                            .unwrap_or_default()
                    );
                }
            }
        }
        PositionCmd::Transition {
            id,
            to,
            reason,
            expect_state,
        } => {
            let r = svc
                .transition_position(
                    actor,
                    &id,
                    TransitionRequest {
                        to,
                        reason,
                        expect_state,
                        expect_version: None,
                        metadata: None,
                    },
                )
                .await?;
            if json {
                print_json(&r);
            } else if r.applied {
                let e = r.event.as_ref().expect("applied transitions have an event");
                outln!(
                    "{}: {} -> {} (ledger seq {})",
                    r.position.id,
                    e.from_state,
                    e.to_state,
                    r.ledger_seq.map(|s| s.to_string()).unwrap_or_default()
                );
            } else {
                outln!(
                    "{} is already {}: nothing changed",
                    r.position.id,
                    r.position.state
                );
            }
        }
    }
    Ok(0)
}

async fn policy(svc: &Service, actor: &Actor, c: PolicyCmd, json: bool) -> ServiceResult<i32> {
    match c {
        PolicyCmd::Set {
            institution,
            region,
            min_amount,
            max_amount,
            currencies,
            block_all_currencies,
        } => {
            let allowed = if block_all_currencies {
                Some(vec![])
            } else {
                currencies
            };
            let p = svc
                .set_policy(
                    actor,
                    PolicyInput {
                        institution_id: institution,
                        region,
                        min_amount,
                        max_amount,
                        allowed_currencies: allowed,
                    },
                )
                .await?;
            if json {
                print_json(&p);
            } else {
                outln!(
                    "Policy {} of {} set: {}",
                    p.id,
                    p.institution_id,
                    policy_line(&p)
                );
            }
        }
        PolicyCmd::List { institution } => {
            let rows = svc.list_policies(actor, institution).await?;
            if json {
                print_json(&json!({"data": rows}));
            } else {
                print_table(
                    &[
                        "ID",
                        "INSTITUTION",
                        "REGION",
                        "MIN",
                        "MAX",
                        "CURRENCIES",
                        "UPDATED",
                    ],
                    rows.iter()
                        .map(|p| {
                            let pp = &p.config.position;
                            vec![
                                p.id.clone(),
                                p.institution_id.clone(),
                                p.region.to_string(),
                                pp.min_amount
                                    .map(|m| m.to_string())
                                    .unwrap_or_else(|| "-".into()),
                                pp.max_amount
                                    .map(|m| m.to_string())
                                    .unwrap_or_else(|| "-".into()),
                                match &pp.allowed_currencies {
                                    None => "any".into(),
                                    Some(v) if v.is_empty() => "none".into(),
                                    Some(v) => join(v),
                                },
                                ts(&p.updated_at),
                            ]
                        })
                        .collect(),
                );
            }
        }
    }
    Ok(0)
}

async fn apikey(svc: &Service, actor: &Actor, c: ApiKeyCmd, json: bool) -> ServiceResult<i32> {
    match c {
        ApiKeyCmd::Create {
            institution,
            label,
            role,
        } => {
            let k = svc.create_api_key(actor, institution, label, role).await?;
            if json {
                print_json(&k);
            } else {
                outln!(
                    "Created API key {} ({}, {}) for {}",
                    k.api_key.id,
                    s(&k.api_key.label),
                    k.api_key.role,
                    k.api_key.institution_id
                );
                outln!("\n  {}\n", k.token);
                outln!(
                    "This token is shown only now; store it safely. Use it with --api-key or ESCROWGRID_API_KEY."
                );
            }
        }
        ApiKeyCmd::List { institution } => {
            let rows = svc.list_api_keys(actor, institution).await?;
            if json {
                print_json(&json!({"data": rows}));
            } else {
                print_table(
                    &["ID", "INSTITUTION", "LABEL", "ROLE", "CREATED", "REVOKED"],
                    rows.iter()
                        .map(|k| {
                            vec![
                                k.id.clone(),
                                k.institution_id.clone(),
                                k.label.clone(),
                                k.role.to_string(),
                                ts(&k.created_at),
                                k.revoked_at.as_ref().map(ts).unwrap_or_else(|| "-".into()),
                            ]
                        })
                        .collect(),
                );
            }
        }
        ApiKeyCmd::Revoke { id } => {
            let r = svc.revoke_api_key(actor, &id).await?;
            if json {
                print_json(&r);
            } else if r.already_revoked {
                outln!(
                    "API key {} was already revoked at {}: nothing changed",
                    r.api_key.id,
                    r.api_key.revoked_at.as_ref().map(ts).unwrap_or_default()
                );
            } else {
                outln!("Revoked API key {} ({})", r.api_key.id, s(&r.api_key.label));
            }
        }
    }
    Ok(0)
}

fn event_line(e: &crate::domain::ledger::LedgerEvent) -> String {
    let detail = match e.kind {
        LedgerKind::PositionStateChanged => format!(
            "{} -> {}{}",
            e.payload["fromState"].as_str().unwrap_or("?"),
            e.payload["toState"].as_str().unwrap_or("?"),
            e.payload["reason"]
                .as_str()
                .map(|r| format!("  \"{r}\""))
                .unwrap_or_default()
        ),
        LedgerKind::PositionCreated => format!(
            "{} {}",
            e.payload["amount"].as_str().unwrap_or("?"),
            e.payload["currency"].as_str().unwrap_or("?")
        ),
        _ => e.payload["name"]
            .as_str()
            .or(e.payload["label"].as_str())
            .or(e.payload["region"].as_str())
            .unwrap_or("")
            .to_string(),
    };
    s(&format!(
        "{:>6}  {}  {:<22}  {}  {}  {}",
        e.seq,
        ts(&e.at),
        e.kind.as_str(),
        e.entity_id,
        detail,
        short_hash(&e.hash)
    ))
}

async fn ledger(svc: &Service, actor: &Actor, c: LedgerCmd, json: bool) -> ServiceResult<i32> {
    match c {
        LedgerCmd::List {
            position,
            kind,
            after,
            limit,
        } => {
            let limit = check_limit(limit)?;
            let mut rows = svc
                .ledger(
                    actor,
                    LedgerQuery {
                        after_seq: after,
                        position_id: position,
                        kind: parse_kind(kind)?,
                        limit: limit + 1,
                        ..Default::default()
                    },
                )
                .await?;
            let next = if rows.len() > limit as usize {
                rows.truncate(limit as usize);
                rows.last().map(|e| e.seq)
            } else {
                None
            };
            if json {
                print_json(&json!({
                    "data": rows,
                    "pagination": {"limit": limit, "hasMore": next.is_some(), "nextAfter": next},
                }));
            } else {
                outln!(
                    "{:>6}  {:<24}  {:<22}  {:<41}  DETAIL / HASH",
                    "SEQ",
                    "AT",
                    "KIND",
                    "ENTITY"
                );
                for e in &rows {
                    outln!("{}", event_line(e));
                }
                if let Some(n) = next {
                    eprintln!("(more: --after {n})");
                }
            }
            Ok(0)
        }
        LedgerCmd::Verify => {
            let r = svc.verify_ledger(actor).await?;
            if json {
                print_json(&r);
            } else if let Some(b) = &r.broken {
                outln!("Ledger BROKEN at seq {}: {}", b.seq, b.reason);
                outln!("{} events before it verified.", r.checked);
            } else {
                outln!(
                    "Ledger intact: {} events verified, head seq {} hash {}",
                    r.checked,
                    r.head_seq,
                    r.head_hash
                );
            }
            Ok(if r.ok { 0 } else { 1 })
        }
        LedgerCmd::Tail {
            after,
            last,
            follow,
            position,
            kind,
        } => {
            let kind = parse_kind(kind)?;
            let after = match after {
                Some(a) => a,
                None => {
                    let recent = svc
                        .ledger(
                            actor,
                            LedgerQuery {
                                position_id: position.clone(),
                                kind,
                                newest_first: true,
                                limit: last.clamp(1, 1000),
                                ..Default::default()
                            },
                        )
                        .await?;
                    recent.last().map(|e| e.seq - 1).unwrap_or(0)
                }
            };
            tail(
                svc,
                actor,
                after,
                follow,
                StreamFilter {
                    position_id: position,
                    kind,
                },
                json,
            )
            .await
        }
    }
}

async fn tail(
    svc: &Service,
    actor: &Actor,
    after: i64,
    follow: bool,
    filter: StreamFilter,
    json: bool,
) -> ServiceResult<i32> {
    use std::io::Write;
    if !follow {
        let mut after = after;
        loop {
            let page = svc
                .ledger(
                    actor,
                    LedgerQuery {
                        after_seq: after,
                        position_id: filter.position_id.clone(),
                        kind: filter.kind,
                        limit: 1000,
                        ..Default::default()
                    },
                )
                .await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for e in &page {
                print_event(e, json);
            }
        }
        return Ok(0);
    }
    let mut sub = svc.subscribe(actor, after, filter);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| ServiceError::Internal(format!("cannot watch SIGTERM: {e}")))?;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(0),
            _ = term.recv() => return Ok(0),
            item = sub.next() => match item {
                None => return Ok(0),
                Some(StreamItem::Event(e)) => {
                    print_event(&e, json);
                    if std::io::stdout().flush().is_err() {
                        return Ok(0);
                    }
                }
                Some(StreamItem::Status(StreamStatus::Reconnecting(why))) => {
                    eprintln!("ledger stream: reconnecting ({why})");
                }
                Some(StreamItem::Status(StreamStatus::Live)) => {}
            }
        }
    }
}

fn print_event(e: &crate::domain::ledger::LedgerEvent, json: bool) {
    if json {
        outln!("{}", serde_json::to_string(e).expect("serialisable"));
    } else {
        outln!("{}", event_line(e));
    }
}

async fn audit(svc: &Service, actor: &Actor, c: AuditCmd, json: bool) -> ServiceResult<i32> {
    let AuditCmd::List {
        action,
        outcome,
        limit,
        before,
    } = c;
    let limit = check_limit(limit)?;
    let outcome = outcome
        .map(|o| Outcome::parse_field("outcome", &o))
        .transpose()?;
    let rows = svc
        .audit(
            actor,
            AuditQuery {
                action: action.map(|a| a.trim().to_ascii_uppercase()),
                outcome,
                before,
                limit,
                ..Default::default()
            },
        )
        .await?;
    if json {
        print_json(&json!({"data": rows}));
    } else {
        print_table(
            &["AT", "ACTOR", "ACTION", "OUTCOME", "RESOURCE", "ERROR"],
            rows.iter()
                .map(|a| {
                    vec![
                        ts(&a.occurred_at),
                        a.actor.clone(),
                        a.action.clone(),
                        a.outcome.to_string(),
                        a.resource_id.clone().unwrap_or_else(|| "-".into()),
                        a.error
                            .as_ref()
                            .map(|e| format!("{}: {}", e.code, e.message))
                            .unwrap_or_default(),
                    ]
                })
                .collect(),
        );
    }
    Ok(0)
}

async fn health(svc: &Service, actor: &Actor, json: bool) -> ServiceResult<i32> {
    let h = svc.health(actor).await;
    if json {
        print_json(&h);
    } else {
        outln!("backend:        {}", h.backend);
        outln!("target:         {}", h.target);
        outln!("durability:     {}", h.durability);
        outln!(
            "connected:      {}{}",
            if h.connected { "yes" } else { "NO" },
            h.ping_ms
                .map(|p| format!(" (ping {p:.2} ms)"))
                .unwrap_or_default()
        );
        if let Some(e) = &h.error {
            outln!("error:          {}", s(e));
        }
        if let Some(p) = &h.pool {
            outln!(
                "pool:           {} open, {} idle, max {}",
                p.size,
                p.idle,
                p.max
            );
        }
        if let Some(v) = h.schema_version {
            outln!("schema version: {v}");
        }
        if let Some(c) = &h.counts {
            outln!(
                "counts:         {} institutions, {} templates, {} assets, {} positions, {} ledger events, {} audit records{}",
                c.institutions,
                c.templates,
                c.assets,
                c.positions,
                c.ledger_events,
                c.audit_events,
                if h.scoped { " (your institution)" } else { "" }
            );
            let by_state: Vec<String> = c
                .positions_by_state
                .iter()
                .map(|(s, n)| format!("{s} {n}"))
                .collect();
            outln!("by state:       {}", by_state.join(", "));
        }
        match &h.ledger_head {
            Some(head) => outln!("ledger head:    seq {} {}", head.seq, head.hash),
            None if h.connected => outln!("ledger head:    (empty ledger)"),
            None => {}
        }
        outln!("operator:       {}", h.operator);
        outln!(
            "log file:       {}",
            h.log_file.as_deref().unwrap_or("(logging disabled)")
        );
    }
    Ok(if h.connected { 0 } else { 1 })
}

async fn seed(svc: &Service, actor: &Actor, a: SeedArgs, json: bool) -> ServiceResult<i32> {
    let report = crate::demo::seed::load_demo(svc, actor, a.positions, a.seed, a.force).await?;
    if json {
        print_json(&report);
    } else {
        outln!(
            "Loaded the demo data set: {} institutions, {} templates, {} assets, {} positions, {} transitions, {} policies",
            report.institutions,
            report.templates,
            report.assets,
            report.positions,
            report.transitions,
            report.policies
        );
    }
    Ok(0)
}

/// Prints an error the way the CLI promises: one line, or `{"error", "code", "details"}` with --json.
pub fn print_error(e: &ServiceError, json: bool) {
    if json {
        eprintln!(
            "{}",
            json!({"error": e.to_string(), "code": e.code(), "details": e.details()})
        );
    } else {
        eprintln!("error: {}", sanitize(&e.to_string()));
    }
}
