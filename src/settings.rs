//! Every setting, declared once: its config-file key, type, default, environment variables,
//! command-line flag and a line of help. The config loader reads the environment and checks the
//! file's keys and the numbers' ranges from this table; `--help` (`[env: …]`), the manual's
//! ENVIRONMENT section and the README's settings table are made from it, and a test checks that
//! `config.example.toml` documents every file key.
//!
//! Written as a table of our own rather than with figment: the variables of the platform this
//! product replaces (`DATABASE_URL`, `STORE_BACKEND`, `ROOT_API_KEY`, `RUST_LOG`,
//! `ONCHAIN_LEDGER_ENABLED`) sit beside the `ESCROWGRID_` ones in an order of their own, errors
//! must name the key and its file, and the same table must also feed clap's help and the docs —
//! figment merges providers into a struct, but would still need this table for the rest.

/// What a setting holds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Text,
    /// Text never shown back (keys).
    Secret,
    Path,
    Url,
    Bool,
    /// A whole number within the bounds.
    Int(u64, u64),
    /// A number above the first bound and at most the second.
    Float(f64, f64),
    Choice(&'static [&'static str]),
    /// A table of names to text (`[console.theme]`, `[console.keys]`).
    Map,
}

impl Kind {
    fn describe(&self) -> String {
        match self {
            Kind::Text => "text".into(),
            Kind::Secret => "secret".into(),
            Kind::Path => "path".into(),
            Kind::Url => "URL".into(),
            Kind::Bool => "true / false".into(),
            Kind::Int(lo, hi) if *hi == u64::MAX => format!("≥ {lo}"),
            Kind::Int(lo, hi) => format!("{lo}–{hi}"),
            Kind::Float(lo, hi) => format!("> {lo}, ≤ {hi}"),
            Kind::Choice(v) => v.join(" \\| "),
            Kind::Map => "table".into(),
        }
    }
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// The config-file key (`section.key` inside a table); for a variable-only setting, its
    /// variable's name.
    pub key: &'static str,
    /// Whether the config file may set it.
    pub in_file: bool,
    pub kind: Kind,
    /// The default, in words ("" when there is none).
    pub default: &'static str,
    /// The environment variables, the first winning; each wins over the file.
    pub env: &'static [&'static str],
    /// The command-line flag, which wins over everything.
    pub flag: Option<&'static str>,
    pub help: &'static str,
}

const fn file(
    key: &'static str,
    kind: Kind,
    default: &'static str,
    env: &'static [&'static str],
    flag: Option<&'static str>,
    help: &'static str,
) -> Setting {
    Setting {
        key,
        in_file: true,
        kind,
        default,
        env,
        flag,
        help,
    }
}

const fn var(key: &'static str, kind: Kind, help: &'static str) -> Setting {
    Setting {
        key,
        in_file: false,
        kind,
        default: "",
        env: &[],
        flag: None,
        help,
    }
}

const LEVEL_HELP: &str =
    "log verbosity: error, warn, info, debug, trace, or a filter such as escrowgrid=debug";

