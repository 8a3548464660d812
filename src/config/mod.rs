//! Configuration, layered: built-in defaults < config file < environment < command-line flags.
//! Every key is documented in `config.example.toml`; an unknown key or a bad value is an error that
//! names the key.

use crate::store::Backend;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The config file's shape. Unknown keys are refused, so a typo never silently does nothing.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub store: Option<String>,
    pub database_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub log_level: Option<String>,
    pub log_format: Option<String>,
    pub log_dir: Option<PathBuf>,
    pub log_target: Option<String>,
    pub root_api_key: Option<String>,
    pub api_key: Option<String>,
    pub server: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub sqlite_poll_ms: Option<u64>,
    pub sqlite_synchronous: Option<String>,
    pub read_only: Option<bool>,
    pub pg_max_connections: Option<u64>,
    pub pg_min_connections: Option<u64>,
    pub pg_acquire_timeout_ms: Option<u64>,
    pub pg_idle_timeout_s: Option<u64>,
    pub pg_connect_timeout_ms: Option<u64>,
    pub statement_timeout_ms: Option<u64>,
    pub replica_url: Option<String>,
    pub replica_max_lag_ms: Option<u64>,
    pub replica_wait_ms: Option<u64>,
    pub auto_migrate: Option<bool>,
    #[serde(default)]
    pub console: ConsoleConfig,
    /// On-chain anchoring (`[onchain]`; used by builds with the `onchain` feature).
    #[serde(default)]
    pub onchain: crate::anchor::OnchainFile,
    /// The server's settings (`[serve]`).
    #[serde(default)]
    pub serve: ServeFile,
}

/// The `[serve]` table.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeFile {
    pub listen: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub allow_plaintext: Option<bool>,
    pub rate_limit_per_s: Option<u64>,
    pub request_timeout_ms: Option<u64>,
    pub shutdown_grace_ms: Option<u64>,
    pub max_body_bytes: Option<u64>,
}

/// The resolved `[serve]` settings (`escrowgrid serve`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    pub listen: std::net::SocketAddr,
    /// Both or neither (checked when read).
    pub tls: Option<(PathBuf, PathBuf)>,
    pub allow_plaintext: bool,
    /// Requests per second per key; 0: no limit.
    pub rate_limit_per_s: u32,
    pub request_timeout: Duration,
    pub shutdown_grace: Duration,
    pub max_body_bytes: usize,
    /// How long a stream's client may leave an event unread before it is disconnected (not a
    /// setting: a fixed bound, shortened by tests).
    pub stream_slow: Duration,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 4000)),
            tls: None,
            allow_plaintext: false,
            rate_limit_per_s: 50,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
            max_body_bytes: 1 << 20,
            stream_slow: Duration::from_secs(10),
        }
    }
}

/// Console settings (`[console]` table).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Capture the mouse (clicks, wheel). Off by default: it takes away the terminal's selection.
    pub mouse: Option<bool>,
    /// Theme colour overrides: role name → colour name or #rrggbb.
    #[serde(default)]
    pub theme: BTreeMap<String, String>,
    /// Key remapping: action name → key (e.g. `quit = "ctrl-q"`).
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// Demo simulator rate in events per second.
    pub demo_rate: Option<f64>,
    /// Redraw at most this often, in milliseconds.
    pub frame_ms: Option<u64>,
}

/// Values that come from the command line (None: not given).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub store: Option<String>,
    pub database_url: Option<String>,
    pub log_level: Option<String>,
    pub api_key: Option<String>,
    pub server: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub read_only: bool,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub backend: Backend,
    /// Empty for the memory store.
    pub database_url: String,
    pub data_dir: PathBuf,
    pub log_level: String,
    pub log_format: crate::logging::LogFormat,
    pub log_dir: PathBuf,
    pub log_target: crate::logging::LogTarget,
    pub root_api_key: Option<String>,
    pub api_key: Option<String>,
    /// A server to talk to instead of opening a store (`--server`).
    pub server: Option<String>,
    pub ca_cert: Option<PathBuf>,
    pub sqlite_poll: Duration,
    pub sqlite_synchronous: crate::store::SqliteSync,
    pub read_only: bool,
    pub pg: crate::store::PgSettings,
    pub onchain: crate::anchor::OnchainConfig,
    pub serve: ServeConfig,
    pub console: ConsoleConfig,
    /// The config file that was read, if any.
    pub config_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{key}: {message}")]
    Value { key: String, message: String },
}

