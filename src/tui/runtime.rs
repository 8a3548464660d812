//! The console's loop: the pre-console screens (connecting, signing in, seeding), then terminal
//! events, ticks, service replies and ledger events turned into `Msg`s for `App::update`, the
//! `Cmd`s that come back run against the service, and redraws at most once per frame interval.

use super::app::{self, App, Msg, Session};
use super::keymap::{Action, Context, Key};
use super::terminal::{Signals, Term, osc52, setup_terminal};
use super::widgets::{centered, dialog_block};
use super::{Options, chrome, exec, keymap, theme};
use crate::boot;
use crate::boot::SharedStore;
use crate::config::Config;
use crate::service::Backend;
use crate::service::api::Api;
use crate::service::{Actor, Service};
use crossterm::event::{Event, EventStream, KeyEventKind};
use futures::StreamExt;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Wrap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// What a pre-console screen (connecting, seeding, login) wants.
enum Wait<T> {
    Done(T),
    Quit,
}

/// What the screens before the console share with it: the theme, the keys and the dialog frame.
struct Chrome<'a> {
    theme: &'a theme::Theme,
    keys: &'a keymap::KeyMap,
}

impl Chrome<'_> {
    /// A dialog in the middle of the screen, framed as the console's dialogs are.
    fn screen(&self, term: &mut Term, title: &str, lines: Vec<Line<'static>>) {
        let _ = term.draw(|f| {
            let area = f.area();
            let r = centered(area, 90, lines.len() as u16 + 4);
            f.render_widget(
                Paragraph::new(lines)
                    .wrap(Wrap { trim: false })
                    .block(dialog_block(
                        self.theme,
                        &format!("EscrowGrid — {title}"),
                        false,
                    )),
                r,
            );
        });
    }

    fn is_quit(&self, ev: &Event) -> bool {
        match ev {
            Event::Key(k) if k.kind != KeyEventKind::Release => {
                self.keys.action(Context::Global, Key::from_event(k)) == Some(Action::Quit)
            }
            _ => false,
        }
    }

    fn quit_key(&self) -> String {
        self.keys.key_text(Context::Global, Action::Quit)
    }
}

/// Opens the store, retrying until it works or the operator quits; the screen stays responsive.
async fn connect(
    chrome: &Chrome<'_>,
    term: &mut Term,
    events: &mut EventStream,
    cfg: &Config,
    demo: bool,
    signals: &mut Signals,
) -> Wait<SharedStore> {
    let backend = if demo { Backend::Memory } else { cfg.backend };
    let target = boot::target(cfg, backend);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        let opening = boot::open_store(cfg, backend);
        tokio::pin!(opening);
        chrome.screen(
            term,
            "connecting",
            vec![
                Line::from(format!("Opening {backend} store {target}…")),
                Line::from(""),
                Line::from(format!("{} quits", chrome.quit_key())),
            ],
        );
        let err = loop {
            tokio::select! {
                r = &mut opening => match r {
                    Ok(s) => return Wait::Done(s),
                    Err(e) => break e,
                },
                ev = events.next() => if let Some(Ok(ev)) = ev && chrome.is_quit(&ev) { return Wait::Quit },
                _ = signals.recv() => return Wait::Quit,
            }
        };
        tracing::warn!(error = %err, attempt, "console: cannot open the store");
        let delay = Duration::from_secs((attempt as u64).min(10));
        chrome.screen(
            term,
            "store unreachable",
            vec![
                Line::from(Span::styled(
                    format!("Cannot open {target}"),
                    chrome.theme.error(),
                )),
                Line::from(crate::domain::text::sanitize(&err.to_string()).into_owned()),
                Line::from(""),
                Line::from(format!(
                    "Attempt {attempt}; retrying in {} s. {} quits.",
                    delay.as_secs(),
                    chrome.quit_key()
                )),
            ],
        );
        let sleep = tokio::time::sleep(delay);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                ev = events.next() => if let Some(Ok(ev)) = ev && chrome.is_quit(&ev) { return Wait::Quit },
                _ = signals.recv() => return Wait::Quit,
            }
        }
    }
}

