//! Headless subcommands: each maps to service calls and prints a table or, with `--json`, JSON
//! (camelCase fields, amounts as decimal strings). Errors print one line (or a JSON object) to
//! stderr; the exit status is 2 for bad input and 1 for other failures.

pub mod args;
pub mod bench;
mod commands;
pub use commands::serve::serve;
pub mod safe_json;

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
    let mut cli = args::command();
    let mut out = Vec::new();
    match command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut cli, "escrowgrid", &mut out);
        }
        _ => render_man(cli, &mut out)?,
    }
    outln!("{}", String::from_utf8_lossy(&out).trim_end());
    Ok(())
}

/// The manual page: clap's title, synopsis, description and options, then the commands (with no
/// references to pages that do not exist), ENVIRONMENT, FILES and EXIT STATUS.
fn render_man(cli: clap::Command, out: &mut Vec<u8>) -> std::io::Result<()> {
    use std::io::Write;
    let esc = |t: &str| t.replace('\\', "\\\\").replace('-', "\\-");
    let man = clap_mangen::Man::new(cli.clone());
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;
    writeln!(out, ".SH COMMANDS")?;
    for sub in cli.get_subcommands().filter(|c| !c.is_hide_set()) {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let children: Vec<&str> = sub.get_subcommands().map(|c| c.get_name()).collect();
        writeln!(out, ".TP")?;
        if children.is_empty() {
            writeln!(out, "\\fB{}\\fR", esc(sub.get_name()))?;
        } else {
            writeln!(
                out,
                "\\fB{}\\fR {}",
                esc(sub.get_name()),
                esc(&children.join(" | "))
            )?;
        }
        writeln!(out, "{}", esc(&about))?;
    }
    writeln!(
        out,
        "Each command's own options: \\fBescrowgrid\\fR \\fIcommand\\fR \\fB\\-\\-help\\fR."
    )?;
    writeln!(out, ".SH ENVIRONMENT")?;
    for (var, what) in crate::settings::environment() {
        writeln!(out, ".TP\n\\fB{}\\fR\n{}", esc(&var), esc(&what))?;
    }
    writeln!(out, ".SH FILES")?;
    for (path, what) in FILES {
        writeln!(out, ".TP\n\\fI{}\\fR\n{}", esc(path), esc(what))?;
    }
    writeln!(out, ".SH EXIT STATUS")?;
    writeln!(
        out,
        "0 success; 1 a failure (conflict, store unreachable, broken ledger, findings); 2 bad input \
         (an invalid value, unknown id, refused transition, not allowed, bad arguments); the console \
         exits 128 + the signal on SIGINT (130), SIGTERM (143), SIGHUP (129) and SIGQUIT (131)."
    )?;
    man.render_version_section(out)?;
    Ok(())
}

const FILES: &[(&str, &str)] = &[
    (
        "~/.config/escrowgrid/config.toml",
        "settings (--config FILE names another)",
    ),
    (
        "~/.local/share/escrowgrid/escrowgrid.db",
        "the default SQLite database",
    ),
    (
        "~/.local/share/escrowgrid/witness.jsonl",
        "the ledger heads this operator verified",
    ),
    (
        "~/.local/state/escrowgrid/logs/",
        "the daily log files (log_target = file)",
    ),
];

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

/// A future that resolves when the process is asked to stop: SIGINT (Ctrl-C) or SIGTERM
/// (systemd, docker, kill), so a long-running command ends cleanly under a service manager as
/// at a terminal. The handlers are installed when this is called, not when the future is first
/// polled: call it before saying "running", or a signal in between kills the process.
pub fn stop_requested() -> ServiceResult<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let watch = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| ServiceError::Internal(format!("cannot watch {name}: {e}")))
    };
    let mut term = watch(SignalKind::terminate(), "SIGTERM")?;
    let mut int = watch(SignalKind::interrupt(), "SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
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

/// The most a JSON argument may take (the largest the service accepts is asset metadata, 64 KiB).
pub const JSON_ARG_MAX_BYTES: u64 = 64 * 1024;

/// Reads a JSON object argument: inline JSON, or `@path` to read it from a file, reading no
/// more than `JSON_ARG_MAX_BYTES` (so `@/dev/zero` is refused, not read for ever).
pub fn json_arg(field: &str, raw: &str) -> ServiceResult<Value> {
    let text = match raw.strip_prefix('@') {
        Some(path) => crate::files::read_capped(std::path::Path::new(path), JSON_ARG_MAX_BYTES)
            .map_err(|e| ServiceError::field(field, format!("cannot read {path}: {e}")))?,
        None => raw.to_string(),
    };
    if text.len() as u64 > JSON_ARG_MAX_BYTES {
        return Err(ServiceError::field(
            field,
            format!("is over {JSON_ARG_MAX_BYTES} bytes"),
        ));
    }
    serde_json::from_str(&text)
        .map_err(|e| ServiceError::field(field, format!("is not valid JSON: {e}")))
}

pub use crate::service::api::Api;
pub use crate::service::paging::{check_limit, cursor, page_after, split_page};

/// The in-process service, for a command only it can run; through a server, a refusal that
/// says where to run it.
pub(crate) fn local<'a>(svc: &'a dyn Api, what: &str) -> ServiceResult<&'a Service> {
    svc.local().ok_or_else(|| {
        ServiceError::field(
            "server",
            format!(
                "{what} runs where the database is, not through a server ({}): run it on the server's host",
                svc.target()
            ),
        )
    })
}