fn bad(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError::Value {
        key: key.to_string(),
        message: message.into(),
    }
}

fn project_dirs() -> Option<directories::ProjectDirs> {
    directories::ProjectDirs::from("com", "EscrowGrid", "escrowgrid")
}

/// Where the config file is looked for when neither `--config` nor `ESCROWGRID_CONFIG` names
/// one, first found wins: `ESCROWGRID_CONFIG_DIR` alone when set; else the user's config
/// directory, each of `XDG_CONFIG_DIRS`, then `/etc/escrowgrid`.
pub fn config_search(env: &dyn Env) -> Vec<PathBuf> {
    if let Some(dir) = env.get(crate::settings::get("ESCROWGRID_CONFIG_DIR").key) {
        return vec![PathBuf::from(dir).join("config.toml")];
    }
    let mut dirs: Vec<PathBuf> = project_dirs()
        .map(|d| d.config_dir().to_path_buf())
        .into_iter()
        .collect();
    let xdg = env
        .get("XDG_CONFIG_DIRS")
        .unwrap_or_else(|| "/etc/xdg".into());
    dirs.extend(
        xdg.split(':')
            .filter(|d| !d.is_empty())
            .map(|d| PathBuf::from(d).join("escrowgrid")),
    );
    dirs.push(PathBuf::from("/etc/escrowgrid"));
    dirs.into_iter().map(|d| d.join("config.toml")).collect()
}

/// The config file a process with no `--config` reads (for messages: "edit …").
pub fn default_config_file() -> Option<PathBuf> {
    let search = config_search(&ProcessEnv);
    search
        .iter()
        .find(|p| p.exists())
        .or(search.first())
        .cloned()
}

fn default_data_dir() -> PathBuf {
    project_dirs()
        .map(|d| d.data_dir().to_path_buf())
        .unwrap_or_else(|| PathBuf::from(".escrowgrid"))
}

pub fn parse_backend(key: &str, s: &str) -> Result<Backend, ConfigError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "memory" => Ok(Backend::Memory),
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        other => Err(bad(
            key,
            format!("'{other}' is not a store; expected memory, sqlite or postgres"),
        )),
    }
}

pub(crate) fn backend_of_url(key: &str, url: &str) -> Result<Backend, ConfigError> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        Err(bad(
            key,
            format!(
                "cannot tell the store from '{}': use a sqlite: or postgres:// URL",
                crate::store::postgres::redact(url)
            ),
        ))
    }
}

/// The most a config file may hold.
pub const CONFIG_MAX_BYTES: u64 = 1024 * 1024;

pub fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text =
        crate::files::read_capped(path, CONFIG_MAX_BYTES).map_err(|e| ConfigError::File {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let fail = |message: String| ConfigError::File {
        path: path.to_path_buf(),
        message,
    };
    let table: toml::Table =
        toml::from_str(&text).map_err(|e| fail(e.to_string().trim().replace('\n', " ")))?;
    // Every key must be a declared setting (a typo names the nearest), then each value its type.
    crate::settings::check_file_keys(&table).map_err(fail)?;
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| fail(e.to_string().trim().replace('\n', " ")))
}

/// A source of environment variables (the real environment, or a map in tests).
pub trait Env {
    /// The variable's value; None when it is unset or empty.
    fn get(&self, key: &str) -> Option<String>;
    /// Whether the variable is set to the empty string.
    fn is_empty(&self, key: &str) -> bool;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.is_empty())
    }
    fn is_empty(&self, key: &str) -> bool {
        std::env::var_os(key).is_some_and(|v| v.is_empty())
    }
}

impl Env for BTreeMap<&str, &str> {
    fn get(&self, key: &str) -> Option<String> {
        BTreeMap::get(self, key)
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string())
    }
    fn is_empty(&self, key: &str) -> bool {
        BTreeMap::get(self, key).is_some_and(|v| v.is_empty())
    }
}

/// The first variable of `keys` that is set, with its name.
fn env_first(env: &dyn Env, keys: &[&'static str]) -> Option<(&'static str, String)> {
    keys.iter().find_map(|k| env.get(k).map(|v| (*k, v)))
}

/// The environment variables of the setting `key`, as the settings table declares them.
fn vars(key: &str) -> &'static [&'static str] {
    crate::settings::get(key).env
}