/// The login screen: asks for a key until one authenticates or the operator quits.
async fn login(
    chrome: &Chrome<'_>,
    term: &mut Term,
    events: &mut EventStream,
    svc: &dyn crate::service::api::Api,
    signals: &mut Signals,
    why: Option<String>,
) -> Wait<Actor> {
    let mut input = ratatui_textarea::TextArea::default();
    input.set_mask_char('•');
    input.set_cursor_line_style(ratatui::style::Style::default());
    input.set_block(Block::default().borders(Borders::ALL).title(" API key "));
    let mut error: Option<String> = why.map(|w| crate::domain::text::sanitize(&w).into_owned());
    loop {
        let _ = term.draw(|f| {
            let r = centered(f.area(), 80, 12);
            let block = dialog_block(chrome.theme, "EscrowGrid — sign in", false);
            let inner = block.inner(r);
            f.render_widget(ratatui::widgets::Clear, r);
            f.render_widget(block, r);
            f.render_widget(
                Paragraph::new(vec![
                    Line::from("This console requires an API key: the root key, or an"),
                    Line::from("institution key (ak_…). Set ESCROWGRID_API_KEY to skip this."),
                ]),
                ratatui::layout::Rect { height: 2, ..inner },
            );
            f.render_widget(
                &input,
                ratatui::layout::Rect {
                    y: inner.y + 3,
                    height: 3,
                    ..inner
                },
            );
            let msg = match &error {
                Some(e) => Line::from(Span::styled(e.clone(), chrome.theme.error())),
                None => Line::from(Span::styled(
                    format!(
                        "{} signs in · {} quits",
                        chrome.keys.key_text(Context::LineInput, Action::Submit),
                        chrome.keys.key_text(Context::LineInput, Action::Close)
                    ),
                    chrome.theme.muted(),
                )),
            };
            f.render_widget(
                Paragraph::new(msg).wrap(Wrap { trim: true }),
                ratatui::layout::Rect {
                    y: inner.y + 6,
                    height: 2,
                    ..inner
                },
            );
        });
        let ev = tokio::select! {
            ev = events.next() => ev,
            _ = signals.recv() => return Wait::Quit,
        };
        let Some(Ok(Event::Key(k))) = ev else {
            continue;
        };
        if k.kind == KeyEventKind::Release {
            continue;
        }
        match chrome.keys.action(Context::LineInput, Key::from_event(&k)) {
            Some(Action::Close | Action::Quit) => return Wait::Quit,
            Some(Action::Submit) => {
                let token = input.lines().join("");
                match svc.authenticate(Some(&token)).await {
                    Ok(a) => return Wait::Done(a),
                    Err(e) => error = Some(e.to_string()),
                }
            }
            _ => {
                let _ = crate::tui::popups::line::edit(&mut input, k);
            }
        }
    }
}

