//! Command-line arguments (clap). Global flags work before or after the subcommand.

use crate::domain::{LedgerKind, PositionState, Role};
use clap::builder::PossibleValuesParser;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Every position state, for `--state` and `--expect-state` (any case).
fn states() -> PossibleValuesParser {
    PossibleValuesParser::new(PositionState::ALL.iter().map(|s| s.as_str()))
}

/// The states a position can be moved to (every state but CREATED), for `--to`.
fn targets() -> PossibleValuesParser {
    PossibleValuesParser::new(
        PositionState::ALL
            .iter()
            .filter(|s| **s != PositionState::Created)
            .map(|s| s.as_str()),
    )
}

fn kinds() -> PossibleValuesParser {
    PossibleValuesParser::new(LedgerKind::ALL.iter().map(|k| k.as_str()))
}

fn roles() -> PossibleValuesParser {
    PossibleValuesParser::new(Role::ALL.iter().map(|r| r.as_str()))
}

/// A page size: 1 to 1000.
fn page_limit() -> clap::builder::RangedI64ValueParser<u32> {
    clap::value_parser!(u32).range(1..=1000)
}

#[derive(Debug, Parser)]
#[command(
    name = "escrowgrid",
    version = crate::build::LONG_VERSION,
    about = "EscrowGrid Console: operations console for escrow and tokenization",
    long_about = "EscrowGrid Console.\n\nWith no subcommand, opens the terminal console on the configured store \
(default: a SQLite file in the platform data directory). Subcommands run headless; add --json for \
machine-readable output.\n\nExit status: 0 success, 2 bad input (invalid value, unknown id, refused \
transition, not allowed), 1 any other failure (conflict, store unreachable, broken ledger)."
)]
pub struct Cli {
    /// Config file (TOML). Default: the first config.toml in the platform config directory,
    /// XDG_CONFIG_DIRS, /etc/escrowgrid. [env: ESCROWGRID_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Store backend [memory, sqlite, postgres]; default: from the database URL.
    #[arg(long, global = true, value_name = "STORE")]
    pub store: Option<String>,
    /// Database URL (sqlite:///path.db, sqlite::memory:, postgres://user@host/db).
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
    /// Log level: error, warn, info, debug, trace.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// API key: the root key or an institution key (ak_…).
    #[arg(long, global = true, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Talk to this `escrowgrid serve` (https://host:port) instead of opening a store: no
    /// database URL and no database credentials on this machine.
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
    /// With --server: a private CA's certificate (PEM) to trust besides the public web CAs.
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Machine-readable JSON output (errors too, on stderr); the same as `-o json`.
    #[arg(long, global = true)]
    pub json: bool,
    /// Output format: table (the default), json, or csv / tsv for lists (one header line, then
    /// one record per line; amounts without thousands separators).
    #[arg(short = 'o', long, global = true, value_name = "FORMAT", value_enum)]
    pub output: Option<crate::cli::OutputFormat>,
    /// Lists: leave out the header line (table, csv, tsv).
    #[arg(long, global = true)]
    pub no_headers: bool,
    /// Refuse every write.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Open the console on the in-memory store with the demo data set and a live simulator.
    #[arg(long)]
    pub demo: bool,
    /// Demo simulator rate, events per second (default 1).
    #[arg(long, value_name = "RATE")]
    pub demo_rate: Option<f64>,
    /// Console: load the demo data set first if the database is empty.
    #[arg(long)]
    pub seed_demo: bool,
    /// With --demo: keep the session — mirror it, as it runs, into the store at URL (a sqlite:
    /// or postgres:// URL; a new SQLite file is created), to open or compare later.
    #[arg(long, value_name = "URL", requires = "demo")]
    pub demo_keep: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The command line's definition, with each flag's `[env: …; config: …]` note from the
/// settings table.
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    let mut c = Cli::command();
    let notes: Vec<(String, String)> = c
        .get_arguments()
        .filter_map(|a| {
            let note = crate::settings::flag_env_note(a.get_long()?)?;
            Some((a.get_id().to_string(), note))
        })
        .collect();
    for (id, note) in notes {
        c = c.mut_arg(id, |a| {
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            a.help(format!("{help} {note}"))
        });
    }
    c
}

impl Command {
    /// Whether the command prints a list (so `-o csv` and `-o tsv` apply to it).
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            Command::Institution(InstitutionCmd::List { .. })
                | Command::Template(TemplateCmd::List { .. })
                | Command::Asset(AssetCmd::List { .. })
                | Command::Position(PositionCmd::List { .. })
                | Command::Policy(PolicyCmd::List { .. })
                | Command::ApiKey(ApiKeyCmd::List { .. })
                | Command::Ledger(LedgerCmd::List { .. })
                | Command::Audit(AuditCmd::List { .. })
        )
    }
}