pub const SETTINGS: &[Setting] = &[
    file(
        "store",
        Kind::Choice(&["memory", "sqlite", "postgres"]),
        "from the URL; sqlite without one",
        &["ESCROWGRID_STORE", "STORE_BACKEND"],
        Some("store"),
        "which store",
    ),
    file(
        "database_url",
        Kind::Url,
        "escrowgrid.db in data_dir",
        &["ESCROWGRID_DATABASE_URL", "DATABASE_URL"],
        Some("database-url"),
        "sqlite:///path.db, sqlite::memory: or postgres://user@host/db",
    ),
    file(
        "data_dir",
        Kind::Path,
        "the platform data directory (~/.local/share/escrowgrid)",
        &["ESCROWGRID_DATA_DIR"],
        None,
        "where the default SQLite database (and then the logs) live",
    ),
    file(
        "log_level",
        Kind::Text,
        "info",
        &["ESCROWGRID_LOG", "ESCROWGRID_LOG_LEVEL", "RUST_LOG"],
        Some("log-level"),
        LEVEL_HELP,
    ),
    file(
        "log_format",
        Kind::Choice(&["text", "json"]),
        "text",
        &["ESCROWGRID_LOG_FORMAT"],
        None,
        "how log lines are written",
    ),
    file(
        "log_target",
        Kind::Choice(&["file", "stderr", "journald"]),
        "file",
        &["ESCROWGRID_LOG_TARGET"],
        None,
        "where log lines go (the console always logs to a file)",
    ),
    file(
        "log_dir",
        Kind::Path,
        "data_dir/logs when a data directory is named, else ~/.local/state/escrowgrid/logs",
        &["ESCROWGRID_LOG_DIR"],
        None,
        "the daily log files' directory",
    ),
    file(
        "root_api_key",
        Kind::Secret,
        "none: a session without a key is the local operator, with root rights",
        &["ESCROWGRID_ROOT_API_KEY", "ROOT_API_KEY"],
        None,
        "the root key; when set, every session must present a key",
    ),
    file(
        "api_key",
        Kind::Secret,
        "",
        &["ESCROWGRID_API_KEY"],
        Some("api-key"),
        "the key this session presents: the root key or an institution key (ak_…)",
    ),
    file(
        "server",
        Kind::Url,
        "",
        &["ESCROWGRID_SERVER"],
        Some("server"),
        "an `escrowgrid serve` to talk to instead of opening a store (https://…): no database credentials here",
    ),
    file(
        "ca_cert",
        Kind::Path,
        "",
        &["ESCROWGRID_CA_CERT"],
        Some("ca-cert"),
        "with server: a private CA (PEM) to trust besides the public web CAs",
    ),
    file(
        "sqlite_poll_ms",
        Kind::Int(1, 60_000),
        "100",
        &["ESCROWGRID_SQLITE_POLL_MS"],
        None,
        "how often the ledger stream polls a SQLite file it cannot watch",
    ),
    file(
        "sqlite_synchronous",
        Kind::Choice(&["full", "extra", "normal", "off"]),
        "full",
        &["ESCROWGRID_SQLITE_SYNCHRONOUS"],
        None,
        "when a SQLite commit counts as done (what a power failure can lose)",
    ),
    file(
        "read_only",
        Kind::Bool,
        "false",
        &["ESCROWGRID_READ_ONLY"],
        Some("read-only"),
        "refuse every write",
    ),
    file(
        "pg_max_connections",
        Kind::Int(1, 1000),
        "10",
        &["ESCROWGRID_PG_MAX_CONNECTIONS"],
        None,
        "PostgreSQL reader connections at most (the writer keeps one more)",
    ),
    file(
        "pg_min_connections",
        Kind::Int(0, 1000),
        "0",
        &["ESCROWGRID_PG_MIN_CONNECTIONS"],
        None,
        "reader connections kept open while idle (at most pg_max_connections)",
    ),
    file(
        "pg_acquire_timeout_ms",
        Kind::Int(10, 600_000),
        "5000",
        &["ESCROWGRID_PG_ACQUIRE_TIMEOUT_MS"],
        None,
        "how long a call waits for a free pooled connection",
    ),
    file(
        "pg_idle_timeout_s",
        Kind::Int(1, 86_400),
        "600",
        &["ESCROWGRID_PG_IDLE_TIMEOUT_S"],
        None,
        "an idle pooled connection is closed after this long",
    ),
    file(
        "pg_connect_timeout_ms",
        Kind::Int(10, 600_000),
        "5000",
        &["ESCROWGRID_PG_CONNECT_TIMEOUT_MS"],
        None,
        "how long opening one connection may take (TCP, TLS, authentication)",
    ),
    file(
        "statement_timeout_ms",
        Kind::Int(10, 3_600_000),
        "15000",
        &["ESCROWGRID_STATEMENT_TIMEOUT_MS"],
        None,
        "PostgreSQL statement_timeout on every connection; also bounds each call",
    ),
    file(
        "replica_url",
        Kind::Url,
        "",
        &["ESCROWGRID_REPLICA_URL"],
        None,
        "a PostgreSQL streaming replica for reads",
    ),
    file(
        "replica_max_lag_ms",
        Kind::Int(0, 86_400_000),
        "5000",
        &["ESCROWGRID_REPLICA_MAX_LAG_MS"],
        None,
        "reads go to the primary while the replica is further behind",
    ),
    file(
        "replica_wait_ms",
        Kind::Int(0, 60_000),
        "500",
        &["ESCROWGRID_REPLICA_WAIT_MS"],
        None,
        "after a write, how long reads wait for the replica to replay it",
    ),
    file(
        "auto_migrate",
        Kind::Bool,
        "false",
        &["ESCROWGRID_AUTO_MIGRATE"],
        None,
        "PostgreSQL: apply pending migrations on open (else `migrate apply`)",
    ),
    file(
        "console.mouse",
        Kind::Bool,
        "false",
        &[],
        None,
        "the console captures the mouse (and the terminal's selection)",
    ),
    file(
        "console.demo_rate",
        Kind::Float(0.0, 1000.0),
        "1",
        &[],
        Some("demo-rate"),
        "demo simulator rate, events per second",
    ),
    file(
        "console.frame_ms",
        Kind::Int(5, 1000),
        "16",
        &[],
        None,
        "the console redraws at most this often",
    ),
    file(
        "console.theme",
        Kind::Map,
        "",
        &[],
        None,
        "colours by role: a name, reset or #rrggbb",
    ),
    file(
        "console.keys",
        Kind::Map,
        "",
        &[],
        None,
        "action name → key (the help overlay lists the actions)",
    ),
    file(
        "onchain.enabled",
        Kind::Bool,
        "false",
        &["ESCROWGRID_ONCHAIN_ENABLED", "ONCHAIN_LEDGER_ENABLED"],
        None,
        "anchor the ledger on a chain (builds with --features onchain)",
    ),
    file(
        "onchain.rpc_url",
        Kind::Url,
        "http://127.0.0.1:8545",
        &["ESCROWGRID_ONCHAIN_RPC_URL"],
        None,
        "the chain's JSON-RPC endpoint",
    ),
    file(
        "onchain.chain_id",
        Kind::Int(1, u64::MAX),
        "",
        &["ESCROWGRID_ONCHAIN_CHAIN_ID"],
        None,
        "the chain id the endpoint must serve",
    ),
    file(
        "onchain.contract",
        Kind::Text,
        "",
        &["ESCROWGRID_ONCHAIN_CONTRACT"],
        None,
        "the Anchor contract's 0x… address",
    ),
    file(
        "onchain.every_events",
        Kind::Int(1, 1_000_000),
        "100",
        &["ESCROWGRID_ONCHAIN_EVERY_EVENTS"],
        None,
        "anchor when this many events arrived since the last anchor",
    ),
    file(
        "onchain.every_seconds",
        Kind::Int(1, 86_400),
        "300",
        &["ESCROWGRID_ONCHAIN_EVERY_SECONDS"],
        None,
        "…or when this many seconds passed with newer events",
    ),
    file(
        "onchain.confirmations",
        Kind::Int(1, 100),
        "1",
        &["ESCROWGRID_ONCHAIN_CONFIRMATIONS"],
        None,
        "blocks an anchor waits for before it counts as confirmed",
    ),
    file(
        "serve.listen",
        Kind::Text,
        "127.0.0.1:4000",
        &["ESCROWGRID_LISTEN", "PORT"],
        Some("listen"),
        "`serve`: address:port to listen on, or a port alone for 127.0.0.1",
    ),
    file(
        "serve.tls_cert",
        Kind::Path,
        "",
        &["ESCROWGRID_TLS_CERT"],
        None,
        "`serve`: the server's certificate chain (PEM); with tls_key, the server speaks HTTPS only",
    ),
    file(
        "serve.tls_key",
        Kind::Path,
        "",
        &["ESCROWGRID_TLS_KEY"],
        None,
        "`serve`: the certificate's private key (PEM)",
    ),
    file(
        "serve.allow_plaintext",
        Kind::Bool,
        "false",
        &["ESCROWGRID_ALLOW_PLAINTEXT"],
        None,
        "`serve`: allow plain HTTP on an address other than loopback (behind a TLS proxy)",
    ),
    file(
        "serve.rate_limit_per_s",
        Kind::Int(0, 1_000_000),
        "50",
        &["ESCROWGRID_RATE_LIMIT_PER_S"],
        None,
        "`serve`: requests per second each API key may make (bursts of twice that); 0 turns the limit off",
    ),
    file(
        "serve.request_timeout_ms",
        Kind::Int(100, 600_000),
        "30000",
        &["ESCROWGRID_REQUEST_TIMEOUT_MS"],
        None,
        "`serve`: a request still running after this is answered 504",
    ),
    file(
        "serve.shutdown_grace_ms",
        Kind::Int(0, 600_000),
        "10000",
        &["ESCROWGRID_SHUTDOWN_GRACE_MS"],
        None,
        "`serve`: on SIGTERM/SIGINT, how long requests in flight may take to finish",
    ),
    file(
        "serve.max_body_bytes",
        Kind::Int(1_024, 1_073_741_824),
        "1048576",
        &["ESCROWGRID_MAX_BODY_BYTES"],
        None,
        "`serve`: a larger request body is refused with 413",
    ),
    var(
        "ESCROWGRID_CONFIG",
        Kind::Path,
        "the config file (as --config; must exist)",
    ),
    var(
        "ESCROWGRID_CONFIG_DIR",
        Kind::Path,
        "the only directory config.toml is looked for in",
    ),
    var(
        "ESCROWGRID_ONCHAIN_KEY",
        Kind::Secret,
        "the anchoring signer's private key (never from a file key or a flag)",
    ),
    var(
        "ESCROWGRID_ONCHAIN_KEY_FILE",
        Kind::Path,
        "a file only its owner can read holding that key",
    ),
    var(
        "PGSSLMODE",
        Kind::Text,
        "TLS to PostgreSQL when the URL does not say (also PGSSLROOTCERT, PGSSLCERT, PGSSLKEY)",
    ),
    var(
        "PGHOST",
        Kind::Text,
        "and PGPORT, PGUSER, PGPASSWORD, PGDATABASE, as libpq reads them; ~/.pgpass too",
    ),
    var("NO_COLOR", Kind::Text, "the console draws without colours"),
];