/// The (one) environment variable of the setting `key`.
fn var(key: &str) -> &'static str {
    vars(key)[0]
}

/// A yes/no setting: the first of `keys` set in the environment (true/1/yes/on or
/// false/0/no/off, any case), else the file's value, else false.
fn flag(env: &dyn Env, keys: &[&'static str], file: Option<bool>) -> Result<bool, ConfigError> {
    match env_first(env, keys) {
        Some((key, v)) => match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(bad(key, format!("'{v}' is not true or false"))),
        },
        None => Ok(file.unwrap_or(false)),
    }
}

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// The platform's state directory (Linux: `$XDG_STATE_HOME/escrowgrid`, else
/// `~/.local/state/escrowgrid`); None where the platform has none.
fn default_state_dir() -> Option<PathBuf> {
    project_dirs().and_then(|d| d.state_dir().map(Path::to_path_buf))
}

/// A level name, or comma-separated `target=level` directives (`escrowgrid=debug,sqlx=warn`).
fn valid_log_level(s: &str) -> bool {
    let is_level = |l: &str| LEVELS.iter().any(|x| x.eq_ignore_ascii_case(l.trim()));
    !s.trim().is_empty()
        && s.split(',').all(|d| match d.split_once('=') {
            Some((target, level)) => !target.trim().is_empty() && is_level(level),
            None => is_level(d),
        })
        && tracing_subscriber::EnvFilter::try_new(s).is_ok()
}

impl Config {
    /// The store settings beyond its URL.
    pub fn store_options(&self) -> crate::store::Options {
        crate::store::Options {
            sqlite_poll: self.sqlite_poll,
            sqlite_synchronous: self.sqlite_synchronous,
            pg: self.pg.clone(),
        }
    }
}

pub fn load(ov: &Overrides, env: &dyn Env) -> Result<Config, ConfigError> {
    // File: --config, then ESCROWGRID_CONFIG, must exist; the searched locations are optional.
    let named = ov.config_file.clone().or_else(|| {
        env.get(crate::settings::get("ESCROWGRID_CONFIG").key)
            .map(PathBuf::from)
    });
    let (file, config_file) = match named {
        Some(p) => (read_file(&p)?, Some(p)),
        None => match config_search(env).into_iter().find(|p| p.exists()) {
            Some(p) => (read_file(&p)?, Some(p)),
            None => (FileConfig::default(), None),
        },
    };
    // A value the file gave that is wrong names the file too.
    load_from(ov, env, file, config_file.clone()).map_err(|e| match (e, &config_file) {
        (ConfigError::Value { key, message }, Some(path))
            if !key.starts_with("--")
                && key.chars().any(|c| c.is_ascii_lowercase())
                && std::fs::read_to_string(path).is_ok_and(|text| {
                    let name = key.rsplit('.').next().unwrap_or(&key);
                    text.lines()
                        .any(|l| l.trim_start().starts_with(name) && l.contains('='))
                }) =>
        {
            ConfigError::File {
                path: path.clone(),
                message: format!("{key}: {message}"),
            }
        }
        (e, _) => e,
    })
}