#[derive(Debug, Subcommand)]
pub enum MirrorCmd {
    /// Make this store — a mirror's target — take writes again (stop its mirror first).
    Promote,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Institutions: create, list, show.
    #[command(subcommand)]
    Institution(InstitutionCmd),
    /// Asset templates: create, list, show.
    #[command(subcommand)]
    Template(TemplateCmd),
    /// Assets: create, list, show.
    #[command(subcommand)]
    Asset(AssetCmd),
    /// Escrow positions: create, list, show, transition.
    #[command(subcommand)]
    Position(PositionCmd),
    /// Institution policies: set, list.
    #[command(subcommand)]
    Policy(PolicyCmd),
    /// Institution API keys: create, list, revoke.
    #[command(subcommand, name = "apikey")]
    ApiKey(ApiKeyCmd),
    /// The hash-chained ledger: list, tail, verify.
    #[command(subcommand)]
    Ledger(LedgerCmd),
    /// The audit trail.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Store health: backend, reachability, latency, counts, ledger head, log file, this
    /// process's operation timings and (PostgreSQL) the database's own statistics.
    Health,
    /// The health figures in the Prometheus text format, for node_exporter's textfile collector:
    /// `escrowgrid metrics > /var/lib/node_exporter/escrowgrid.prom.tmp && mv …`. Exit 0 even
    /// when the store is down (escrowgrid_up 0 says so).
    Metrics,
    /// Serve the API over HTTPS (`/v1`), the live ledger (SSE), and `/health`, `/ready`,
    /// `/metrics`, until SIGTERM or SIGINT. Needs a root API key; callers authenticate with
    /// `Authorization: Bearer <key>`. Runs the anchoring worker when `[onchain]` is enabled.
    Serve {
        /// address:port to listen on (a port alone: 127.0.0.1), e.g. 0.0.0.0:4000.
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// A full consistency audit: the chain, every entity against its creation event, each
    /// position against the replay of its lifecycle, every ledger event against its audit
    /// record, every reference. Exit 0 when clean, 1 with each finding.
    Check,
    /// Apply this store's ledger and audit trail to the store at URL as they grow, so that it
    /// holds the same book (the ledger byte for byte). Starts where the target ends (a new one
    /// gets everything from seq 1); stopped at any moment, it goes on from there; a target with
    /// another history is refused, naming the first seq where they part. Follows until
    /// interrupted, or with --once until caught up. The target is marked a mirror: it takes
    /// writes from its mirror only, until `mirror promote` is run on it.
    #[command(subcommand_negates_reqs = true, args_conflicts_with_subcommands = true)]
    Mirror {
        #[command(subcommand)]
        cmd: Option<MirrorCmd>,
        /// The target: a sqlite: or postgres:// URL (a new SQLite file is created).
        #[arg(long, value_name = "URL", required = true)]
        to: Option<String>,
        /// Stop once the target has caught up.
        #[arg(long)]
        once: bool,
    },
    /// Do two stores hold the same book? Both heads (seq and hash), each store's check, and a
    /// digest of every stored row of each kind (entities, lifecycle steps, policies, API keys,
    /// audit records). Exit 0 when they hold the same book, 1 with the first difference.
    Compare {
        /// The first store: a sqlite: or postgres:// URL.
        #[arg(value_name = "URL_A")]
        a: String,
        /// The second store.
        #[arg(value_name = "URL_B")]
        b: String,
    },
    /// Write the whole store (entities, lifecycles, policies, API key records without tokens,
    /// the ledger, the audit trail) to FILE as JSON lines ("-": standard output), ending with a
    /// trailer (counts, both chains' heads, the file's SHA-256). The file is written beside
    /// FILE and renamed into place when complete: an existing FILE is never damaged.
    Export {
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
        /// Replace FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Load an export into an empty store of any backend, all or nothing: the entities are
    /// built from its ledger alone (a row that differs from it refuses the import), both chains
    /// are verified, and the file must match its trailer.
    Import {
        #[arg(value_name = "FILE")]
        file: std::path::PathBuf,
        /// Accept an export of an older escrowgrid (version 1, no trailer: a file cut short
        /// cannot be told from a whole one).
        #[arg(long)]
        legacy: bool,
    },
    /// Load a data set.
    Seed(SeedArgs),
    /// The database schema: its migrations beside this binary's (status), and applying the
    /// pending ones (apply). PostgreSQL applies migrations only here (or with auto_migrate);
    /// an empty database is given the schema on first use; SQLite files migrate on open.
    #[command(subcommand)]
    Migrate(MigrateCmd),
    /// On-chain anchoring of the ledger head ([onchain] settings; the signer's key from
    /// ESCROWGRID_ONCHAIN_KEY or ESCROWGRID_ONCHAIN_KEY_FILE).
    #[cfg(feature = "onchain")]
    #[command(subcommand)]
    Anchor(AnchorCmd),
    /// Print a shell completion script: `escrowgrid completions bash > /etc/bash_completion.d/escrowgrid`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `escrowgrid man | man -l -`.
    Man,
    /// Benchmarks: `write` on a scratch database of its own; `stream` and `console` write
    /// benchmark data into the configured (empty) database.
    #[command(subcommand)]
    Bench(BenchCmd),
}

#[derive(Debug, Subcommand)]
pub enum BenchCmd {
    /// The write path and the hot reads, each beside a baseline measured in the same run, on a
    /// scratch database the bench creates and removes (never the configured one's data).
    Write {
        /// Operations per run with many callers (default: 200000 on memory, 8000 otherwise).
        #[arg(long)]
        ops: Option<usize>,
        /// Operations per run with one caller (default: 100000 on memory, 2000 otherwise).
        #[arg(long)]
        ops_one: Option<usize>,
        /// Concurrent callers in the "many" runs.
        #[arg(long, default_value_t = 16)]
        callers: usize,
        /// Runs per figure; the median is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Positions to load for the read figures (0 skips the reads).
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
        /// Skip the 2-process runs.
        #[arg(long)]
        no_processes: bool,
        /// Memory: skip the unmeasured warm-up pass (the figures then include the first touch
        /// of the fresh memory the store grows into).
        #[arg(long)]
        cold: bool,
    },
    /// One process of `bench write`'s 2-process runs (started by it).
    #[command(hide = true)]
    Worker {
        #[arg(long)]
        op: String,
        #[arg(long)]
        callers: usize,
        #[arg(long)]
        ops: usize,
        #[arg(long)]
        institution: String,
        #[arg(long)]
        asset: String,
        /// Create positions until killed, printing `ack <id>` as each is acknowledged (crash
        /// tests).
        #[arg(long)]
        acks: bool,
    },
    /// Ledger stream commit-to-delivery latency, seen from a second connection.
    Stream {
        #[arg(long, default_value_t = 1000)]
        events: usize,
    },
    /// The Positions tab over a large synthetic SQLite data set: page queries and frame times.
    Console {
        #[arg(long, default_value_t = 1_000_000)]
        rows: u64,
    },
}

#[derive(Debug, Args)]
pub struct PageArgs {
    /// Page size, 1-1000.
    #[arg(long, default_value_t = 100, value_parser = page_limit())]
    pub limit: u32,
    /// Start after this id (keyset pagination: pass the previous page's last id).
    #[arg(long, value_name = "ID")]
    pub after: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum InstitutionCmd {
    /// Create an institution.
    Create {
        #[arg(long)]
        name: String,
        /// Regions (US, EU_UK, SG, UAE); repeat or comma-separate.
        #[arg(long = "region", required = true, num_args = 1.., value_delimiter = ',')]
        regions: Vec<String>,
        /// Verticals (CONSTRUCTION, TRADE_FINANCE); default: both.
        #[arg(long = "vertical", num_args = 1.., value_delimiter = ',')]
        verticals: Vec<String>,
    },
    /// List institutions.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one institution with its policies, templates and assets.
    Show { id: String },
}

#[derive(Debug, Subcommand)]
pub enum TemplateCmd {
    /// Create an asset template.
    Create {
        #[arg(long, value_name = "ID")]
        institution: Option<String>,
        /// CONSTR_ESCROW, CONSTR_RETAINAGE (CONSTRUCTION); TF_INVOICE, TF_LC (TRADE_FINANCE).
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        vertical: String,
        #[arg(long)]
        region: String,
        /// The template's config as a JSON object, or @FILE.
        #[arg(long, value_name = "JSON")]
        template_config: String,
    },
    /// List templates.
    List {
        #[arg(long, value_name = "ID")]
        institution: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one template.
    Show { id: String },
}

#[derive(Debug, Subcommand)]
pub enum AssetCmd {
    /// Create an asset.
    Create {
        #[arg(long, value_name = "ID")]
        institution: Option<String>,
        #[arg(long, value_name = "ID")]
        template: String,
        #[arg(long)]
        label: String,
        /// Metadata as a JSON object, or @FILE.
        #[arg(long, value_name = "JSON")]
        metadata: Option<String>,
    },
    /// List assets.
    List {
        #[arg(long, value_name = "ID")]
        institution: Option<String>,
        #[arg(long, value_name = "ID")]
        template: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one asset.
    Show { id: String },
}

#[derive(Debug, Subcommand)]
pub enum PositionCmd {
    /// Create a position (state CREATED).
    Create {
        #[arg(long, value_name = "ID")]
        institution: Option<String>,
        #[arg(long, value_name = "ID")]
        asset: String,
        /// Holder reference.
        #[arg(long)]
        holder: String,
        #[arg(long, value_name = "CCY")]
        currency: String,
        /// Exact decimal, e.g. 1250.50 (at most 8 decimals).
        #[arg(long, value_name = "DEC", allow_negative_numbers = true)]
        amount: String,
        #[arg(long, value_name = "REF")]
        external_ref: Option<String>,
    },
    /// List positions, oldest first.
    List {
        #[arg(long, value_name = "ID")]
        institution: Option<String>,
        #[arg(long, value_name = "ID")]
        asset: Option<String>,
        #[arg(long, value_name = "ID")]
        template: Option<String>,
        /// Only positions in this state (any case).
        #[arg(long, value_name = "STATE", ignore_case = true, value_parser = states())]
        state: Option<String>,
        /// Exact holder reference.
        #[arg(long, value_name = "REF")]
        holder: Option<String>,
        /// Substring of the id, holder reference or external reference.
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show a position with its lifecycle history.
    Show {
        /// The position's id (pos_…).
        #[arg(value_name = "ID")]
        id: String,
    },
    /// Move a position to another state.
    #[command(
        long_about = "Move a position to another state, recording the move (and the reason) in \
the ledger and the audit trail.\n\nThe lifecycle:\n  CREATED            → FUNDED, CANCELLED, EXPIRED\n  \
FUNDED             → PARTIALLY_RELEASED, RELEASED, CANCELLED, EXPIRED\n  PARTIALLY_RELEASED → \
PARTIALLY_RELEASED (a further release), RELEASED, CANCELLED, EXPIRED\n  RELEASED, CANCELLED and \
EXPIRED are final.\nMoving a position to the state it is in (other than a further partial release) \
changes nothing and exits 0.\n\nExit status: 0 moved (or nothing to do), 2 a move the lifecycle does \
not allow, an unknown id or a bad value, 1 a conflict (--expect-state no longer holds)."
    )]
    Transition {
        /// The position's id (pos_…), whole: `position list` prints them.
        #[arg(value_name = "ID")]
        id: String,
        /// The state to move to (any case); the lifecycle above says which are allowed from
        /// the position's state.
        #[arg(long, value_name = "STATE", ignore_case = true, value_parser = targets())]
        to: String,
        /// Why (up to 1000 characters): kept in the ledger and shown in the position's lifecycle.
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Refuse (conflict, exit 1) unless the position is in this state now: the state you
        /// saw, so a move made meanwhile by someone else is not overwritten.
        #[arg(long, value_name = "STATE", ignore_case = true, value_parser = states())]
        expect_state: Option<String>,
        /// The money a release moves (a plain decimal in the position's currency): required
        /// with --to PARTIALLY_RELEASED (less than what the position holds; all of it is
        /// RELEASED), optional with --to RELEASED (then exactly what is held).
        #[arg(long, value_name = "DEC", allow_negative_numbers = true)]
        amount: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrateCmd {
    /// Applied and pending migrations, the database's version and this binary's: exit 0 when
    /// they match, 1 when migrations are pending or the database is newer.
    Status,
    /// Apply the pending migrations (as the database's owner), then print the status.
    Apply {
        /// Print what would be applied; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Set the policy of an institution for a region. Only the settings given change; the
    /// others keep the values of the region's current policy (a new policy starts with none).
    Set {
        #[arg(long, value_name = "ID")]
        institution: Option<String>,
        #[arg(long)]
        region: String,
        /// The smallest amount a new position may have.
        #[arg(long, value_name = "DEC", allow_negative_numbers = true)]
        min_amount: Option<String>,
        /// Remove the minimum.
        #[arg(long, conflicts_with = "min_amount")]
        no_min_amount: bool,
        /// The largest amount a new position may have.
        #[arg(long, value_name = "DEC", allow_negative_numbers = true)]
        max_amount: Option<String>,
        /// Remove the maximum.
        #[arg(long, conflicts_with = "max_amount")]
        no_max_amount: bool,
        /// Allowed currencies; repeat or comma-separate.
        #[arg(long = "currency", num_args = 1.., value_delimiter = ',')]
        currencies: Option<Vec<String>>,
        /// Allow every currency (removes the list).
        #[arg(long, conflicts_with_all = ["currencies", "block_all_currencies"])]
        any_currency: bool,
        /// Allow no currency at all (blocks new positions in the region).
        #[arg(long, conflicts_with = "currencies")]
        block_all_currencies: bool,
        /// The most one release (partial or final) of a position may move.
        #[arg(long, value_name = "DEC", allow_negative_numbers = true)]
        max_release_amount: Option<String>,
        /// Remove the cap on one release.
        #[arg(long, conflicts_with = "max_release_amount")]
        no_max_release_amount: bool,
    },
    /// List policies.
    List {
        #[arg(long, value_name = "ID")]
        institution: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiKeyCmd {
    /// Create an institution API key; the token is printed once.
    Create {
        #[arg(long, value_name = "ID")]
        institution: Option<String>,
        #[arg(long)]
        label: String,
        /// admin (reads and writes its institution) or read_only (reads only).
        #[arg(long, ignore_case = true, value_parser = roles())]
        role: String,
    },
    /// List API keys.
    List {
        #[arg(long, value_name = "ID")]
        institution: Option<String>,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Revoke an API key (revoking a revoked key changes nothing).
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum LedgerCmd {
    /// List ledger events in seq order.
    List {
        #[arg(long, value_name = "ID")]
        position: Option<String>,
        /// Only events of this kind (any case).
        #[arg(long, value_name = "KIND", ignore_case = true, value_parser = kinds())]
        kind: Option<String>,
        /// Only events after this seq.
        #[arg(long, value_name = "SEQ", default_value_t = 0)]
        after: i64,
        /// Page size, 1-1000.
        #[arg(long, default_value_t = 100, value_parser = page_limit())]
        limit: u32,
    },
    /// Print the newest events; with --follow, keep printing new ones as they commit.
    Tail {
        /// Start after this seq (default: the last --last events).
        #[arg(long, value_name = "SEQ")]
        after: Option<i64>,
        /// How many recent events to print first when --after is not given (0-1000).
        #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=1000))]
        last: u32,
        #[arg(long, short)]
        follow: bool,
        #[arg(long, value_name = "ID")]
        position: Option<String>,
        /// Only events of this kind (any case).
        #[arg(long, value_name = "KIND", ignore_case = true, value_parser = kinds())]
        kind: Option<String>,
    },
    /// Verify the hash chain from seq 1, and the heads verified before (your witness file, in
    /// the data directory): exit 1 and name the first broken seq, or a witnessed seq that is gone
    /// or rewritten. A clean verify records its head in your witness file.
    Verify {
        /// Also check the heads in another operator's witness file.
        #[arg(long, value_name = "FILE")]
        witness: Vec<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// List audit records, newest first.
    List {
        #[arg(long)]
        action: Option<String>,
        /// Only records of this outcome.
        #[arg(long, ignore_case = true, value_parser = ["success", "failure"])]
        outcome: Option<String>,
        /// Page size, 1-1000.
        #[arg(long, default_value_t = 100, value_parser = page_limit())]
        limit: u32,
        /// Only records older than this audit id.
        #[arg(long, value_name = "ID")]
        before: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Load the demo data set (institutions, templates of every code, assets, positions in every state).
    #[arg(long, required = true)]
    pub demo: bool,
    /// How many positions to generate.
    #[arg(long, default_value_t = 300)]
    pub positions: u32,
    /// Seed of the generator (same seed, same data).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Load even if the database already holds data.
    #[arg(long)]
    pub force: bool,
}

#[cfg(feature = "onchain")]
#[derive(Debug, Subcommand)]
pub enum AnchorCmd {
    /// Deploy the Anchor contract (owned by the signer) and print its address.
    Deploy,
    /// The outbox: the last confirmed anchor, what waits, the last error, the newest anchors.
    Status {
        /// How many anchors to list, 1-1000.
        #[arg(long, default_value_t = 10, value_parser = page_limit())]
        limit: u32,
    },
    /// Anchor the current head now and wait for it to be confirmed (root).
    Publish,
    /// Read every Anchored event from the chain and check each head against the ledger
    /// recomputed from its events: exit 0 when all match, 1 and the first mismatching seq.
    Verify {
        /// Check an export (`ledger tail --after 0 --json` output) instead, with no database.
        #[arg(long, value_name = "FILE")]
        export: Option<PathBuf>,
    },
    /// Run the anchoring worker in the foreground until interrupted (root).
    Run,
}