/// Runs the console until the operator quits.
/// Keeps the anchoring worker running while it lives (dropping it stops the worker).
#[cfg(feature = "onchain")]
pub struct Anchoring(#[allow(dead_code)] Option<crate::service::anchoring::Anchoring>);
#[cfg(not(feature = "onchain"))]
pub struct Anchoring(#[allow(dead_code)] Option<()>);

#[allow(unused_variables)]
async fn anchoring(
    cfg: &Config,
    svc: Option<&Arc<crate::service::Service>>,
    actor: &crate::service::Actor,
    app: &mut App,
) -> Anchoring {
    // A server's client anchors nothing: the server runs the worker.
    let Some(svc) = svc.filter(|_| cfg.onchain.enabled) else {
        return Anchoring(None);
    };
    #[cfg(feature = "onchain")]
    {
        let chain = crate::service::anchoring::signer(&cfg.onchain);
        match svc.start_anchoring(actor, &cfg.onchain, chain).await {
            Ok(worker) => Anchoring(Some(worker)),
            // Only root anchors: another operator's console simply does not.
            Err(crate::service::ServiceError::Forbidden { .. }) => Anchoring(None),
            Err(e) => {
                app.error(format!("on-chain anchoring is off: {e}"));
                Anchoring(None)
            }
        }
    }
    #[cfg(not(feature = "onchain"))]
    {
        app.error("[onchain] is enabled, but this build has no on-chain anchoring (build with --features onchain)");
        Anchoring(None)
    }
}

/// Runs the console until the operator quits or a signal ends it; the exit status (0, or 128 +
/// the signal's number), with the terminal already restored.
pub async fn run(cfg: &Config, opts: Options, log_file: Option<String>) -> Result<i32, String> {
    let mut signals = Signals::new()?;
    run_with(cfg, opts, log_file, &mut signals).await?;
    Ok(signals.exit_code())
}

async fn run_with(
    cfg: &Config,
    opts: Options,
    log_file: Option<String>,
    signals: &mut Signals,
) -> Result<(), String> {
    let keymap = keymap::KeyMap::default().with_overrides(&cfg.console.keys)?;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let theme = theme::Theme::load(&cfg.console.theme, no_color)?;
    let mouse = cfg.console.mouse.unwrap_or(false);
    let frame = Duration::from_millis(cfg.console.frame_ms.unwrap_or(16));
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err("the console needs an interactive terminal; for scripts use a subcommand (escrowgrid --help)".into());
    }
    let (mut term, _guard) = setup_terminal(mouse)?;
    let mut events = EventStream::new();
    let screens = Chrome {
        theme: &theme,
        keys: &keymap,
    };

    let created = boot::new_database(
        cfg,
        if opts.demo {
            Backend::Memory
        } else {
            cfg.backend
        },
    );
    // Through a server (`--server`): no store here; else the store, opened (with retries).
    let (svc, local, store): (Arc<dyn Api>, Option<Arc<Service>>, Option<SharedStore>) =
        match &cfg.server {
            Some(url) => {
                if opts.demo || opts.seed_demo {
                    return Err(
                        "--demo and --seed-demo need a store of this process: drop --server".into(),
                    );
                }
                let remote =
                    crate::client::Remote::new(url, cfg.ca_cert.as_deref(), cfg.api_key.clone())
                        .map_err(|e| e.to_string())?;
                (Arc::new(remote), None, None)
            }
            None => {
                let Wait::Done(store) =
                    connect(&screens, &mut term, &mut events, cfg, opts.demo, signals).await
                else {
                    return Ok(());
                };
                let svc = Arc::new(boot::service(cfg, store.clone(), log_file.clone()));
                (svc.clone(), Some(svc), Some(store))
            }
        };
    let actor = match svc.authenticate(cfg.api_key.as_deref()).await {
        Ok(a) => a,
        Err(e) if svc.requires_key() => {
            if cfg.api_key.is_some() {
                tracing::warn!(error = %e, "console: configured API key refused");
            }
            match login(
                &screens,
                &mut term,
                &mut events,
                svc.as_ref(),
                signals,
                None,
            )
            .await
            {
                Wait::Done(a) => a,
                Wait::Quit => return Ok(()),
            }
        }
        Err(e) => return Err(e.to_string()),
    };
    if let (true, Some(store), Some(local)) = (opts.demo || opts.seed_demo, &store, &local) {
        let empty = store
            .counts(None)
            .await
            .map(|c| c.institutions == 0)
            .unwrap_or(false);
        if empty {
            screens.screen(
                &mut term,
                "loading",
                vec![Line::from("Loading the demo data set…")],
            );
            if let Err(e) =
                crate::demo::seed::load_demo(local.as_ref(), &actor, 300, 42, false).await
            {
                tracing::warn!(error = %e, "console: demo data set not loaded");
            }
        }
    }

    let mut actor = actor;
    let mut created = created;
    loop {
        let console = Console {
            cfg,
            opts: &opts,
            svc: &svc,
            local: local.as_ref(),
            store: store.as_ref(),
            log_file: &log_file,
            keymap: &keymap,
            theme: &theme,
            mouse,
            frame,
        };
        let why = match console
            .run(&mut term, &mut events, signals, &actor, created.take())
            .await?
        {
            Ended::Quit => return Ok(()),
            Ended::SignedOut(why) => why,
        };
        match login(
            &screens,
            &mut term,
            &mut events,
            svc.as_ref(),
            signals,
            Some(why),
        )
        .await
        {
            Wait::Done(a) => actor = a,
            Wait::Quit => return Ok(()),
        }
    }
}

/// How a console session ended.
enum Ended {
    Quit,
    /// Its key was revoked, removed or changed: the reason, for the sign-in screen.
    SignedOut(String),
}

/// What one console session runs with.
struct Console<'a> {
    cfg: &'a Config,
    opts: &'a Options,
    svc: &'a Arc<dyn Api>,
    /// The service of this process (None through a server).
    local: Option<&'a Arc<Service>>,
    /// This process's store (None through a server).
    store: Option<&'a SharedStore>,
    log_file: &'a Option<String>,
    keymap: &'a keymap::KeyMap,
    theme: &'a theme::Theme,
    mouse: bool,
    frame: Duration,
}