fn load_from(
    ov: &Overrides,
    env: &dyn Env,
    file: FileConfig,
    config_file: Option<PathBuf>,
) -> Result<Config, ConfigError> {
    // An empty data directory would quietly mean the working directory's or the home's.
    if env.is_empty(var("data_dir")) {
        return Err(bad(
            var("data_dir"),
            "is set but empty: unset it for the default, or name a directory",
        ));
    }
    let data_dir = env
        .get(var("data_dir"))
        .map(PathBuf::from)
        .or(file.data_dir.clone())
        .unwrap_or_else(default_data_dir);

    // Store and URL: flag > env > file; each remembers its key for error messages.
    let store: Option<(String, String)> = ov
        .store
        .clone()
        .map(|v| ("--store".to_string(), v))
        .or_else(|| env_first(env, vars("store")).map(|(k, v)| (k.to_string(), v)))
        .or_else(|| file.store.clone().map(|v| ("store".to_string(), v)));
    let url: Option<(String, String)> = ov
        .database_url
        .clone()
        .map(|v| ("--database-url".to_string(), v))
        .or_else(|| env_first(env, vars("database_url")).map(|(k, v)| (k.to_string(), v)))
        .or_else(|| {
            file.database_url
                .clone()
                .map(|v| ("database_url".to_string(), v))
        });

    let backend = match (&store, &url) {
        (Some((k, s)), _) => parse_backend(k, s)?,
        (None, Some((k, u))) => backend_of_url(k, u)?,
        (None, None) => Backend::Sqlite,
    };
    let database_url = match (backend, url) {
        (Backend::Memory, _) => String::new(),
        (Backend::Sqlite, None) => format!("sqlite://{}", data_dir.join("escrowgrid.db").display()),
        (Backend::Postgres, None) => {
            return Err(bad(
                "database_url",
                "the postgres store needs a database URL (--database-url, ESCROWGRID_DATABASE_URL or database_url)",
            ));
        }
        (b, Some((k, u))) => {
            let of_url = backend_of_url(&k, &u)?;
            if of_url != b {
                return Err(bad(&k, format!("is a {of_url} URL but the store is {b}")));
            }
            u
        }
    };

    // --log-level, then ESCROWGRID_LOG (or ESCROWGRID_LOG_LEVEL), then RUST_LOG, then the file.
    let (level_key, log_level) = match ov.log_level.clone() {
        Some(v) => ("--log-level".to_string(), v),
        None => env_first(env, vars("log_level"))
            .map(|(k, v)| (k.to_string(), v))
            .or_else(|| file.log_level.clone().map(|v| ("log_level".to_string(), v)))
            .unwrap_or_else(|| ("log_level".to_string(), "info".into())),
    };
    if !valid_log_level(&log_level) {
        return Err(bad(
            &level_key,
            format!(
                "'{log_level}' is not a log level; use error, warn, info, debug or trace (or target=level, comma-separated)"
            ),
        ));
    }
    let log_target = match env_first(env, vars("log_target"))
        .or_else(|| file.log_target.clone().map(|v| ("log_target", v)))
    {
        None => crate::logging::LogTarget::default(),
        Some((key, v)) => crate::logging::LogTarget::parse(&v).ok_or_else(|| {
            bad(
                key,
                format!("'{v}' is not a log target; use file, stderr or journald"),
            )
        })?,
    };

    let log_format = match env_first(env, vars("log_format"))
        .or_else(|| file.log_format.clone().map(|v| ("log_format", v)))
    {
        None => crate::logging::LogFormat::default(),
        Some((key, v)) => crate::logging::LogFormat::parse(&v)
            .ok_or_else(|| bad(key, format!("'{v}' is not a log format; use text or json")))?,
    };

    let sqlite_poll = number(env, "sqlite_poll_ms", file.sqlite_poll_ms)?
        .map_or(crate::store::sqlite::DEFAULT_POLL, Duration::from_millis);
    let sqlite_synchronous = match env_first(env, vars("sqlite_synchronous")).or_else(|| {
        file.sqlite_synchronous
            .clone()
            .map(|v| ("sqlite_synchronous", v))
    }) {
        None => crate::store::SqliteSync::default(),
        Some((key, v)) => crate::store::SqliteSync::parse(&v).ok_or_else(|| {
            bad(
                key,
                format!(
                    "'{v}' is not a synchronous mode; use full (the default), extra, normal or off"
                ),
            )
        })?,
    };
    let pg = pg_settings(&file, env)?;
    let onchain = onchain_settings(&file.onchain, env)?;
    #[cfg(not(feature = "onchain"))]
    if onchain.enabled {
        return Err(bad(
            "onchain.enabled",
            "this escrowgrid is built without on-chain anchoring: build it with --features onchain, or set enabled = false",
        ));
    }
    if let Some(r) = file.console.demo_rate
        && !(r > 0.0 && r <= 1000.0)
    {
        return Err(bad(
            "console.demo_rate",
            "must be more than 0 and at most 1000 events per second",
        ));
    }
    let frames = crate::settings::int_range("console.frame_ms");
    if let Some(f) = file.console.frame_ms
        && !frames.contains(&f)
    {
        return Err(bad(
            "console.frame_ms",
            format!("must be between {} and {}", frames.start(), frames.end()),
        ));
    }

    Ok(Config {
        backend,
        database_url,
        // ESCROWGRID_LOG_DIR, the file's log_dir; else beside an explicit data directory,
        // or in the platform's state directory ($XDG_STATE_HOME/escrowgrid/logs).
        log_dir: env
            .get(var("log_dir"))
            .filter(|d| !d.trim().is_empty())
            .map(PathBuf::from)
            .or(file.log_dir.clone())
            .unwrap_or_else(|| {
                if env.get(var("data_dir")).is_some() || file.data_dir.is_some() {
                    data_dir.join("logs")
                } else {
                    default_state_dir()
                        .unwrap_or_else(|| data_dir.clone())
                        .join("logs")
                }
            }),
        log_target,
        data_dir,
        log_level,
        log_format,
        root_api_key: env_first(env, vars("root_api_key"))
            .map(|(_, v)| v)
            .or(file.root_api_key.clone())
            .filter(|k| !k.trim().is_empty()),
        api_key: ov
            .api_key
            .clone()
            .or_else(|| env.get(var("api_key")))
            .or(file.api_key.clone()),
        server: ov
            .server
            .clone()
            .or_else(|| env.get(var("server")))
            .or(file.server.clone())
            .filter(|s| !s.trim().is_empty()),
        ca_cert: ov
            .ca_cert
            .clone()
            .or_else(|| env.get(var("ca_cert")).map(PathBuf::from))
            .or(file.ca_cert.clone()),
        sqlite_poll,
        sqlite_synchronous,
        read_only: ov.read_only || flag(env, vars("read_only"), file.read_only)?,
        pg,
        onchain,
        serve: serve_settings(&file.serve, env)?,
        console: file.console,
        config_file,
    })
}