/// The setting with this file key (or, for a variable-only one, this variable's name).
/// Every key the code asks for is in the table (a test reads each one the loader uses).
pub fn get(key: &str) -> &'static Setting {
    SETTINGS
        .iter()
        .find(|s| s.key == key)
        .unwrap_or_else(|| panic!("setting {key} is not declared in settings.rs"))
}

/// A whole-number setting's bounds.
pub fn int_range(key: &str) -> std::ops::RangeInclusive<u64> {
    match get(key).kind {
        Kind::Int(lo, hi) => lo..=hi,
        k => panic!("setting {key} is {k:?}, not a whole number"),
    }
}

/// The file keys a config file may hold: `Ok` or the first unknown one, with the nearest
/// declared key when one is close.
pub fn check_file_keys(t: &toml::Table) -> Result<(), String> {
    fn walk(prefix: &str, t: &toml::Table) -> Result<(), String> {
        for (k, v) in t {
            let key = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            let declared = SETTINGS.iter().find(|s| s.in_file && s.key == key);
            match (declared, v) {
                (Some(s), _) if s.kind == Kind::Map => {}
                (Some(_), _) => {}
                (None, toml::Value::Table(sub))
                    if SETTINGS
                        .iter()
                        .any(|s| s.in_file && s.key.starts_with(&format!("{key}."))) =>
                {
                    walk(&key, sub)?
                }
                (None, _) => {
                    let near = SETTINGS
                        .iter()
                        .filter(|s| s.in_file)
                        .map(|s| (strsim::levenshtein(s.key, &key), s.key))
                        .min();
                    return Err(match near {
                        Some((d, k)) if d <= 3 => {
                            format!("unknown key `{key}` (did you mean `{k}`?)")
                        }
                        _ => format!("unknown key `{key}`"),
                    });
                }
            }
        }
        Ok(())
    }
    walk("", t)
}