/// The heads to compare the ledger with: this store's in the operator's witness file, and every
/// head in the files named.
pub(crate) async fn witnessed_heads(
    svc: &dyn Api,
    own: &std::path::Path,
    others: &[std::path::PathBuf],
) -> ServiceResult<Vec<crate::witness::Witnessed>> {
    let read = |p: &std::path::Path| {
        crate::witness::load(p).map_err(|e| {
            ServiceError::field("witness", format!("cannot read {}: {e}", p.display()))
        })
    };
    let Some(key) = svc.store_key().await? else {
        return Ok(Vec::new());
    };
    let mut heads = read(own)?;
    for p in others {
        heads.extend(read(p)?);
    }
    // Only heads of this store, whoever witnessed them and however its URL was spelled.
    heads.retain(|w| w.of(&key));
    Ok(heads)
}

/// Records heads found intact in the operator's witness file (a failure to write it is said,
/// not fatal: the verify itself stands). A store of this process only is never witnessed.
pub(crate) async fn witness_head(
    svc: &dyn Api,
    own: &std::path::Path,
    (seq, hash): (i64, &str),
    audit: Option<(i64, &str)>,
) {
    if seq == 0 {
        return;
    }
    let key = match svc.store_key().await {
        Ok(Some(k)) => k,
        Ok(None) => return,
        Err(e) => {
            eprintln!("warning: cannot record the verified head: {e}");
            return;
        }
    };
    let w = crate::witness::Witnessed::now(&key, seq, hash, audit);
    if let Err(e) = crate::witness::record(own, &w) {
        eprintln!(
            "warning: cannot record the verified head in {}: {e}",
            own.display()
        );
    }
}

pub(crate) fn print_json<T: Serialize>(v: &T) {
    outln!("{}", safe_json::pretty(v));
}

/// How command output is printed: `-o table|json|csv|tsv` (`--json` is `-o json`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
    Csv,
    Tsv,
}

/// The output settings of this process: the format and whether lists print their header line.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    pub format: OutputFormat,
    pub headers: bool,
}

static OUTPUT: std::sync::OnceLock<Output> = std::sync::OnceLock::new();

/// Sets the output settings once, before a command runs (the command line is read once).
pub fn set_output(o: Output) {
    let _ = OUTPUT.set(o);
}

fn output() -> Output {
    OUTPUT.get().copied().unwrap_or(Output {
        format: OutputFormat::Table,
        headers: true,
    })
}

/// Whether lists print as delimited records (`-o csv`, `-o tsv`) rather than an aligned table.
fn delimited() -> bool {
    matches!(output().format, OutputFormat::Csv | OutputFormat::Tsv)
}

/// An amount cell: grouped for people (`1,250,000.00`) in a table, plain (`1250000.00`) in CSV
/// and TSV, so a spreadsheet or a script reads it as a number.
fn amount_cell(m: &crate::domain::Money) -> String {
    if delimited() {
        m.to_string()
    } else {
        m.display_grouped()
    }
}

/// A cell with no value: `-` in a table, empty in CSV and TSV.
fn none_cell() -> String {
    if delimited() {
        String::new()
    } else {
        "-".into()
    }
}