/// A whole number for the setting `key`: its variable, else the file's value, within the
/// bounds the settings table gives.
fn number(env: &dyn Env, key: &str, file: Option<u64>) -> Result<Option<u64>, ConfigError> {
    number_named(env, var(key), key, file, crate::settings::int_range(key))
}

/// A whole number from the variable `var` or else the file's value (`file_key` names it in
/// errors), within `range`.
fn number_named(
    env: &dyn Env,
    var: &str,
    file_key: &str,
    file: Option<u64>,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>, ConfigError> {
    let (name, v) = match env.get(var) {
        Some(v) => {
            let n = v
                .trim()
                .parse::<u64>()
                .map_err(|_| bad(var, format!("'{v}' is not a whole number")))?;
            (var.to_string(), n)
        }
        None => match file {
            Some(n) => (file_key.to_string(), n),
            None => return Ok(None),
        },
    };
    if !range.contains(&v) {
        return Err(bad(
            &name,
            format!("must be between {} and {}", range.start(), range.end()),
        ));
    }
    Ok(Some(v))
}

/// The `[onchain]` settings: file keys, `ESCROWGRID_ONCHAIN_<KEY>` over them, and the
/// reference's `ONCHAIN_LEDGER_ENABLED` for `enabled`.
fn onchain_settings(
    f: &crate::anchor::OnchainFile,
    env: &dyn Env,
) -> Result<crate::anchor::OnchainConfig, ConfigError> {
    let d = crate::anchor::OnchainConfig::default();
    let text = |key: &str, file: &Option<String>| {
        env.get(var(&format!("onchain.{key}")))
            .or_else(|| file.clone())
    };
    let num = |key: &str, file: Option<u64>| number(env, &format!("onchain.{key}"), file);
    let enabled = flag(env, vars("onchain.enabled"), f.enabled)?;
    let contract = text("contract", &f.contract);
    if let Some(c) = &contract
        && !(c.len() == 42 && c.starts_with("0x") && c[2..].chars().all(|x| x.is_ascii_hexdigit()))
    {
        return Err(bad(
            "onchain.contract",
            format!("'{c}' is not a 0x… address"),
        ));
    }
    Ok(crate::anchor::OnchainConfig {
        enabled,
        rpc_url: text("rpc_url", &f.rpc_url).unwrap_or(d.rpc_url),
        chain_id: num("chain_id", f.chain_id)?,
        contract,
        every_events: num("every_events", f.every_events)?.unwrap_or(d.every_events),
        every_seconds: num("every_seconds", f.every_seconds)?.unwrap_or(d.every_seconds),
        confirmations: num("confirmations", f.confirmations)?.unwrap_or(d.confirmations),
    })
}

/// The `[serve]` settings: file keys under their variables.
fn serve_settings(f: &ServeFile, env: &dyn Env) -> Result<ServeConfig, ConfigError> {
    let d = ServeConfig::default();
    let num = |key: &str, file: Option<u64>| number(env, &format!("serve.{key}"), file);
    let path = |key: &str, file: &Option<PathBuf>| {
        env.get(var(&format!("serve.{key}")))
            .map(PathBuf::from)
            .or_else(|| file.clone())
    };
    let listen = match env_first(env, vars("serve.listen"))
        .or_else(|| f.listen.clone().map(|v| ("serve.listen", v)))
    {
        None => d.listen,
        Some((key, v)) => parse_listen(&v).ok_or_else(|| {
            bad(
                key,
                format!("'{v}' is not an address:port (such as 0.0.0.0:4000) or a port"),
            )
        })?,
    };
    let tls = match (path("tls_cert", &f.tls_cert), path("tls_key", &f.tls_key)) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        (Some(_), None) => return Err(bad("serve.tls_key", "tls_cert is set: set tls_key too")),
        (None, Some(_)) => return Err(bad("serve.tls_cert", "tls_key is set: set tls_cert too")),
    };
    Ok(ServeConfig {
        listen,
        tls,
        allow_plaintext: flag(env, vars("serve.allow_plaintext"), f.allow_plaintext)?,
        rate_limit_per_s: num("rate_limit_per_s", f.rate_limit_per_s)?
            .map_or(d.rate_limit_per_s, |n| n as u32),
        request_timeout: num("request_timeout_ms", f.request_timeout_ms)?
            .map_or(d.request_timeout, Duration::from_millis),
        shutdown_grace: num("shutdown_grace_ms", f.shutdown_grace_ms)?
            .map_or(d.shutdown_grace, Duration::from_millis),
        max_body_bytes: num("max_body_bytes", f.max_body_bytes)?
            .map_or(d.max_body_bytes, |n| n as usize),
        stream_slow: d.stream_slow,
    })
}