impl Console<'_> {
    /// One signed-in session, until the operator quits or its key stops admitting it.
    async fn run(
        &self,
        term: &mut Term,
        events: &mut EventStream,
        signals: &mut Signals,
        actor: &Actor,
        created: Option<std::path::PathBuf>,
    ) -> Result<Ended, String> {
        let Console {
            cfg,
            opts,
            svc,
            local,
            store,
            log_file,
            keymap,
            theme,
            mouse,
            frame,
        } = *self;
        let session = Session {
            backend: store.map_or_else(|| "server".to_string(), |s| s.backend().to_string()),
            target: store.map_or_else(|| svc.target(), |s| s.diagnostics().target()),
            demo: opts.demo,
            mouse,
            log_file: log_file.clone(),
            ..Session::of(actor, cfg.read_only)
        };
        let mut app = App::new(session, keymap.clone(), theme.clone());
        if let Ok(size) = term.size() {
            app.update(Msg::Resize(size.width, size.height));
        }
        let (tx, mut rx) = mpsc::channel::<Msg>(4096);
        let exec = exec::Executor::new(svc.clone(), actor.clone(), tx.clone())
            .with_witness(crate::witness::default_path(&cfg.data_dir))
            .with_onchain(cfg.onchain.clone());
        exec.subscribe();
        // The anchoring worker, in root sessions of builds with the feature when [onchain] is
        // enabled; stopped when the console ends.
        let _anchoring = anchoring(cfg, local, actor, &mut app).await;
        // `--demo-keep URL`: the session mirrored into a store of its own as it runs.
        let _keeper = match (local, &opts.demo_keep) {
            (Some(local), Some(url)) if opts.demo => {
                let target = crate::boot::open_url(cfg, "demo-keep", url, true)
                    .await
                    .map_err(|e| e.to_string())?;
                let shown = crate::boot::shown(url);
                Some(crate::demo::keep::spawn(local.clone(), actor.clone(), target, &shown).await?)
            }
            _ => None,
        };
        let sim_pause = match local {
            Some(local) if opts.demo => Some(crate::demo::simulator::spawn(
                local.clone(),
                actor.clone(),
                opts.demo_rate,
            )),
            _ => None,
        };
        app.start();
        if let Some(p) = created {
            app.info(format!("Created new database {}", p.display()));
        }

        let mut tick = tokio::time::interval(Duration::from_millis(250));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut frame_times: Vec<Duration> = Vec::new();
        let mut last_draw = Instant::now() - frame;
        let mut dirty = true;
        let started = opts.process_start;
        let mut first_frame: Option<Duration> = None;
        loop {
            for cmd in app.take_cmds() {
                match cmd {
                    app::Cmd::Copy(text) => osc52(&text),
                    app::Cmd::PauseSimulator(p) => {
                        if let Some(tx) = &sim_pause {
                            let _ = tx.send(p);
                        }
                    }
                    other => exec.run(other),
                }
            }
            if app.quit || app.signed_out.is_some() {
                break;
            }
            if dirty {
                let since = last_draw.elapsed();
                if since >= frame {
                    let t0 = Instant::now();
                    if let Err(e) = term.draw(|f| chrome::draw(f, &app)) {
                        return Err(format!("drawing failed: {e}"));
                    }
                    let took = t0.elapsed();
                    frame_times.push(took);
                    if first_frame.is_none() {
                        first_frame = Some(started.elapsed());
                    }
                    last_draw = Instant::now();
                    dirty = false;
                }
            }
            let wait = if dirty {
                frame.saturating_sub(last_draw.elapsed())
            } else {
                Duration::from_secs(3600)
            };
            tokio::select! {
                ev = events.next() => match ev {
                    Some(Ok(Event::Key(k))) => { app.update(Msg::Key(k)); dirty = true; }
                    Some(Ok(Event::Mouse(m))) => { app.update(Msg::Mouse(m)); dirty = true; }
                    Some(Ok(Event::Resize(w, h))) => { app.update(Msg::Resize(w, h)); dirty = true; }
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(format!("reading the terminal failed: {e}")),
                    None => break,
                },
                msg = rx.recv() => {
                    if let Some(m) = msg {
                        app.update(m);
                        // Drain what else is queued so a burst costs one frame.
                        while let Ok(m) = rx.try_recv() {
                            app.update(m);
                        }
                        dirty = true;
                    }
                },
                _ = tick.tick() => { app.update(Msg::Tick); dirty = true; },
                _ = signals.recv() => break,
                _ = tokio::time::sleep(wait), if dirty => {},
            }
        }
        if !frame_times.is_empty() {
            frame_times.sort();
            tracing::info!(
                frames = frame_times.len(),
                first_frame_ms = first_frame.map(|d| d.as_secs_f64() * 1000.0),
                median_ms = frame_times[frame_times.len() / 2].as_secs_f64() * 1000.0,
                worst_ms = frame_times[frame_times.len() - 1].as_secs_f64() * 1000.0,
                "console: frame times"
            );
        }
        Ok(if app.quit || app.signed_out.is_none() {
            Ended::Quit
        } else {
            Ended::SignedOut(app.signed_out.take().unwrap_or_default())
        })
    }
}