/// Prints a list: an aligned table, or CSV (RFC 4180 quoting) or TSV (tabs and line breaks in a
/// cell become spaces); the header line unless `--no-headers`. Every cell is sanitised
/// (database text is untrusted).
fn print_table(headers: &[&str], rows: Vec<Vec<String>>) {
    let o = output();
    let clean = |c: &str| sanitize(c).into_owned();
    match o.format {
        OutputFormat::Csv | OutputFormat::Tsv => {
            let tsv = o.format == OutputFormat::Tsv;
            let mut w = csv::WriterBuilder::new()
                .delimiter(if tsv { b'\t' } else { b',' })
                .quote_style(if tsv {
                    csv::QuoteStyle::Never
                } else {
                    csv::QuoteStyle::Necessary
                })
                .terminator(csv::Terminator::Any(b'\n'))
                .from_writer(Vec::new());
            let cell = |c: &str| {
                let c = clean(c);
                if tsv {
                    c.replace(['\t', '\n', '\r'], " ")
                } else {
                    c
                }
            };
            let mut all = Vec::new();
            if o.headers {
                all.push(headers.iter().map(|h| h.to_string()).collect::<Vec<_>>());
            }
            all.extend(rows);
            for r in all {
                // Writing to memory fails only on a row of another length (never: one header).
                let _ = w.write_record(r.iter().map(|c| cell(c)));
            }
            let bytes = w.into_inner().unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            if let Some(text) = text.strip_suffix('\n') {
                outln!("{text}");
            }
        }
        _ => {
            let mut t = Table::new();
            t.load_style(presets::NOTHING);
            if o.headers {
                t.set_header(headers.iter().map(|h| h.to_string()));
            }
            for r in rows {
                t.add_row(r.into_iter().map(|c| clean(&c)));
            }
            if t.row_count() > 0 || o.headers {
                outln!("{t}");
            }
        }
    }
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
        print_json(&crate::service::paging::Paged::new(
            data.iter().collect::<Vec<_>>(),
            limit,
            next,
        ));
    }
    json
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

/// `compare URL_A URL_B`: opens both stores itself (not the configured one).
pub async fn compare(
    cfg: &crate::config::Config,
    a: &str,
    b: &str,
    json: bool,
) -> ServiceResult<i32> {
    commands::compare::compare(cfg, a, b, json).await
}

/// `mirror --to URL`: this store applied to another as it grows.
pub async fn mirror(
    svc: &crate::service::Service,
    actor: &Actor,
    cfg: &crate::config::Config,
    to: &str,
    once: bool,
    json: bool,
) -> ServiceResult<i32> {
    commands::mirror::mirror(svc, actor, cfg, to, once, json).await
}

/// `mirror promote`: this store, a mirror's target, takes writes again.
pub async fn mirror_promote(
    svc: &crate::service::Service,
    actor: &Actor,
    json: bool,
) -> ServiceResult<i32> {
    commands::mirror::promote(svc, actor, json).await
}

/// Runs a command; `witness` is the operator's witness file (see `crate::witness`).
/// `anchor deploy` and `anchor verify --export`, which need no store; None for the others.
#[cfg(feature = "onchain")]
pub async fn anchor_without_store(
    cmd: &AnchorCmd,
    cfg: &crate::config::Config,
    json: bool,
) -> Option<ServiceResult<i32>> {
    commands::anchor::without_store(cmd, cfg, json).await
}

/// The `anchor` commands that read or write the store.
#[cfg(feature = "onchain")]
pub async fn anchor(
    svc: &Service,
    actor: &Actor,
    cmd: AnchorCmd,
    cfg: &crate::config::Config,
    json: bool,
) -> ServiceResult<i32> {
    commands::anchor::anchor(svc, actor, cmd, cfg, json).await
}