/// `host:port`, `[v6]:port`, or a port alone (on 127.0.0.1).
pub fn parse_listen(v: &str) -> Option<std::net::SocketAddr> {
    let v = v.trim();
    if let Ok(port) = v.parse::<u16>() {
        return Some(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Ok(a) = v.parse() {
        return Some(a);
    }
    std::net::ToSocketAddrs::to_socket_addrs(v).ok()?.next()
}

/// The PostgreSQL pool and timeout settings.
fn pg_settings(file: &FileConfig, env: &dyn Env) -> Result<crate::store::PgSettings, ConfigError> {
    let d = crate::store::PgSettings::default();
    let ms = Duration::from_millis;
    let max = number(env, "pg_max_connections", file.pg_max_connections)?
        .map_or(d.max_connections, |n| n as u32);
    let min = number(env, "pg_min_connections", file.pg_min_connections)?
        .map_or(d.min_connections, |n| n as u32);
    if min > max {
        return Err(bad(
            "pg_min_connections",
            format!("{min} is more than pg_max_connections ({max})"),
        ));
    }
    let replica = match env_first(env, vars("replica_url"))
        .or_else(|| file.replica_url.clone().map(|v| ("replica_url", v)))
    {
        None => None,
        Some((key, url)) => {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(bad(
                    key,
                    format!(
                        "'{}' is not a postgres:// URL",
                        crate::store::postgres::redact(&url)
                    ),
                ));
            }
            Some(crate::store::replica::ReplicaSettings {
                url,
                max_lag: number(env, "replica_max_lag_ms", file.replica_max_lag_ms)?
                    .map_or(Duration::from_secs(5), ms),
                wait: number(env, "replica_wait_ms", file.replica_wait_ms)?
                    .map_or(Duration::from_millis(500), ms),
            })
        }
    };
    let auto_migrate = flag(env, vars("auto_migrate"), file.auto_migrate)?;
    Ok(crate::store::PgSettings {
        replica,
        auto_migrate,
        max_connections: max,
        min_connections: min,
        acquire_timeout: number(env, "pg_acquire_timeout_ms", file.pg_acquire_timeout_ms)?
            .map_or(d.acquire_timeout, ms),
        idle_timeout: number(env, "pg_idle_timeout_s", file.pg_idle_timeout_s)?
            .map_or(d.idle_timeout, Duration::from_secs),
        connect_timeout: number(env, "pg_connect_timeout_ms", file.pg_connect_timeout_ms)?
            .map_or(d.connect_timeout, ms),
        statement_timeout: number(env, "statement_timeout_ms", file.statement_timeout_ms)?
            .map_or(d.statement_timeout, ms),
    })
}

#[cfg(test)]
mod tests;
