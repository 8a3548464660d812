//! `escrowgrid`: parse arguments, load configuration, set up logging, open the store, then run
//! the console (no subcommand) or a headless subcommand.

use escrowgrid::cli::{self, args::Cli, args::Command};
use escrowgrid::config::{self, Overrides, ProcessEnv};
use escrowgrid::service::ServiceError;
use escrowgrid::{boot, logging};
use std::process::ExitCode;

/// mimalloc rather than the system allocator: the write path allocates many small strings and
/// JSON values per write, and glibc's malloc and free were a third of its profile.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let process_start = std::time::Instant::now();
    // Everything this process creates — the database and its WAL, the logs, the witness file —
    // is the operator's alone: it holds balances, holders and the audit trail.
    #[cfg(unix)]
    // SAFETY: umask only sets this process's file-creation mask, before any thread starts.
    unsafe {
        libc::umask(0o077);
    }
    let cli = match cli::args::command()
        .try_get_matches()
        .and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(cli::usage_error(e)),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(run(cli, process_start));
    // Do not wait for background tasks (a ledger stream, a simulator) to notice.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    ExitCode::from(code)
}

fn fail(json: bool, e: &ServiceError) -> u8 {
    cli::print_error(e, json);
    e.exit_code() as u8
}

async fn run(cli: Cli, process_start: std::time::Instant) -> u8 {
    use cli::OutputFormat;
    let format = match (cli.json, cli.output) {
        (true, Some(f)) if f != OutputFormat::Json => {
            return fail(
                true,
                &ServiceError::field("output", "--json is -o json: give one of them"),
            );
        }
        (true, _) => OutputFormat::Json,
        (false, f) => f.unwrap_or_default(),
    };
    let json = format == OutputFormat::Json;
    if matches!(format, OutputFormat::Csv | OutputFormat::Tsv)
        && !cli.command.as_ref().is_some_and(Command::is_list)
    {
        return fail(
            json,
            &ServiceError::field(
                "output",
                "csv and tsv are for lists (institution, template, asset, position, policy, apikey, ledger and audit list); use -o json or -o table here",
            ),
        );
    }
    cli::set_output(cli::Output {
        format,
        headers: !cli.no_headers,
    });
    // `--config` once took a template's JSON (`template create --config '{…}'`): say where it went.
    if let Some(c) = &cli.config
        && c.to_string_lossy().trim_start().starts_with(['{', '@'])
    {
        return fail(
            json,
            &ServiceError::field(
                "config",
                "--config names the settings file (TOML); a template's JSON is --template-config",
            ),
        );
    }
    let ov = Overrides {
        config_file: cli.config.clone(),
        store: if cli.demo {
            Some("memory".into())
        } else {
            cli.store.clone()
        },
        database_url: cli.database_url.clone(),
        log_level: cli.log_level.clone(),
        api_key: cli.api_key.clone(),
        server: cli.server.clone(),
        ca_cert: cli.ca_cert.clone(),
        read_only: cli.read_only,
    };
    if let Some(c @ (Command::Completions { .. } | Command::Man)) = &cli.command {
        return match cli::print_docs(c) {
            Ok(()) => 0,
            Err(e) => fail(json, &ServiceError::Internal(e.to_string())),
        };
    }
    let cfg = match config::load(&ov, &ProcessEnv) {
        Ok(c) => c,
        Err(e) => return fail(json, &ServiceError::field("config", e.to_string())),
    };
    if let Err(e) = escrowgrid::tui::check_settings(&cfg.console) {
        let e = match &cfg.config_file {
            Some(p) => format!("config file {}: {e}", p.display()),
            None => e,
        };
        return fail(json, &ServiceError::field("config", e));
    }
    // The console owns the terminal: its lines go to the file whatever log_target says.
    let target = match (&cli.command, cfg.log_target) {
        (None, logging::LogTarget::Stderr) => logging::LogTarget::File,
        (_, t) => t,
    };
    let (log_guard, log_file) =
        match logging::init(&cfg.log_dir, &cfg.log_level, cfg.log_format, target) {
            Ok(l) => {
                let f = l.file.display().to_string();
                (Some(l), Some(f))
            }
            // No log is no way to find out later what happened: say so and stop.
            Err(e) => {
                return fail(
                    json,
                    &ServiceError::field(
                        "log",
                        format!(
                            "{e} (set log_dir / ESCROWGRID_LOG_DIR, or log_target = \"stderr\")"
                        ),
                    ),
                );
            }
        };
    tracing::info!(backend = %cfg.backend, "escrowgrid starting");
    let Some(command) = cli.command else {
        let rate = cli.demo_rate.or(cfg.console.demo_rate).unwrap_or(1.0);
        if !(rate > 0.0 && rate <= 1000.0) {
            return fail(
                json,
                &ServiceError::field(
                    "demo-rate",
                    "must be more than 0 and at most 1000 events per second",
                ),
            );
        }
        let opts = escrowgrid::tui::Options {
            demo: cli.demo,
            demo_rate: rate,
            seed_demo: cli.seed_demo,
            demo_keep: cli.demo_keep.clone(),
            process_start,
        };
        let r = escrowgrid::tui::run(&cfg, opts, log_file).await;
        drop(log_guard);
        return match r {
            Ok(code) => code as u8,
            Err(e) => fail(false, &ServiceError::Internal(e)),
        };
    };
    if let Command::Bench(b) = command {
        let r = cli::bench::run(b, &cfg, json).await;
        drop(log_guard);
        return match r {
            Ok(()) => 0,
            Err(e) => fail(json, &e),
        };
    }
    if let Command::Compare { a, b } = &command {
        let r = cli::compare(&cfg, a, b, json).await;
        drop(log_guard);
        return match r {
            Ok(code) => code as u8,
            Err(e) => fail(json, &e),
        };
    }
    #[cfg(feature = "onchain")]
    if let Command::Anchor(a) = &command
        && let Some(r) = cli::anchor_without_store(a, &cfg, json).await
    {
        drop(log_guard);
        return match r {
            Ok(code) => code as u8,
            Err(e) => fail(json, &e),
        };
    }
    if let Some(server) = cfg.server.clone() {
        let r = through_server(&server, &cfg, command, json).await;
        drop(log_guard);
        return match r {
            Ok(code) => code as u8,
            Err(e) => fail(json, &e),
        };
    }
    let created = boot::new_database(&cfg, cfg.backend);
    let store = match boot::open_store(&cfg, cfg.backend).await {
        Ok(s) => s,
        Err(e) => {
            if matches!(command, Command::Health) {
                let target = boot::target(&cfg, cfg.backend);
                cli::print_unreachable(cfg.backend, &target, &e, log_file.as_deref(), json);
                return 1;
            }
            // A scraper needs the figures most when the store is down: `escrowgrid_up 0`, exit
            // 0 (the reason on stderr), so a `metrics > f.tmp && mv` recipe replaces the file.
            if matches!(command, Command::Metrics) {
                let target = boot::target(&cfg, cfg.backend);
                let h = escrowgrid::service::health::HealthReport::unreachable(
                    cfg.backend,
                    target,
                    e.to_string(),
                );
                print!("{}", escrowgrid::service::health::prometheus(&h));
                eprintln!(
                    "error: {}",
                    escrowgrid::domain::text::sanitize(&e.to_string())
                );
                return 0;
            }
            return fail(json, &ServiceError::from(e));
        }
    };
    let svc = boot::service(&cfg, store, log_file);
    if let Command::Serve { listen } = command {
        let r = cli::serve(svc, &cfg, listen).await;
        drop(log_guard);
        return match r {
            Ok(code) => code as u8,
            Err(e) => fail(json, &e),
        };
    }
    let actor = match boot::authenticate(&cfg, &svc).await {
        Ok(a) => a,
        Err(e) => return fail(json, &e),
    };
    if let Command::Mirror { cmd, to, once } = &command {
        let r = match (cmd, to) {
            (Some(_), _) => cli::mirror_promote(&svc, &actor, json).await,
            (None, Some(to)) => cli::mirror(&svc, &actor, &cfg, to, *once, json).await,
            (None, None) => Err(ServiceError::field("to", "mirror needs --to URL")),
        };
        drop(log_guard);
        return match r {
            Ok(code) => code as u8,
            Err(e) => fail(json, &e),
        };
    }
    let witness = escrowgrid::witness::default_path(&cfg.data_dir);
    #[cfg(feature = "onchain")]
    let result = match command {
        Command::Anchor(a) => cli::anchor(&svc, &actor, a, &cfg, json).await,
        other => cli::run(&svc, &actor, other, json, &witness).await,
    };
    #[cfg(not(feature = "onchain"))]
    let result = cli::run(&svc, &actor, command, json, &witness).await;
    let code = match result {
        Ok(code) => code as u8,
        Err(e) => fail(json, &e),
    };
    // Said after the output (a refusal stays one line): a mistyped path shows at once.
    if let Some(p) = created.filter(|_| code == 0) {
        eprintln!("created new database {}", p.display());
    }
    drop(log_guard);
    code
}

/// A command run through a server (`--server`): no store is opened here; the key is the
/// server's to check.
async fn through_server(
    server: &str,
    cfg: &config::Config,
    command: Command,
    json: bool,
) -> Result<i32, ServiceError> {
    use escrowgrid::service::api::Api;
    if matches!(command, Command::Serve { .. } | Command::Bench(_)) {
        return Err(ServiceError::field(
            "server",
            "serve and bench open a store themselves: drop --server (and ESCROWGRID_SERVER)",
        ));
    }
    let remote =
        escrowgrid::client::Remote::new(server, cfg.ca_cert.as_deref(), cfg.api_key.clone())?;
    let actor = remote.authenticate(cfg.api_key.as_deref()).await?;
    let witness = escrowgrid::witness::default_path(&cfg.data_dir);
    cli::run(&remote, &actor, command, json, &witness).await
}