/// `--help`'s note for the flag `long`: ` [env: A, B]`, from the setting the flag sets.
pub fn flag_env_note(long: &str) -> Option<String> {
    let s = SETTINGS.iter().find(|s| s.flag == Some(long))?;
    let mut parts = Vec::new();
    if !s.env.is_empty() {
        parts.push(format!("env: {}", s.env.join(", ")));
    }
    if s.in_file {
        parts.push(format!("config: {}", s.key));
    }
    (!parts.is_empty()).then(|| format!("[{}]", parts.join("; ")))
}

/// The manual's ENVIRONMENT entries: each setting's variables and what they set.
pub fn environment() -> Vec<(String, String)> {
    SETTINGS
        .iter()
        .filter_map(|s| {
            if s.in_file {
                (!s.env.is_empty()).then(|| (s.env.join(", "), format!("{} ({})", s.help, s.key)))
            } else {
                Some((s.key.to_string(), s.help.to_string()))
            }
        })
        .collect()
}

/// The README's table of settings (Markdown), one row per setting.
pub fn markdown() -> String {
    let mut o = String::from(
        "| File key | Environment | Flag | Values | Default | What it sets |\n|---|---|---|---|---|---|\n",
    );
    let code = |v: &str| {
        if v.is_empty() {
            String::new()
        } else {
            format!("`{v}`")
        }
    };
    for s in SETTINGS {
        let key = if s.in_file {
            code(s.key)
        } else {
            String::new()
        };
        let env: Vec<String> = if s.in_file {
            s.env.iter().map(|e| code(e)).collect()
        } else {
            vec![code(s.key)]
        };
        o.push_str(&format!(
            "| {key} | {} | {} | {} | {} | {} |\n",
            env.join(", "),
            s.flag.map(|f| code(&format!("--{f}"))).unwrap_or_default(),
            s.kind.describe(),
            s.default.replace('|', "\\|"),
            s.help.replace('|', "\\|"),
        ));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_variables_are_declared_once() {
        let mut seen = std::collections::BTreeSet::new();
        for s in SETTINGS {
            assert!(seen.insert(s.key), "{} declared twice", s.key);
            for e in s.env {
                assert!(seen.insert(e), "{e} belongs to two settings");
            }
            if let Kind::Int(lo, hi) = s.kind {
                assert!(lo <= hi, "{}", s.key);
            }
        }
    }

    #[test]
    fn unknown_file_keys_are_named_with_the_nearest() {
        let t: toml::Table = toml::from_str(
            "databse_url = \"x\"\n[console]\nmouse = true\n[console.keys]\nquit = \"q\"",
        )
        .unwrap();
        assert_eq!(
            check_file_keys(&t).unwrap_err(),
            "unknown key `databse_url` (did you mean `database_url`?)"
        );
        let t: toml::Table = toml::from_str("[console]\nmouse = true\nframes_ms = 3").unwrap();
        assert_eq!(
            check_file_keys(&t).unwrap_err(),
            "unknown key `console.frames_ms` (did you mean `console.frame_ms`?)"
        );
        let t: toml::Table =
            toml::from_str("[console.keys]\nquit = \"q\"\n[onchain]\nenabled = false").unwrap();
        assert!(check_file_keys(&t).is_ok());
        let t: toml::Table = toml::from_str("[database]\nlisten = 1").unwrap();
        assert_eq!(check_file_keys(&t).unwrap_err(), "unknown key `database`");
    }

    #[test]
    fn the_example_config_documents_every_file_key() {
        let text = include_str!("../config.example.toml");
        let mut section = String::new();
        let mut documented = std::collections::BTreeSet::new();
        for line in text.lines() {
            let l = line.trim_start_matches('#').trim();
            if let Some(s) = l.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
                section = s.to_string();
                documented.insert(section.clone());
            } else if let Some((k, _)) = l.split_once(" = ")
                && !k.contains(' ')
            {
                documented.insert(if section.is_empty() {
                    k.to_string()
                } else {
                    format!("{section}.{k}")
                });
            }
        }
        for s in SETTINGS.iter().filter(|s| s.in_file) {
            assert!(
                documented.contains(s.key),
                "config.example.toml does not document {}",
                s.key
            );
        }
        // And documents nothing the table lacks (map entries are examples of their table).
        for k in &documented {
            let known = SETTINGS.iter().any(|s| {
                s.in_file
                    && (s.key == k
                        || s.key.starts_with(&format!("{k}."))
                        || (s.kind == Kind::Map && k.starts_with(&format!("{}.", s.key))))
            });
            assert!(
                known,
                "config.example.toml documents {k}, which is not a setting"
            );
        }
    }

    #[test]
    fn the_readme_table_is_this_table() {
        let readme = include_str!("../README.md");
        assert!(
            readme.contains(&markdown()),
            "README.md's settings table is out of date; it should read:\n\n{}",
            markdown()
        );
    }
}