pub async fn run(
    svc: &dyn Api,
    actor: &Actor,
    cmd: Command,
    json: bool,
    witness: &std::path::Path,
) -> ServiceResult<i32> {
    match cmd {
        Command::Institution(c) => commands::institution::institution(svc, actor, c, json).await,
        Command::Template(c) => commands::template::template(svc, actor, c, json).await,
        Command::Asset(c) => commands::asset::asset(svc, actor, c, json).await,
        Command::Position(c) => commands::position::position(svc, actor, c, json).await,
        Command::Policy(c) => commands::policy::policy(svc, actor, c, json).await,
        Command::ApiKey(c) => commands::apikey::apikey(svc, actor, c, json).await,
        Command::Ledger(c) => commands::ledger::ledger(svc, actor, c, json, witness).await,
        Command::Audit(c) => commands::audit::audit(svc, actor, c, json).await,
        Command::Health => commands::health::health(svc, actor, json).await,
        Command::Metrics => {
            let text = crate::service::health::prometheus(&svc.health(actor).await);
            outln!("{}", text.trim_end());
            Ok(0)
        }
        Command::Check => commands::check::check(svc, actor, json, witness).await,
        Command::Mirror { .. } => Err(ServiceError::field(
            "mirror",
            "mirror opens both stores itself; run it where both databases can be reached",
        )),
        Command::Compare { .. } => Err(ServiceError::field(
            "compare",
            "compare opens both stores itself; run it where both databases can be reached",
        )),
        Command::Export { file, force } => {
            commands::backup::export(svc, actor, &file, force, json).await
        }
        Command::Import { file, legacy } => {
            let opts = crate::service::backup::ImportOptions { legacy };
            commands::backup::import(svc, actor, &file, opts, json).await
        }
        Command::Seed(a) => commands::seed::seed(svc, actor, a, json).await,
        c @ (Command::Completions { .. } | Command::Man) => {
            print_docs(&c).map_err(|e| ServiceError::Internal(e.to_string()))?;
            Ok(0)
        }
        Command::Bench(_) | Command::Serve { .. } => Err(ServiceError::Internal(
            "bench and serve run from main with their own store handles".into(),
        )),
        #[cfg(feature = "onchain")]
        Command::Anchor(_) => Err(ServiceError::Internal(
            "anchor runs from main with the [onchain] settings".into(),
        )),
        Command::Migrate(c) => commands::migrate::migrate(svc, actor, c, json).await,
    }
}

fn join<T: std::fmt::Display>(v: &[T]) -> String {
    v.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// Splits a page fetched with `limit + 1` rows into the page and the next cursor.
fn more_hint(next: Option<String>) {
    if let Some(n) = next {
        eprintln!("(more: --after {n})");
    }
}

/// A command line clap refused (or `--help`, `--version`): printed as clap does, or, when the
/// arguments hold `--json` (or `-o json`), as the JSON error shape on stderr (`code` USAGE), with the
/// argument, the value and the values allowed. The exit status is clap's: 2 (0 for help).
pub fn usage_error(e: clap::Error) -> u8 {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let informational = matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    );
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let json = args.iter().enumerate().any(|(i, a)| {
        a == "--json"
            || a == "--output=json"
            || a == "-ojson"
            || ((a == "-o" || a == "--output") && args.get(i + 1).is_some_and(|v| v == "json"))
    });
    if informational || !json {
        let _ = e.print();
        return e.exit_code().clamp(0, 255) as u8;
    }
    let rendered = e.render().to_string();
    // The first paragraph, on one line ("… not provided: --to <STATE>, <ID>").
    let message = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ")
        .trim_start_matches("error: ")
        .to_string();
    let text = |v: &ContextValue| match v {
        ContextValue::String(s) => json!(s),
        ContextValue::Strings(v) => json!(v),
        ContextValue::StyledStr(s) => json!(s.to_string()),
        ContextValue::StyledStrs(v) => json!(v.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        ContextValue::Number(n) => json!(n),
        ContextValue::Bool(b) => json!(b),
        _ => serde_json::Value::Null,
    };
    let mut details = serde_json::Map::new();
    details.insert("kind".into(), json!(format!("{:?}", e.kind())));
    for (k, v) in e.context() {
        let key = match k {
            ContextKind::InvalidArg => "argument",
            ContextKind::InvalidValue => "value",
            ContextKind::ValidValue => "allowed",
            ContextKind::InvalidSubcommand => "subcommand",
            ContextKind::ValidSubcommand => "subcommands",
            ContextKind::SuggestedArg
            | ContextKind::SuggestedValue
            | ContextKind::SuggestedSubcommand => "didYouMean",
            ContextKind::Usage => "usage",
            _ => continue,
        };
        let v = text(v);
        let v = match (key, v) {
            ("usage", serde_json::Value::String(u)) => {
                json!(u.trim().trim_start_matches("Usage: ").to_string())
            }
            (_, v) => v,
        };
        details.insert(key.into(), v);
    }
    eprintln!(
        "{}",
        safe_json::compact(&json!({"error": message, "code": "USAGE", "details": details}))
    );
    2
}

/// Prints an error the way the CLI promises: one line, or `{"error", "code", "details"}` with --json.
pub fn print_error(e: &ServiceError, json: bool) {
    if json {
        eprintln!(
            "{}",
            safe_json::compact(
                &json!({"error": e.to_string(), "code": e.code(), "details": e.details()})
            )
        );
    } else {
        eprintln!("error: {}", sanitize(&e.to_string()));
    }
}
