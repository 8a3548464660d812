//! The console without a terminal: key sequences go through `App::update`, commands run against a
//! real service (memory store with the demo data set), and every screen is rendered with ratatui's
//! `TestBackend` at 80×24 and 160×48 and checked.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use escrowgrid::domain::{PositionState, ids, time};
use escrowgrid::service::{Actor, Service, ServiceConfig, TransitionRequest};
use escrowgrid::store::{self, Backend, Change, PositionFilter, PositionQuery, SharedStore, Write};
use escrowgrid::tui::app::{App, Msg, Session, Tab};
use escrowgrid::tui::exec::Executor;
use escrowgrid::tui::keymap::{Action, KeyMap};
use escrowgrid::tui::popups::Popup;
use escrowgrid::tui::theme::Theme;
use escrowgrid::tui::views::institution_detail::InstitutionDetail;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct T {
    pub(crate) app: App,
    pub(crate) exec: Executor,
    pub(crate) svc: Arc<Service>,
    pub(crate) store: SharedStore,
    pub(crate) actor: Actor,
}

fn session(read_only: bool) -> Session {
    let actor = Actor::Local {
        user: "tester".into(),
    };
    Session {
        backend: "memory".into(),
        target: "memory".into(),
        mouse: true,
        log_file: Some("/tmp/escrowgrid.log".into()),
        ..Session::of(&actor, read_only)
    }
}

/// A console signed in as `actor` over `base`'s store (`read_only`: started `--read-only`).
pub(crate) fn signed_in_as(base: &T, actor: Actor, read_only: bool, w: u16, h: u16) -> T {
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let exec = Executor::new(base.svc.clone(), actor.clone(), tx);
    let s = Session {
        backend: "memory".into(),
        target: "memory".into(),
        ..Session::of(&actor, read_only)
    };
    let mut app = App::new(s, KeyMap::default(), Theme::default());
    app.update(Msg::Resize(w, h));
    app.start();
    T {
        app,
        exec,
        svc: base.svc.clone(),
        store: base.store.clone(),
        actor,
    }
}

/// A key of `role` for `base`'s first institution, signed in.
pub(crate) async fn key_actor(base: &T, role: &str) -> Actor {
    let inst = base.app.data.institutions[0].id.clone();
    let k = base
        .svc
        .create_api_key(&base.actor, Some(inst), format!("{role} key"), role.into())
        .await
        .unwrap();
    base.svc.authenticate(Some(&k.token)).await.unwrap()
}

pub(crate) async fn setup_with(read_only: bool, keymap: KeyMap, w: u16, h: u16) -> T {
    setup_sized(read_only, keymap, w, h, 40).await
}

/// The console over the demo data set with `positions` positions.
pub(crate) async fn setup_sized(
    read_only: bool,
    keymap: KeyMap,
    w: u16,
    h: u16,
    positions: u32,
) -> T {
    let store = store::open(Backend::Memory, "", Duration::from_millis(10))
        .await
        .unwrap();
    let svc = Arc::new(Service::new(store.clone(), ServiceConfig::default()));
    let actor = Actor::Local {
        user: "tester".into(),
    };
    escrowgrid::demo::seed::load_demo(svc.as_ref(), &actor, positions, 7, false)
        .await
        .unwrap();
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let exec = Executor::new(svc.clone(), actor.clone(), tx);
    let mut app = App::new(session(read_only), keymap, Theme::default());
    app.update(Msg::Resize(w, h));
    app.start();
    let mut t = T {
        app,
        exec,
        svc,
        store,
        actor,
    };
    t.settle().await;
    t
}

async fn setup() -> T {
    setup_with(false, KeyMap::default(), 80, 24).await
}

impl T {
    pub(crate) async fn settle(&mut self) {
        escrowgrid::tui::exec::settle(&mut self.app, &self.exec).await;
    }

    pub(crate) async fn key(&mut self, code: KeyCode) {
        self.app
            .update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
        self.settle().await;
    }

    pub(crate) async fn ch(&mut self, c: char) {
        self.key(KeyCode::Char(c)).await;
    }

    pub(crate) async fn typed(&mut self, s: &str) {
        for c in s.chars() {
            self.ch(c).await;
        }
    }

    pub(crate) fn screen(&self) -> String {
        render_to_string(&self.app, self.app.size().0, self.app.size().1)
    }

    /// Feeds ledger events written since `after` as the stream would.
    pub(crate) async fn stream_from(&mut self, after: i64) {
        let events = self
            .svc
            .ledger(
                &self.actor,
                escrowgrid::store::LedgerQuery {
                    after_seq: after,
                    limit: 1000,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        for e in events {
            self.app
                .update(Msg::Stream(escrowgrid::service::stream::StreamItem::Event(
                    Box::new(e),
                )));
        }
        self.settle().await;
    }
}

/// The whole screen as text.
pub(crate) fn render_to_string(app: &App, w: u16, h: u16) -> String {
    let backend = ratatui::backend::TestBackend::new(w, h);
    let mut term = ratatui::Terminal::new(backend).expect("test terminal");
    term.draw(|f| escrowgrid::tui::chrome::draw(f, app))
        .expect("draw");
    let buf = term.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let mut line = String::new();
        for x in 0..w {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn lines_fit(screen: &str, w: usize) {
    for l in screen.lines() {
        assert!(l.chars().count() <= w, "line wider than {w}: {l}");
    }
}

#[tokio::test]
async fn every_tab_renders_at_80x24_and_160x48() {
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        let mut t = setup_with(false, KeyMap::default(), w, h).await;
        let expect: [(char, &[&str]); 5] = [
            (
                '1',
                &["Institutions", "Harbor Trust Bank", "REGIONS", "POSITIONS"],
            ),
            ('2', &["TEMPLATE", "CONSTR_ESCROW", "TF_LC"]),
            (
                '3',
                &["HOLDER", "AMOUNT", "STATE", "sort created ▼", "of 40"],
            ),
            ('4', &["SEQ", "KIND", "POSITION_CREATED", "● following"]),
            (
                '5',
                &[
                    "Backend",
                    "memory",
                    "connected",
                    "Positions by state",
                    "Ledger head",
                    "Log file",
                ],
            ),
        ];
        for (k, words) in expect {
            t.ch(k).await;
            let s = t.screen();
            for word in words {
                assert!(
                    s.contains(word),
                    "{w}×{h} tab {k}: missing {word:?} in\n{s}"
                );
            }
            assert!(
                s.lines().last().unwrap().contains("memory"),
                "status bar on every tab"
            );
            assert!(s.contains("? help"), "hint bar on every tab");
            lines_fit(&s, w as usize);
        }
        // the audit trail view of the Ledger tab
        t.ch('4').await;
        t.ch('a').await;
        let s = t.screen();
        for word in [
            "Audit trail",
            "ACTOR",
            "ACTION",
            "OUTCOME",
            "POSITION_TRANSITIONED",
            "local:tester",
        ] {
            assert!(
                s.contains(word),
                "{w}×{h} audit view: missing {word:?}\n{s}"
            );
        }
        t.ch('a').await;
        // the assets half of the Assets tab
        t.ch('2').await;
        t.ch('m').await;
        let s = t.screen();
        assert!(s.contains("Assets") && s.contains("Riverside Tower"), "{s}");
        // wide screens show institution and asset names in the positions table
        t.ch('3').await;
        let s = t.screen();
        assert_eq!(s.contains("INSTITUTION"), w >= 160, "{s}");
    }
}

#[tokio::test]
async fn detail_views_render() {
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        let mut t = setup_with(false, KeyMap::default(), w, h).await;
        t.ch('3').await;
        t.key(KeyCode::Enter).await;
        let s = t.screen();
        for word in [
            "Positions ›",
            "Lifecycle",
            "Ledger events",
            "Holder reference",
            "POSITION_CREATED",
            "created",
        ] {
            assert!(
                s.contains(word),
                "{w}×{h} position detail: missing {word:?}\n{s}"
            );
        }
        t.key(KeyCode::Esc).await;
        assert!(!t.screen().contains("Lifecycle"), "Esc goes back");
        t.ch('1').await;
        t.key(KeyCode::Enter).await;
        let s = t.screen();
        for word in [
            "Institutions › Harbor Trust Bank",
            "Policies",
            "MIN AMOUNT",
            "API keys",
            "Templates and their assets",
        ] {
            assert!(
                s.contains(word),
                "{w}×{h} institution detail: missing {word:?}\n{s}"
            );
        }
        t.key(KeyCode::Esc).await;
        t.ch('2').await;
        t.key(KeyCode::Enter).await;
        let s = t.screen();
        for word in ["Configuration", "Currency", "USD", "Code · vertical"] {
            assert!(
                s.contains(word),
                "{w}×{h} template detail: missing {word:?}\n{s}"
            );
        }
        t.key(KeyCode::Esc).await;
        t.ch('m').await;
        t.key(KeyCode::Enter).await;
        let s = t.screen();
        for word in ["Metadata", "contractor", "Label"] {
            assert!(
                s.contains(word),
                "{w}×{h} asset detail: missing {word:?}\n{s}"
            );
        }
        lines_fit(&s, w as usize);
    }
}

#[tokio::test]
async fn forms_and_dialogs_render() {
    for (w, h) in [(80u16, 24u16), (160, 48)] {
        let mut t = setup_with(false, KeyMap::default(), w, h).await;
        let checks: Vec<(Vec<char>, Vec<&str>)> = vec![
            (
                vec!['3', 'c'],
                vec![
                    "New position",
                    "Institution",
                    "Asset",
                    "Holder reference",
                    "Currency",
                    "Amount",
                    "External reference",
                ],
            ),
            (
                vec!['1', 'c'],
                vec!["New institution", "Regions", "[ ] US", "[x] CONSTRUCTION"],
            ),
            (
                vec!['2', 'c'],
                vec!["New asset template", "Vertical", "Code", "Region"],
            ),
            (
                vec!['2', 'm', 'c'],
                vec!["New asset", "Template", "Metadata (JSON)"],
            ),
            (
                vec!['3', '?'],
                vec![
                    "Keys — Positions",
                    "transition the selected position",
                    "quit (asks first if a form has unsaved input)",
                ],
            ),
            (vec!['3', ':'], vec![":"]),
            (vec!['3', '/'], vec!["/"]),
            (
                vec!['3', 's'],
                vec!["Filter by state", "PARTIALLY_RELEASED"],
            ),
            (vec!['4', 'c'], vec!["Filter by kind", "POLICY_UPSERTED"]),
        ];
        for (keys, words) in checks {
            for k in &keys {
                t.ch(*k).await;
            }
            let s = t.screen();
            for word in &words {
                assert!(
                    s.contains(word),
                    "{w}×{h} after {keys:?}: missing {word:?}\n{s}"
                );
            }
            lines_fit(&s, w as usize);
            t.key(KeyCode::Esc).await;
            assert!(
                t.app.popup().is_none(),
                "Esc closes the popup after {keys:?}"
            );
        }
        // the transition dialog and its confirmation
        t.ch('3').await;
        t.app.run_command("positions state=FUNDED").unwrap();
        t.settle().await;
        t.ch('t').await;
        let s = t.screen();
        for word in [
            "Transition pos_",
            "Now FUNDED",
            "only the states allowed",
            "PARTIALLY_RELEASED",
            "RELEASED  (final)",
            "Reason",
        ] {
            assert!(
                s.contains(word),
                "{w}×{h} transition dialog: missing {word:?}\n{s}"
            );
        }
        // A partial release asks for its amount: refused without one, then typed.
        t.key(KeyCode::Enter).await;
        let s = t.screen();
        assert!(
            s.contains("a partial release needs its amount (held:")
                && s.contains("Amount to release"),
            "{s}"
        );
        t.typed("1.5").await;
        t.key(KeyCode::Enter).await;
        let s = t.screen();
        assert!(
            s.contains("Confirm transition")
                && s.contains("from FUNDED to")
                && s.contains("PARTIALLY_RELEASED?")
                && s.contains("Release 1.50"),
            "{s}"
        );
        t.ch('n').await;
        // the policy form and the key form in the institution detail
        t.ch('1').await;
        t.key(KeyCode::Enter).await;
        t.ch('e').await;
        let s = t.screen();
        assert!(
            s.contains("Policy for US")
                && s.contains("Minimum amount")
                && s.contains("only those chosen below"),
            "{s}"
        );
        t.key(KeyCode::Esc).await;
        t.ch('K').await;
        let s = t.screen();
        assert!(
            s.contains("New API key for Harbor Trust Bank") && s.contains("admin"),
            "{s}"
        );
        t.key(KeyCode::Esc).await;
    }
}

#[tokio::test]
async fn template_form_offers_only_codes_of_the_vertical_and_their_config_fields() {
    let mut t = setup_with(false, KeyMap::default(), 160, 48).await;
    t.ch('2').await;
    t.ch('c').await;
    // Harbor Trust Bank: both verticals; choose TRADE_FINANCE, then TF_LC
    t.key(KeyCode::Down).await; // vertical
    t.key(KeyCode::Right).await; // TRADE_FINANCE
    t.key(KeyCode::Down).await; // code
    let s = t.screen();
    let Some(Popup::Form(f)) = t.app.popup() else {
        panic!()
    };
    let escrowgrid::tui::popups::form::Input::Select { options, .. } =
        &f.get("code").unwrap().input
    else {
        panic!()
    };
    let codes: Vec<&str> = options.iter().map(|o| o.value.as_str()).collect();
    assert_eq!(codes, ["TF_INVOICE", "TF_LC"], "only the vertical's codes");
    assert!(
        s.contains("Max tenor (days)") && s.contains("Country"),
        "TF_INVOICE fields:\n{s}"
    );
    t.key(KeyCode::Right).await; // TF_LC
    let s = t.screen();
    assert!(s.contains("Issuing bank country"), "TF_LC fields:\n{s}");
    let Some(Popup::Form(f)) = t.app.popup() else {
        panic!()
    };
    assert!(
        f.get("config.country").is_none(),
        "no TF_INVOICE-only field left over"
    );
    assert!(f.get("config.issuingBankCountry").is_some());
}

/// Labels never run into their values, errors are not cut, the template's region and its
/// config's are told apart, and the metadata editor starts inside the braces.
#[tokio::test]
async fn form_labels_errors_and_the_metadata_editor() {
    let mut t = setup_with(false, KeyMap::default(), 160, 48).await;
    t.ch('2').await;
    t.ch('c').await;
    let s = t.screen();
    let line = s
        .lines()
        .find(|l| l.contains("Minimum amount"))
        .unwrap_or_else(|| panic!("{s}"));
    assert!(line.contains("Minimum amount (optional) "), "{line}");
    assert_eq!(s.matches("Region in config").count(), 1, "{s}");
    assert_eq!(
        s.matches("Region").count(),
        2,
        "the template's and the config's: {s}"
    );
    // An amount in exponent notation: the whole error shows, over as many lines as it needs.
    while !matches!(t.app.popup(), Some(Popup::Form(f)) if f.fields[f.focus].label.starts_with("Minimum amount"))
    {
        t.key(KeyCode::Down).await;
    }
    t.typed("1e3").await;
    t.key(KeyCode::Down).await;
    let flat: String = t
        .screen()
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        flat.contains("uses exponent notation; write the amount as a plain decimal"),
        "{}",
        t.screen()
    );
    t.key(KeyCode::Esc).await;
    t.ch('y').await; // discard the form
    t.app.close_popups();

    t.ch('m').await;
    t.ch('c').await;
    while !matches!(t.app.popup(), Some(Popup::Form(f)) if f.fields[f.focus].key == "metadata") {
        t.key(KeyCode::Down).await;
    }
    t.typed("\"floor\": 3").await;
    let Some(Popup::Form(f)) = t.app.popup() else {
        panic!()
    };
    let escrowgrid::tui::popups::form::Input::Json(editor) = &f.get("metadata").unwrap().input
    else {
        panic!()
    };
    let text = editor.lines().join("\n");
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    assert_eq!(v["floor"], 3);
}

/// At 160 columns: short ids, the room to the names, and a cut text that ends in "…".
#[tokio::test]
async fn wide_positions_table_gives_room_to_names_and_marks_cuts() {
    let mut t = setup_with(false, KeyMap::default(), 160, 48).await;
    let row = t.app.positions().rows[0].clone();
    let long = format!("HOLDER-{}", "X".repeat(90));
    t.store
        .commit(Write {
            change: Change::CreatePosition(
                escrowgrid::domain::Position {
                    id: ids::new_id(ids::POSITION),
                    holder_reference: long.clone(),
                    ..row.clone()
                },
                None,
            ),
            ledger: None,
            audit: None,
        })
        .await
        .unwrap();
    t.app.run_command("positions sort=-created").unwrap();
    t.settle().await;
    let s = t.screen();
    let line = s
        .lines()
        .find(|l| l.contains("HOLDER-XXX"))
        .unwrap_or_else(|| panic!("{s}"));
    assert!(!line.contains(&long), "cut: {line}");
    assert!(line.contains("XX…"), "a cut ends in …: {line}");
    assert!(!s.contains(&row.id), "no full 40-character id: {s}");
    assert!(
        s.contains(&format!("…{}", &row.id[row.id.len() - 8..])),
        "{s}"
    );
    let name: String = t
        .app
        .data
        .institution_name(&row.institution_id)
        .chars()
        .take(20)
        .collect();
    assert!(
        s.contains(&name),
        "the room goes to names (was 15 characters): {s}"
    );
}

#[tokio::test]
async fn too_small_terminal_says_so() {
    let mut t = setup().await;
    t.app.update(Msg::Resize(60, 20));
    let s = render_to_string(&t.app, 60, 20);
    assert!(
        s.contains("Terminal too small") && s.contains("60×20") && s.contains("80×24"),
        "{s}"
    );
    t.app.update(Msg::Resize(80, 24));
    assert!(t.screen().contains("HOLDER") || t.screen().contains("Positions"));
}

#[tokio::test]
async fn navigation_keys() {
    let mut t = setup().await;
    assert_eq!(t.app.tab, Tab::Positions);
    t.key(KeyCode::Tab).await;
    assert_eq!(t.app.tab, Tab::Ledger);
    t.key(KeyCode::BackTab).await;
    t.key(KeyCode::BackTab).await;
    assert_eq!(t.app.tab, Tab::Assets);
    t.ch('3').await;
    t.ch('j').await;
    t.ch('j').await;
    assert_eq!(t.app.positions().sel.selected, 2);
    t.ch('k').await;
    assert_eq!(t.app.positions().sel.selected, 1);
    t.ch('G').await;
    assert_eq!(t.app.positions().sel.selected, 39);
    t.key(KeyCode::PageUp).await;
    assert_eq!(t.app.positions().sel.selected, 39 - t.app.table_rows());
    t.ch('g').await;
    assert_eq!(t.app.positions().sel.selected, 0);
    let first = t.app.positions().rows[0].id.clone();
    t.key(KeyCode::Enter).await;
    assert!(t.screen().contains(&format!(
        "Positions › {}",
        escrowgrid::tui::widgets::short(&first)
    )));
}

/// `/` filters as you type, once typing pauses; Esc puts back the filter it opened with.
#[tokio::test]
async fn text_filter_applies_as_you_type() {
    let mut t = setup().await;
    let all = t.app.positions().total;
    t.ch('/').await;
    t.typed("acme").await;
    assert!(t.app.positions().filter.text.is_none(), "not while typing");
    tokio::time::sleep(Duration::from_millis(200)).await;
    t.app.update(Msg::Tick);
    t.settle().await;
    assert!(
        matches!(t.app.popup(), Some(Popup::Filter(_))),
        "the filter popup stays open"
    );
    assert_eq!(t.app.positions().filter.text.as_deref(), Some("acme"));
    assert!(!t.app.positions().rows.is_empty());
    assert!(
        t.app
            .positions()
            .rows
            .iter()
            .all(|p| p.holder_reference.to_lowercase().contains("acme")
                || p.external_reference
                    .as_deref()
                    .unwrap_or("")
                    .to_lowercase()
                    .contains("acme")
                || p.id.contains("acme")),
        "narrowed while the popup is open"
    );
    t.key(KeyCode::Esc).await;
    t.settle().await;
    assert_eq!(
        t.app.positions().filter.text,
        None,
        "Esc restores the filter it opened with"
    );
    assert_eq!(t.app.positions().total, all);
}

#[tokio::test]
async fn text_filter_highlights_and_narrows() {
    let mut t = setup().await;
    t.ch('/').await;
    t.typed("acme").await;
    t.key(KeyCode::Enter).await;
    assert!(!t.app.positions().rows.is_empty());
    assert!(t.app.positions().rows.iter().all(|p| {
        p.holder_reference.to_lowercase().contains("acme")
            || p.id.contains("acme")
            || p.external_reference
                .as_deref()
                .unwrap_or("")
                .to_lowercase()
                .contains("acme")
    }));
    let s = t.screen();
    assert!(s.contains("/acme"), "the filter is shown: {s}");
    // matches are highlighted: the matched cells use the highlight style
    let backend = ratatui::backend::TestBackend::new(80, 24);
    let mut term = ratatui::Terminal::new(backend).unwrap();
    term.draw(|f| escrowgrid::tui::chrome::draw(f, &t.app))
        .unwrap();
    let buf = term.backend().buffer();
    let highlighted = (0..24)
        .flat_map(|y| (0..80).map(move |x| (x, y)))
        .filter(|&(x, y)| buf[(x, y)].bg == Theme::default().highlight)
        .count();
    assert!(
        highlighted >= 4,
        "matched text is highlighted ({highlighted} cells)"
    );
    t.ch('x').await;
    assert_eq!(t.app.positions().filter, PositionFilter::default());
    t.ch('s').await;
    t.key(KeyCode::Down).await;
    t.key(KeyCode::Down).await;
    t.key(KeyCode::Enter).await;
    assert_eq!(t.app.positions().filter.state, Some(PositionState::Funded));
    assert!(
        t.app
            .positions()
            .rows
            .iter()
            .all(|p| p.state == PositionState::Funded)
    );
    let total = t
        .store
        .count_positions(&PositionFilter {
            state: Some(PositionState::Funded),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(t.app.positions().total, Some(total));
}

#[tokio::test]
async fn sort_by_any_column() {
    let mut t = setup().await;
    // sort → institution, asset, holder, amount …
    for _ in 0..4 {
        t.ch('o').await;
    }
    assert_eq!(
        t.app.positions().sort,
        escrowgrid::store::PositionSortKey::Amount
    );
    let amounts: Vec<_> = t.app.positions().rows.iter().map(|p| p.amount).collect();
    assert!(
        amounts.windows(2).all(|w| w[0] <= w[1]),
        "ascending by amount"
    );
    assert!(t.screen().contains("AMOUNT▲"));
    t.ch('O').await;
    let amounts: Vec<_> = t.app.positions().rows.iter().map(|p| p.amount).collect();
    assert!(
        amounts.windows(2).all(|w| w[0] >= w[1]),
        "descending by amount"
    );
    assert!(t.screen().contains("AMOUNT▼"));
}

#[tokio::test]
async fn create_a_position_through_the_form() {
    let mut t = setup().await;
    let before = t
        .store
        .count_positions(&PositionFilter::default())
        .await
        .unwrap();
    // Away from the top, so that landing on the new row is the console's doing.
    for _ in 0..3 {
        t.ch('j').await;
    }
    t.ch('c').await;
    t.key(KeyCode::Down).await; // asset
    t.key(KeyCode::Down).await; // holder
    t.typed("NEW-HOLDER-1").await;
    t.key(KeyCode::Down).await; // currency (preset from the template)
    t.key(KeyCode::Down).await; // amount
    t.typed("1e5").await;
    assert!(
        t.screen().contains("exponent"),
        "live validation beside the field:\n{}",
        t.screen()
    );
    for _ in 0..3 {
        t.key(KeyCode::Backspace).await;
    }
    t.typed("50000").await;
    t.key(KeyCode::Enter).await;
    assert!(
        t.app.popup().is_none(),
        "form closed on success: {}",
        t.screen()
    );
    assert_eq!(
        t.store
            .count_positions(&PositionFilter::default())
            .await
            .unwrap(),
        before + 1
    );
    assert!(
        t.screen().contains("Created position pos_"),
        "{}",
        t.screen()
    );
    let p = t.app.positions();
    assert_eq!(
        p.rows[p.sel.selected].holder_reference, "NEW-HOLDER-1",
        "the new position is selected"
    );
}

#[tokio::test]
async fn a_created_institution_is_selected() {
    let mut t = setup_with(false, KeyMap::default(), 160, 48).await;
    t.ch('1').await;
    t.ch('/').await;
    t.typed("harbor").await;
    t.key(KeyCode::Enter).await;
    t.ch('c').await;
    t.typed("Zenith Savings").await;
    t.key(KeyCode::Down).await; // regions
    t.ch(' ').await;
    t.key(KeyCode::Enter).await;
    t.settle().await;
    assert!(t.app.popup().is_none(), "{}", t.screen());
    let id = t.app.top().selected_id(&t.app.data).unwrap();
    assert_eq!(
        t.app.data.institution_name(&id),
        "Zenith Savings",
        "the new institution is selected, the filter that hid it cleared: {}",
        t.screen()
    );
}

/// `/` filters every list — institutions, templates, assets, the ledger (by kind, id, actor or
/// payload, searched by the store), the audit trail — and n / N move between the matches.
#[tokio::test]
async fn every_list_filters_and_n_moves_between_matches() {
    let mut t = setup_with(false, KeyMap::default(), 160, 48).await;
    t.ch('1').await;
    t.ch('n').await;
    assert!(
        t.screen()
            .contains("n and N move between the matches of a filter (/ sets one)"),
        "{}",
        t.screen()
    );
    t.ch('/').await;
    t.typed("us").await; // a region, and letters of names
    t.key(KeyCode::Enter).await;
    let s = t.screen();
    assert!(s.contains("/us"), "{s}");
    assert!(
        s.contains("n next match"),
        "n is offered once a filter is set: {s}"
    );
    let count = |s: &str| -> usize {
        let crumb = s.lines().nth(1).unwrap();
        crumb
            .rsplit_once(" of ")
            .map(|(_, n)| n.trim().parse().unwrap())
            .unwrap_or(0)
    };
    let n = count(&s);
    assert!(n >= 1 && n < t.app.data.institutions.len(), "narrowed: {s}");
    for _ in 0..n {
        t.ch('n').await;
    }
    assert!(
        t.app
            .status
            .as_ref()
            .is_some_and(|m| m.text.contains("wrapped to the first")),
        "n past the last match wraps"
    );
    t.ch('N').await;
    assert!(
        t.screen().contains(&format!("row {n} of {n}")),
        "{}",
        t.screen()
    );
    t.ch('x').await;
    assert!(!t.screen().contains("/us"));

    // Templates and assets, each with its own filter.
    t.ch('2').await;
    t.ch('/').await;
    t.typed("TF_INVOICE").await;
    t.key(KeyCode::Enter).await;
    let s = t.screen();
    assert!(s.contains("row 1 of ") && s.contains("TF_INVOICE"), "{s}");
    assert!(!s.contains("CONSTR_ESCROW"), "{s}");
    t.ch('m').await;
    assert!(
        !t.screen().contains("/TF_INVOICE"),
        "assets have their own filter"
    );

    // The ledger, searched by the store: a kind by its name in any case.
    t.ch('4').await;
    t.ch('/').await;
    t.typed("policy_upserted").await;
    assert_eq!(
        t.app.ledger().text.text.as_deref(),
        Some("policy_upserted"),
        "{}",
        t.screen()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    t.app.update(Msg::Tick);
    t.settle().await;
    let rows = &t.app.ledger().events.rows;
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|e| e.kind == escrowgrid::domain::LedgerKind::PolicyUpserted),
        "as you type: {:?}",
        rows.iter().map(|e| e.kind).collect::<Vec<_>>()
    );
    t.key(KeyCode::Enter).await;
    assert!(t.screen().contains("/policy_upserted"), "{}", t.screen());
    // An event that does not match does not stream in; one that does, does.
    let head = t.store.ledger_head().await.unwrap().unwrap().0;
    let slot = escrowgrid::demo::seed::slots_of(t.svc.as_ref(), &t.actor)
        .await
        .unwrap()[0]
        .clone();
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(3);
    let p = escrowgrid::demo::seed::Vocabulary::demo().new_position(&mut rng, &slot);
    t.svc.create_position(&t.actor, p).await.unwrap();
    let before = t.app.ledger().events.rows.len();
    t.stream_from(head).await;
    assert_eq!(t.app.ledger().events.rows.len(), before);
    // The audit trail: by action.
    t.ch('a').await;
    t.settle().await;
    t.ch('/').await;
    t.typed("institution_created").await;
    t.key(KeyCode::Enter).await;
    t.settle().await;
    let records = &t.app.ledger().audit.rows;
    assert_eq!(
        records.len(),
        t.app.data.institutions.len(),
        "{}",
        t.screen()
    );
    assert!(records.iter().all(|r| r.action == "INSTITUTION_CREATED"));
    t.ch('x').await;
    t.settle().await;
    assert!(
        t.app
            .ledger()
            .audit
            .rows
            .iter()
            .any(|r| r.action != "INSTITUTION_CREATED"),
        "x clears the search"
    );
}

#[tokio::test]
async fn a_refused_submit_keeps_the_input_and_shows_the_service_error() {
    let mut t = setup().await;
    t.ch('c').await;
    t.key(KeyCode::Down).await;
    t.key(KeyCode::Down).await;
    t.typed("H-2").await;
    t.key(KeyCode::Down).await;
    t.key(KeyCode::Right).await; // a currency the template does not use
    t.key(KeyCode::Down).await;
    t.typed("50000").await;
    t.key(KeyCode::Enter).await;
    let Some(Popup::Form(f)) = t.app.popup() else {
        panic!("form stays open:\n{}", t.screen())
    };
    assert!(
        f.get("currency").unwrap().error.is_some(),
        "service error beside the currency"
    );
    assert_eq!(
        f.get("holderReference").unwrap().value(),
        "H-2",
        "input kept"
    );
    assert!(
        t.screen()
            .contains("does not match the template's currency"),
        "{}",
        t.screen()
    );
}

#[tokio::test]
async fn transition_allowed_refused_and_conflict() {
    let mut t = setup().await;
    t.app.run_command("positions state=CREATED").unwrap();
    t.settle().await;
    let p = t.app.positions().rows[0].clone();
    // allowed: CREATED -> FUNDED with a reason, confirmed
    t.ch('t').await;
    t.key(KeyCode::Tab).await;
    t.typed("Wire in").await;
    t.key(KeyCode::Enter).await;
    t.ch('y').await;
    let now = t.store.get_position(&p.id).await.unwrap().unwrap();
    assert_eq!(now.state, PositionState::Funded);
    assert_eq!(
        t.store
            .position_events(&p.id)
            .await
            .unwrap()
            .last()
            .unwrap()
            .reason
            .as_deref(),
        Some("Wire in")
    );
    // refused: a terminal position offers nothing
    t.app.run_command("positions state=RELEASED").unwrap();
    t.settle().await;
    t.ch('t').await;
    assert!(t.screen().contains("a terminal state"), "{}", t.screen());
    t.key(KeyCode::Esc).await;
    // conflict: someone else moves it between the dialog and the confirmation
    t.app.run_command("positions state=FUNDED").unwrap();
    t.settle().await;
    let victim = t.app.positions().rows[0].clone();
    t.ch('t').await;
    t.key(KeyCode::Tab).await; // the amount of the partial release
    t.typed("1").await;
    t.key(KeyCode::Enter).await; // PARTIALLY_RELEASED, confirm step open
    t.svc
        .transition_position(
            &t.actor,
            &victim.id,
            TransitionRequest {
                to: "CANCELLED".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    t.ch('y').await;
    let s = t.screen();
    assert!(
        s.contains("Someone else moved it first") && s.contains("It is now CANCELLED"),
        "{s}"
    );
    assert!(
        !s.lines().last().unwrap().contains("Moving"),
        "the \"Moving …\" line is answered: {s}"
    );
    assert_eq!(
        t.store
            .get_position(&victim.id)
            .await
            .unwrap()
            .unwrap()
            .state,
        PositionState::Cancelled,
        "nothing changed by the loser"
    );
    assert!(
        t.app
            .positions()
            .rows
            .iter()
            .any(|r| r.id == victim.id && r.state == PositionState::Cancelled),
        "the table shows the fresh state"
    );
}

#[tokio::test]
async fn quit_asks_first_with_unsaved_input() {
    let mut t = setup().await;
    t.ch('q').await;
    assert!(t.app.quit, "q quits at once with nothing unsaved");
    let mut t = setup().await;
    t.ch('c').await;
    t.key(KeyCode::Down).await;
    t.key(KeyCode::Down).await;
    t.typed("HALF-TYPED").await;
    t.app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    assert!(!t.app.quit);
    assert!(
        t.screen().contains("A form has unsaved input"),
        "{}",
        t.screen()
    );
    t.ch('n').await;
    let Some(Popup::Form(f)) = t.app.popup() else {
        panic!("back to the form")
    };
    assert_eq!(f.get("holderReference").unwrap().value(), "HALF-TYPED");
    t.app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    t.ch('y').await;
    assert!(t.app.quit);
}

#[tokio::test]
async fn a_reply_reaches_a_saving_form_under_the_quit_question() {
    let mut t = setup().await;
    t.ch('c').await;
    t.key(KeyCode::Down).await;
    t.key(KeyCode::Down).await;
    t.typed("SAVED-UNDER").await;
    t.key(KeyCode::Down).await;
    t.key(KeyCode::Down).await;
    t.typed("50000").await;
    // Submit, and ask to quit before the reply arrives.
    t.app
        .update(Msg::Key(KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)));
    t.app.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('c'),
        KeyModifiers::CONTROL,
    )));
    assert!(t.screen().contains("Quit?"), "{}", t.screen());
    t.settle().await;
    assert!(
        t.screen().contains("Quit?") && t.screen().contains("Created position pos_"),
        "the question stays on top and the save is reported: {}",
        t.screen()
    );
    t.ch('n').await;
    assert!(
        t.app.popup().is_none(),
        "the saved form closed: {}",
        t.screen()
    );
    assert!(!t.app.quit);
}

#[tokio::test]
async fn read_only_session_hides_and_refuses_writes() {
    let mut t = setup_with(true, KeyMap::default(), 80, 24).await;
    let s = t.screen();
    assert!(
        !s.contains("c create") && !s.contains("t transition"),
        "write keys hidden: {s}"
    );
    t.ch('t').await;
    assert!(t.app.popup().is_none());
    // Root started --read-only: the session is read-only, not the role.
    let s = t.screen();
    assert!(s.contains("read-only session"), "{s}");
    assert!(!s.contains("not allowed for role root"), "{s}");
    t.ch('?').await;
    assert!(
        !t.screen().contains("transition the selected position"),
        "help hides writes too"
    );
}

#[tokio::test]
async fn hints_show_only_what_the_role_may_do() {
    let base = setup().await;
    // Root: every key.
    let mut root = signed_in_as(&base, base.actor.clone(), false, 160, 48);
    root.settle().await;
    assert!(root.screen().contains("c create"), "{}", root.screen());
    root.ch('4').await;
    assert!(root.screen().contains("v verify"), "{}", root.screen());
    root.ch('5').await;
    assert!(
        root.screen().contains("check runs one"),
        "{}",
        root.screen()
    );

    // An admin of one institution: no new institution, no verify, no check.
    let admin = key_actor(&base, "admin").await;
    let mut t = signed_in_as(&base, admin, false, 160, 48);
    t.settle().await;
    t.ch('1').await;
    let s = t.screen();
    assert!(
        !s.contains("c create"),
        "no new institution for an admin: {s}"
    );
    t.ch('c').await;
    assert!(t.app.popup().is_none());
    assert!(
        t.screen().contains("only root creates institutions"),
        "{}",
        t.screen()
    );
    t.key(KeyCode::Esc).await;
    t.ch('3').await;
    assert!(
        t.screen().contains("c create"),
        "an admin creates positions"
    );
    t.ch('4').await;
    let s = t.screen();
    assert!(!s.contains("v verify"), "{s}");
    t.ch('v').await;
    assert!(t.screen().contains("verifying the whole chain is for root"));
    t.ch(':').await;
    t.typed("check").await;
    t.key(KeyCode::Enter).await;
    assert!(
        t.screen()
            .contains("checking and anchoring the store are for root"),
        "{}",
        t.screen()
    );
    t.ch('5').await;
    let s = t.screen();
    assert!(
        !s.contains("check runs one") && s.contains("not run"),
        "{s}"
    );
    assert!(!s.contains("Enter open"), "nothing opens on Health: {s}");
    // The admin's own institution: policies and keys are its to edit.
    t.ch('1').await;
    t.key(KeyCode::Enter).await;
    let s = t.screen();
    assert!(
        s.contains("edits the selected region") && s.contains("K new"),
        "{s}"
    );

    // A read-only key: no e, K, D, n or t anywhere.
    let viewer = key_actor(&base, "read_only").await;
    let mut t = signed_in_as(&base, viewer, false, 160, 48);
    t.settle().await;
    t.ch('1').await;
    t.key(KeyCode::Enter).await;
    let s = t.screen();
    assert!(
        !s.contains("edits the selected region") && !s.contains("K new") && !s.contains(" revoke"),
        "{s}"
    );
    t.ch('e').await;
    assert!(
        t.screen()
            .contains("not allowed for role read_only: this session is read-only"),
        "{}",
        t.screen()
    );
    t.key(KeyCode::Esc).await;
    t.key(KeyCode::Esc).await;
    t.ch('3').await;
    let s = t.screen();
    assert!(
        !s.contains("c create") && !s.contains("t transition"),
        "{s}"
    );
    // A position's detail opens nothing: no Enter hint.
    t.key(KeyCode::Enter).await;
    let s = t.screen();
    assert!(s.contains("Position"), "{s}");
    assert!(!s.contains("Enter open"), "{s}");
}

#[tokio::test]
async fn command_line() {
    let mut t = setup().await;
    t.ch(':').await;
    t.typed("positions state=funded").await;
    t.key(KeyCode::Enter).await;
    assert_eq!(t.app.positions().filter.state, Some(PositionState::Funded));
    let id = t.app.positions().rows[0].id.clone();
    t.ch(':').await;
    t.typed(&format!("ledger {id}")).await;
    t.key(KeyCode::Enter).await;
    assert_eq!(t.app.tab, Tab::Ledger);
    assert!(
        t.app
            .ledger()
            .events
            .rows
            .iter()
            .all(|e| e.position_id.as_deref() == Some(id.as_str()))
    );
    assert!(!t.app.ledger().events.rows.is_empty());
    t.ch(':').await;
    t.typed("frobnicate").await;
    t.key(KeyCode::Enter).await;
    assert!(
        t.screen().contains("unknown command 'frobnicate'"),
        "{}",
        t.screen()
    );
    t.key(KeyCode::Esc).await; // dismisses the error
    assert!(!t.screen().contains("unknown command"));
    t.ch(':').await;
    t.typed(&id).await;
    t.key(KeyCode::Enter).await;
    assert!(t.screen().contains("Lifecycle"), "an id opens its detail");
    t.ch(':').await;
    t.typed("quit").await;
    t.key(KeyCode::Enter).await;
    assert!(t.app.quit);
}

/// An `:open` that finds nothing leaves the operator where they were (in the detail they had
/// open); a cut id (`pos_…`, as the README once showed) is refused with what a whole one is.
#[tokio::test]
async fn a_failed_open_keeps_the_current_detail() {
    let mut t = setup().await;
    t.ch('1').await;
    t.key(KeyCode::Enter).await;
    let inst = t.app.detail().cloned().expect("an institution's detail");
    t.ch(':').await;
    t.typed(&format!("open {}", ids::new_id(ids::POSITION)))
        .await;
    t.key(KeyCode::Enter).await;
    let s = t.screen();
    let status = t
        .app
        .status
        .as_ref()
        .map(|m| m.text.clone())
        .unwrap_or_default();
    assert!(status.contains("not found"), "{status}");
    assert_eq!(t.app.detail(), Some(&inst), "still in the institution: {s}");
    assert_eq!(t.app.tab, Tab::Institutions);
    t.key(KeyCode::Esc).await; // the error
    for cut in ["ledger pos_…", "open pos_0193"] {
        t.ch(':').await;
        t.typed(cut).await;
        t.key(KeyCode::Enter).await;
        let status = t
            .app
            .status
            .as_ref()
            .map(|m| m.text.clone())
            .unwrap_or_default();
        assert!(
            status.contains("is not a whole id: pos_ and a UUID"),
            "{cut}: {status}"
        );
        assert_eq!(t.app.detail(), Some(&inst));
        t.key(KeyCode::Esc).await;
    }
}

/// The README's own command: quoted values, names by a unique prefix, and a line that fails
/// stays open for mending.
#[tokio::test]
async fn command_line_quotes_prefixes_and_mending() {
    let mut t = setup().await;
    let harbor = t
        .app
        .data
        .institutions
        .iter()
        .find(|i| i.name == "Harbor Trust Bank")
        .expect("the demo set has Harbor Trust Bank")
        .id
        .clone();
    t.ch(':').await;
    t.typed("positions state=FUNDED institution=\"Harbor Trust Bank\" sort=-amount")
        .await;
    t.key(KeyCode::Enter).await;
    assert!(t.app.popup().is_none(), "{}", t.screen());
    assert_eq!(
        t.app.positions().filter.institution_id.as_deref(),
        Some(harbor.as_str())
    );
    assert_eq!(t.app.positions().filter.state, Some(PositionState::Funded));
    assert!(t.app.positions().descending);
    t.app.run_command("positions institution=harb").unwrap();
    assert_eq!(
        t.app.positions().filter.institution_id.as_deref(),
        Some(harbor.as_str())
    );
    let err = t
        .app
        .run_command("positions institution=Nowhere")
        .unwrap_err();
    assert!(err.contains("no institution 'Nowhere'"), "{err}");
    let err = t
        .app
        .run_command("positions institution=\"Harbor")
        .unwrap_err();
    assert!(err.contains("unbalanced quote"), "{err}");

    t.ch(':').await;
    t.typed("positions state=FUNDDE").await;
    t.key(KeyCode::Enter).await;
    match t.app.popup() {
        Some(Popup::CommandLine(line)) => {
            assert_eq!(line.value(), "positions state=FUNDDE", "the line is kept")
        }
        _ => panic!("the command line stays open: {}", t.screen()),
    }
    assert!(t.screen().contains("FUNDDE"), "{}", t.screen());
    t.key(KeyCode::Esc).await;
    assert!(t.app.popup().is_none());
    assert!(
        !t.screen().contains("FUNDDE"),
        "Esc closes the line and its error"
    );
}

#[tokio::test]
async fn help_and_hints_follow_remapped_keys() {
    let mut o = std::collections::BTreeMap::new();
    o.insert("transition".to_string(), "T".to_string());
    let km = KeyMap::default().with_overrides(&o).unwrap();
    let mut t = setup_with(false, km, 80, 24).await;
    // A position that can move, so the transition hint is offered.
    t.app.run_command("positions state=FUNDED").unwrap();
    t.settle().await;
    assert!(t.screen().contains("T transition"), "{}", t.screen());
    t.ch('t').await;
    assert!(t.app.popup().is_none(), "the old key does nothing");
    t.ch('T').await;
    assert!(matches!(
        t.app.popup(),
        Some(Popup::Transition(_)) | Some(Popup::Message(_))
    ));
    t.key(KeyCode::Esc).await;
    t.ch('?').await;
    let s = t.screen();
    assert!(s.contains("T  transition the selected position"), "{s}");
    // the overlay scrolls to the command-line summary at the end
    for _ in 0..200 {
        t.ch('j').await;
    }
    assert!(t.screen().contains("Commands (:)"), "{}", t.screen());
    // and lists the dialogs' keys, as mapped
    for _ in 0..30 {
        t.ch('k').await;
    }
    assert!(t.screen().contains("In a question"), "{}", t.screen());
}

#[tokio::test]
async fn ledger_follow_pauses_when_scrolling_up_and_counts_new_events() {
    let mut t = setup().await;
    t.ch('4').await;
    assert!(t.app.ledger().follow);
    let head = t.store.ledger_head().await.unwrap().unwrap().0;
    t.ch('k').await;
    assert!(!t.app.ledger().follow, "scrolling up pauses follow");
    let p = t
        .app
        .positions()
        .rows
        .iter()
        .find(|p| p.state == PositionState::Created)
        .cloned()
        .or_else(|| t.app.positions().rows.first().cloned())
        .unwrap();
    let _ = t
        .svc
        .transition_position(
            &t.actor,
            &p.id,
            TransitionRequest {
                to: "FUNDED".into(),
                ..Default::default()
            },
        )
        .await;
    t.svc
        .create_position(
            &t.actor,
            escrowgrid::demo::seed::Vocabulary::demo().new_position(
                &mut <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(1),
                &escrowgrid::demo::seed::slots_of(t.svc.as_ref(), &t.actor)
                    .await
                    .unwrap()[0],
            ),
        )
        .await
        .unwrap();
    t.stream_from(head).await;
    let s = t.screen();
    assert!(s.contains("new events (G to return)"), "{s}");
    t.ch('G').await;
    assert!(t.app.ledger().follow && t.app.ledger().unseen == 0);
    let last = t.app.ledger().events.rows.back().unwrap().seq;
    assert_eq!(last, t.store.ledger_head().await.unwrap().unwrap().0);
    // Enter opens the event whole; Enter there opens its position, over the Ledger tab, and
    // Esc comes back through the event to the Ledger.
    t.key(KeyCode::Enter).await;
    let s = t.screen();
    assert!(
        s.contains(&format!("ledger seq {last}")) && s.contains("Payload") && s.contains("Hash"),
        "{s}"
    );
    t.key(KeyCode::Enter).await;
    assert_eq!(t.app.tab, Tab::Ledger);
    assert!(t.screen().contains("Lifecycle"), "{}", t.screen());
    t.key(KeyCode::Esc).await;
    assert!(
        t.screen().contains(&format!("ledger seq {last}")),
        "{}",
        t.screen()
    );
    t.key(KeyCode::Esc).await;
    assert_eq!(t.app.tab, Tab::Ledger);
    assert!(t.app.detail().is_none());
}

#[tokio::test]
async fn untrusted_text_is_escaped_on_screen() {
    let mut t = setup().await;
    let template = t
        .store
        .list_positions(&PositionQuery {
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .clone();
    let now = time::now();
    let mut evil = template.clone();
    evil.id = ids::new_id(ids::POSITION);
    evil.holder_reference = "EVIL\x1b[2J\x1b]52;c;AAAA\x07\u{202e}x".into();
    evil.created_at = now;
    evil.updated_at = now;
    t.store
        .commit(Write {
            change: Change::CreatePosition(evil.clone(), None),
            ledger: None,
            audit: None,
        })
        .await
        .unwrap();
    t.app.act(Action::Refresh);
    t.settle().await;
    let s = t.screen();
    assert!(
        !s.contains('\x1b') && !s.contains('\x07') && !s.contains('\u{202e}'),
        "no raw control characters reach the screen"
    );
    assert!(s.contains("EVIL\\x1b[2J"), "shown escaped instead: {s}");
}

#[tokio::test]
async fn no_color_means_no_colours() {
    let mut t = setup().await;
    t.app.theme = Theme::load(&Default::default(), true).unwrap();
    let backend = ratatui::backend::TestBackend::new(80, 24);
    let mut term = ratatui::Terminal::new(backend).unwrap();
    term.draw(|f| escrowgrid::tui::chrome::draw(f, &t.app))
        .unwrap();
    let buf = term.backend().buffer();
    for y in 0..24 {
        for x in 0..80 {
            let c = &buf[(x, y)];
            assert_eq!(
                c.fg,
                ratatui::style::Color::Reset,
                "cell {x},{y} has a colour"
            );
            assert_eq!(
                c.bg,
                ratatui::style::Color::Reset,
                "cell {x},{y} has a colour"
            );
        }
    }
    t.ch('q').await;
}

/// `1`, Enter (an institution), Enter (its positions), Esc: back to the institution, and the
/// Positions tab keeps the filter it had before; switching tabs forgets the way back.
#[tokio::test]
async fn esc_from_a_details_positions_returns_to_the_detail() {
    use escrowgrid::tui::nav::Detail;
    let mut t = setup().await;
    t.app.run_command("positions state=FUNDED").unwrap();
    t.settle().await;
    t.ch('1').await;
    t.key(KeyCode::Enter).await;
    let inst = match t.app.detail() {
        Some(Detail::Institution(id)) => id.clone(),
        _ => panic!("an institution detail: {}", t.screen()),
    };
    t.key(KeyCode::Enter).await;
    assert_eq!(t.app.tab, Tab::Positions);
    assert_eq!(
        t.app.positions().filter.institution_id.as_deref(),
        Some(inst.as_str())
    );
    t.key(KeyCode::Esc).await;
    assert_eq!(t.app.tab, Tab::Institutions, "{}", t.screen());
    assert_eq!(t.app.detail(), Some(&Detail::Institution(inst.clone())));
    assert_eq!(t.app.positions().filter.state, Some(PositionState::Funded));
    assert_eq!(t.app.positions().filter.institution_id, None);

    t.key(KeyCode::Enter).await;
    t.ch('4').await;
    t.ch('3').await;
    t.key(KeyCode::Esc).await;
    assert_eq!(
        t.app.tab,
        Tab::Positions,
        "a tab switch forgets the way back"
    );
}

/// `v` verifies the chain: the result is shown, and "Verifying…" does not stay behind it.
#[tokio::test]
async fn verifying_the_chain_reports_and_leaves_no_stale_status() {
    let mut t = setup().await;
    t.ch('4').await;
    t.ch('v').await;
    t.settle().await;
    let s = t.screen();
    assert!(s.contains("Ledger verified") && s.contains("intact"), "{s}");
    t.key(KeyCode::Esc).await;
    let s = t.screen();
    assert!(!s.contains("Verifying the hash chain"), "{s}");
    assert!(s.contains("Hash chain intact: verified seq 1–"), "{s}");
}

/// The transition hint shows only where a transition is possible.
#[tokio::test]
async fn no_transition_hint_on_a_terminal_position() {
    let mut t = setup_with(false, KeyMap::default(), 160, 48).await;
    let hint_bar = |t: &T| t.screen().lines().rev().nth(1).unwrap_or("").to_string();
    t.app.run_command("positions state=FUNDED").unwrap();
    t.settle().await;
    assert!(hint_bar(&t).contains("t transition"), "{}", hint_bar(&t));
    t.app.run_command("positions state=RELEASED").unwrap();
    t.settle().await;
    assert!(!t.app.positions().rows.is_empty());
    assert!(!hint_bar(&t).contains("transition"), "{}", hint_bar(&t));
    t.key(KeyCode::Enter).await;
    assert!(t.screen().contains("Lifecycle"));
    assert!(
        !hint_bar(&t).contains("transition"),
        "not in the detail either: {}",
        hint_bar(&t)
    );
}

/// `:open` of another institution's position: refused with a message, and no empty pane.
#[tokio::test]
async fn opening_a_position_out_of_scope_leaves_no_empty_pane() {
    let mut t = setup_with(false, KeyMap::default(), 160, 48).await;
    let insts = t
        .svc
        .list_institutions(&t.actor, escrowgrid::service::Page::first(10))
        .await
        .unwrap();
    let (mine, other) = (insts[0].id.clone(), insts[1].id.clone());
    let key = t
        .svc
        .create_api_key(&t.actor, Some(mine), "v".into(), "read_only".into())
        .await
        .unwrap();
    let scoped = t.svc.authenticate(Some(&key.token)).await.unwrap();
    let theirs = t
        .svc
        .list_positions(
            &t.actor,
            PositionQuery {
                filter: PositionFilter {
                    institution_id: Some(other),
                    ..Default::default()
                },
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap()[0]
        .id
        .clone();
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    t.exec = Executor::new(t.svc.clone(), scoped, tx);
    t.app.run_command(&format!("open {theirs}")).unwrap();
    t.settle().await;
    assert!(t.app.detail().is_none(), "no empty pane: {}", t.screen());
    assert!(t.screen().contains("belongs to another"), "{}", t.screen());
}

/// At 80 columns the hint bar keeps help, the way back and the command line, dropping the
/// view's own keys first.
#[tokio::test]
async fn the_narrow_hint_bar_keeps_back_and_the_command_line() {
    let mut t = setup().await;
    for tab in ['1', '2', '3', '4', '5'] {
        t.ch(tab).await;
        let bar = t.screen().lines().rev().nth(1).unwrap_or("").to_string();
        for must in ["? help", "Esc back", ": command"] {
            assert!(bar.contains(must), "tab {tab}: {must} in {bar:?}");
        }
        assert!(bar.chars().count() <= 80);
    }
}

#[tokio::test]
async fn api_keys_and_policies_from_the_institution_detail() {
    let mut t = setup().await;
    t.ch('1').await;
    t.key(KeyCode::Enter).await;
    t.ch('K').await;
    t.typed("ops desk").await;
    t.key(KeyCode::Down).await;
    t.key(KeyCode::Right).await; // read_only
    t.key(KeyCode::Enter).await;
    let s = t.screen();
    assert!(s.contains("shown only once") && s.contains("ak_"), "{s}");
    let token = match t.app.popup() {
        Some(Popup::Message(m)) => m
            .body
            .iter()
            .find(|l| l.starts_with("ak_"))
            .unwrap()
            .clone(),
        _ => panic!(),
    };
    assert!(t.svc.authenticate(Some(&token)).await.is_ok());
    t.key(KeyCode::Esc).await;
    let s = t.screen();
    assert!(s.contains("ops desk") && s.contains("active"), "{s}");
    // select the key row (after the policy rows) and revoke it, with confirmation
    let regions = 2;
    for _ in 0..regions {
        t.ch('j').await;
    }
    t.ch('D').await;
    assert!(t.screen().contains("Revoke API key?"), "{}", t.screen());
    t.ch('y').await;
    assert!(t.screen().contains("revoked"), "{}", t.screen());
    assert!(t.svc.authenticate(Some(&token)).await.is_err());
    // edit the US policy in place
    t.ch('g').await;
    t.ch('e').await;
    t.key(KeyCode::Down).await; // max
    for _ in 0..12 {
        t.key(KeyCode::Backspace).await;
    }
    t.typed("999").await;
    assert!(
        t.screen()
            .contains("the minimum must not exceed the maximum"),
        "{}",
        t.screen()
    );
    for _ in 0..3 {
        t.key(KeyCode::Backspace).await;
    }
    t.typed("60000000").await;
    t.key(KeyCode::Enter).await;
    assert!(t.app.popup().is_none(), "{}", t.screen());
    let inst = t.app.detail().unwrap().id().to_string();
    let p = t
        .store
        .get_policy(&inst, escrowgrid::domain::Region::Us)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        p.config.position.max_amount.unwrap().to_string(),
        "60000000"
    );
}

#[tokio::test]
async fn mouse_clicks_tabs_and_rows() {
    use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
    let mut t = setup().await;
    let click = |col, row| {
        Msg::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column: col,
            row,
            modifiers: KeyModifiers::NONE,
        })
    };
    t.app.update(click(3, 0));
    assert_eq!(t.app.tab, Tab::Institutions);
    t.app.update(click(30, 0));
    t.settle().await;
    assert_eq!(t.app.tab, Tab::Positions);
    t.app.update(click(5, 6));
    assert_eq!(t.app.positions().sel.selected, 3);
    t.app.update(click(5, 6));
    t.settle().await;
    assert!(t.screen().contains("Lifecycle"), "second click opens");
    t.app.update(Msg::Mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: 5,
        row: 6,
        modifiers: KeyModifiers::NONE,
    }));
}

#[tokio::test]
async fn positions_window_pages_through_a_large_result() {
    // 650 positions: more than three pages of 200
    let store = store::open(Backend::Memory, "", Duration::from_millis(10))
        .await
        .unwrap();
    let svc = Arc::new(Service::new(store.clone(), ServiceConfig::default()));
    let actor = Actor::Local { user: "t".into() };
    escrowgrid::demo::seed::load_demo(svc.as_ref(), &actor, 650, 3, false)
        .await
        .unwrap();
    let (tx, _rx) = tokio::sync::mpsc::channel(16);
    let mut t = T {
        app: App::new(session(false), KeyMap::default(), Theme::default()),
        exec: Executor::new(svc.clone(), actor.clone(), tx),
        svc,
        store,
        actor,
    };
    t.app.update(Msg::Resize(80, 24));
    t.app.start();
    t.settle().await;
    assert_eq!(t.app.positions().rows.len(), 200, "one page at first");
    let mut seen = std::collections::HashSet::new();
    for _ in 0..649 {
        seen.insert(
            t.app.positions().rows[t.app.positions().sel.selected]
                .id
                .clone(),
        );
        t.ch('j').await;
    }
    seen.insert(
        t.app.positions().rows[t.app.positions().sel.selected]
            .id
            .clone(),
    );
    assert_eq!(seen.len(), 650, "scrolling visits every row exactly once");
    assert!(t.screen().contains("row 650 of 650"), "{}", t.screen());
    t.ch('g').await;
    assert!(t.screen().contains("row 1 of 650"));
    t.ch('G').await;
    assert!(t.screen().contains("row 650 of 650"), "{}", t.screen());
    assert!(t.app.positions().rows.len() <= escrowgrid::tui::views::positions::WINDOW);
}

#[tokio::test]
async fn institution_counts_follow_live_changes() {
    let mut t = setup().await;
    let slot = escrowgrid::demo::seed::slots_of(t.svc.as_ref(), &t.actor)
        .await
        .unwrap()[0]
        .clone();
    let inst = slot.institution_id.clone();
    let before = t.app.data.summaries[&inst].positions;
    let head = t.store.ledger_head().await.unwrap().unwrap().0;
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(9);
    for _ in 0..3 {
        let p = escrowgrid::demo::seed::Vocabulary::demo().new_position(&mut rng, &slot);
        t.svc.create_position(&t.actor, p).await.unwrap();
    }
    t.stream_from(head).await;
    for _ in 0..4 {
        t.app.update(Msg::Tick);
    }
    t.settle().await;
    assert_eq!(t.app.data.summaries[&inst].positions, before + 3);
    let name = t.app.data.institution_name(&inst);
    t.ch('1').await;
    let screen = t.screen();
    let row = screen
        .lines()
        .find(|l| l.contains(&name[..12]))
        .unwrap_or_else(|| panic!("{name} on screen: {screen}"))
        .to_string();
    assert!(
        row.contains(&(before + 3).to_string()),
        "the row shows the new count: {row}"
    );
}

#[tokio::test]
async fn the_ping_sparkline_is_empty_when_every_ping_is_near_zero() {
    let mut t = setup().await;
    t.ch('5').await;
    let mut report = t.svc.health(&t.actor).await;
    report.ping_ms = Some(0.0);
    // As many as the sparkline keeps (150), so the real ping of the first load (a few µs, or
    // more on a busy machine) has left it.
    for _ in 0..150 {
        t.app
            .update(Msg::Loaded(Box::new(escrowgrid::tui::msg::Loaded::Health(
                Box::new(report.clone()),
            ))));
    }
    // The sparkline's rows: between its title and the next section's.
    let spark = |s: &str| -> String {
        s.lines()
            .skip_while(|l| !l.contains("Ping, last"))
            .skip(1)
            .take_while(|l| !l.contains("Positions by state"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let s = t.screen();
    assert!(s.contains("max 0.00 ms"), "{s}");
    assert!(
        !spark(&s).contains(['█', '▇', '▆', '▅', '▄', '▃', '▂', '▁']),
        "no bars for pings of 0.00 ms: {s}"
    );
    // A ping of 2 ms after them draws its bar: the sparkline shows the newest pings that fit
    // (it once drew the oldest, so with 150 kept, more than the panel is wide, the new one was off
    // its right edge).
    report.ping_ms = Some(2.0);
    t.app
        .update(Msg::Loaded(Box::new(escrowgrid::tui::msg::Loaded::Health(
            Box::new(report),
        ))));
    assert!(spark(&t.screen()).contains('█'), "{}", t.screen());
}

#[tokio::test]
async fn g_after_g_goes_to_the_first_row() {
    // 301 positions: G loads the last page (rows 102–301), which begins inside the first
    // page; g must land on row 1, not on the row the last page began with.
    let mut t = setup_sized(false, KeyMap::default(), 80, 24, 301).await;
    t.ch('3').await;
    assert_eq!(t.app.positions().rows.len(), 200);
    t.ch('G').await;
    assert!(t.screen().contains("row 301 of 301"), "{}", t.screen());
    t.ch('g').await;
    assert!(t.screen().contains("row 1 of 301"), "{}", t.screen());
}

#[tokio::test]
async fn an_outage_is_reported_and_recovery_reloads() {
    let mut t = setup().await;
    let mut down = t.svc.health(&t.actor).await;
    down.connected = false;
    down.error = Some("store unavailable: connection refused".into());
    t.app
        .update(Msg::Loaded(Box::new(escrowgrid::tui::app::Loaded::Health(
            Box::new(down.clone()),
        ))));
    let s = t.screen();
    assert!(s.contains("UNREACHABLE"), "status bar says so:\n{s}");
    assert!(s.contains("the store is unreachable"), "{s}");
    // the live health check answers again: views reload by themselves
    let up = t.svc.health(&t.actor).await;
    t.app
        .update(Msg::Loaded(Box::new(escrowgrid::tui::app::Loaded::Health(
            Box::new(up),
        ))));
    assert!(
        t.app
            .cmds()
            .iter()
            .any(|c| matches!(c, escrowgrid::tui::app::Cmd::LoadInstitutions))
    );
    t.settle().await;
    assert!(t.screen().contains("reachable again"), "{}", t.screen());
}

#[tokio::test]
async fn enter_in_a_detail_view_lists_its_positions() {
    let mut t = setup().await;
    t.ch('1').await;
    t.key(KeyCode::Enter).await;
    let inst = t
        .app
        .top_as::<InstitutionDetail>()
        .and_then(|d| d.shown.as_ref())
        .unwrap()
        .institution
        .clone();
    t.key(KeyCode::Enter).await;
    assert_eq!(t.app.tab, Tab::Positions);
    assert!(!t.app.positions().rows.is_empty());
    assert!(
        t.app
            .positions()
            .rows
            .iter()
            .all(|p| p.institution_id == inst.id)
    );
    assert!(
        t.screen().contains(&format!("institution={}", inst.name)),
        "{}",
        t.screen()
    );
    t.ch('2').await;
    t.ch('m').await;
    t.key(KeyCode::Enter).await;
    let asset = t.app.data.assets[0].clone();
    t.key(KeyCode::Enter).await;
    assert!(
        t.app
            .positions()
            .rows
            .iter()
            .all(|p| p.asset_id == asset.id)
    );
    assert!(t.screen().contains("asset="), "{}", t.screen());
}

#[tokio::test]
async fn check_from_the_command_line_reports_on_the_health_tab() {
    let mut t = setup().await;
    t.ch('5').await;
    assert!(
        t.screen().contains("not run (:check runs one)"),
        "{}",
        t.screen()
    );
    t.app.run_command("check").unwrap();
    t.settle().await;
    let s = t.screen();
    assert!(s.contains("Store consistent"), "{s}");
    assert!(s.contains("consistent ("), "the Health tab says so: {s}");

    // A position written past the service: no creation event, no audit record.
    let mut ghost = t
        .store
        .list_positions(&PositionQuery {
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .clone();
    ghost.id = ids::new_id(ids::POSITION);
    t.store
        .commit(Write {
            change: Change::CreatePosition(ghost.clone(), None),
            ledger: None,
            audit: None,
        })
        .await
        .unwrap();
    t.app.run_command("check").unwrap();
    t.settle().await;
    let s = t.screen();
    assert!(s.contains("Store INCONSISTENT"), "{s}");
    assert!(
        s.contains("1 finding in "),
        "one finding, in the singular: {s}"
    );
    assert!(
        s.contains(&ghost.id) && s.contains("no creation event"),
        "{s}"
    );
    t.key(KeyCode::Esc).await;
    assert!(
        t.screen().contains("FINDINGS, first: no creation event"),
        "{}",
        t.screen()
    );
}

#[tokio::test]
async fn a_demo_session_is_saved_with_export() {
    let mut t = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("demo.jsonl");
    let err = t.app.run_command("export").unwrap_err();
    assert!(err.contains(":export takes a file name"), "{err}");
    t.app
        .run_command(&format!("export {}", file.display()))
        .unwrap();
    t.settle().await;
    let s = t.screen();
    assert!(
        s.contains("Exported ") && s.contains("ledger events"),
        "{s}"
    );
    // Again into the same file: the console asks first, and keeps the file when told no.
    let first = std::fs::read(&file).unwrap();
    t.app
        .run_command(&format!("export {}", file.display()))
        .unwrap();
    t.settle().await;
    let s = t.screen();
    assert!(
        s.contains("Replace the file?") && s.contains("exists"),
        "{s}"
    );
    t.ch('n').await;
    assert_eq!(std::fs::read(&file).unwrap(), first, "untouched");
    t.app
        .run_command(&format!("export {}", file.display()))
        .unwrap();
    t.settle().await;
    t.ch('y').await;
    assert!(t.screen().contains("Exported "), "{}", t.screen());
    // The file loads into a SQLite store, with the same head.
    let text = std::io::BufReader::new(std::fs::File::open(&file).unwrap());
    let sqlite = crate::common::Harness::new(Backend::Sqlite).await.unwrap();
    let s = sqlite
        .svc
        .import(&sqlite.actor, text, Default::default())
        .await
        .unwrap();
    assert_eq!(
        Some((s.head_seq, s.head_hash)),
        t.store.ledger_head().await.unwrap()
    );
}

#[tokio::test]
async fn the_console_verifies_the_chain_and_each_streamed_event() {
    use escrowgrid::tui::views::ChainView;
    let mut t = setup().await;
    let head = t.store.ledger_head().await.unwrap().unwrap();
    assert_eq!(
        t.app.chain.view,
        ChainView::Verified {
            from: 1,
            seq: head.0,
            hash: head.1.clone()
        },
        "verified from seq 1 at start"
    );
    assert!(
        t.screen().contains(&format!("✓ verified seq 1–{}", head.0)),
        "{}",
        t.screen()
    );
    // Two new events, of which the stream delivers only the second: a gap, so the console reads
    // what it missed and verifies on from its head.
    let p = t
        .app
        .positions()
        .rows
        .iter()
        .find(|p| p.state == PositionState::Created)
        .expect("a CREATED position in the demo data")
        .clone();
    for to in ["FUNDED", "CANCELLED"] {
        let _ = t
            .svc
            .transition_position(
                &t.actor,
                &p.id,
                TransitionRequest {
                    to: to.into(),
                    ..Default::default()
                },
            )
            .await;
    }
    let new_head = t.store.ledger_head().await.unwrap().unwrap();
    assert!(new_head.0 > head.0);
    let last = t
        .svc
        .ledger(
            &t.actor,
            escrowgrid::store::LedgerQuery {
                after_seq: new_head.0 - 1,
                limit: 1,
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .remove(0);
    t.app
        .update(Msg::Stream(escrowgrid::service::stream::StreamItem::Event(
            Box::new(last.clone()),
        )));
    t.settle().await;
    assert_eq!(
        t.app.chain.view,
        ChainView::Verified {
            from: 1,
            seq: new_head.0,
            hash: new_head.1.clone()
        },
        "caught up over the gap"
    );
    // An event whose hash does not match its content: the console says so at once.
    let mut forged = last.clone();
    forged.seq += 1;
    forged.prev_hash = last.hash.clone();
    forged.hash = "f".repeat(64);
    t.app
        .update(Msg::Stream(escrowgrid::service::stream::StreamItem::Event(
            Box::new(forged),
        )));
    assert!(
        matches!(&t.app.chain.view, ChainView::Broken { seq, .. } if *seq == new_head.0 + 1),
        "{:?}",
        t.app.chain.view
    );
    assert!(
        t.screen().contains("Hash chain BROKEN at seq"),
        "{}",
        t.screen()
    );
    t.ch('5').await;
    assert!(
        t.screen().contains("BROKEN at seq"),
        "the Health tab says so: {}",
        t.screen()
    );
}

#[tokio::test]
async fn anchored_events_are_marked_and_the_health_tab_shows_the_anchors() {
    let mut t = setup_with(false, KeyMap::default(), 160, 48).await;
    // An anchor confirmed at seq 5, and one waiting at the head with an error.
    use escrowgrid::domain::anchor;
    let head = t.store.ledger_head().await.unwrap().unwrap();
    t.store.anchor_enqueue(5, "aa").await.unwrap();
    t.store.anchor_enqueue(head.0, &head.1).await.unwrap();
    let a = t
        .store
        .anchor_claim("test", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    t.store
        .anchor_save(&anchor::AnchorRecord {
            status: anchor::CONFIRMED.into(),
            tx_hash: Some("0x1234567890abcdef".into()),
            block_number: Some(42),
            ..a
        })
        .await
        .unwrap();
    let b = t
        .store
        .anchor_claim("test", Duration::from_secs(60))
        .await
        .unwrap()
        .unwrap();
    t.store
        .anchor_save(&anchor::AnchorRecord {
            status: anchor::FAILED.into(),
            last_error: Some("chain unreachable".into()),
            ..b
        })
        .await
        .unwrap();
    t.ch('5').await;
    let screen = t.screen();
    let line = screen
        .lines()
        .find(|l| l.starts_with("Anchored"))
        .unwrap_or_else(|| panic!("no anchors line:\n{screen}"));
    assert!(line.contains("seq 5 ✓"), "{line}");
    assert!(line.contains("block 42, 0x123456…)"), "{line}");
    assert!(line.contains("1 queued · chain unreachable"), "{line}");

    // The Ledger tab marks seq 1..=5 as covered, and nothing after.
    t.ch('4').await;
    t.key(KeyCode::Char('g')).await;
    let screen = t.screen();
    let marked: Vec<&str> = screen
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|w| w.ends_with('✓'))
        })
        .collect();
    assert!(!marked.is_empty(), "no marked row:\n{screen}");
    for l in &marked {
        let seq: i64 = l.trim_start().split('✓').next().unwrap().parse().unwrap();
        assert!(seq <= 5, "{l}");
    }
    assert!(
        screen.lines().any(|l| l.trim_start().starts_with("6 ")),
        "{screen}"
    );
}

/// A console signed in with a key: revoking that key from the console asks first, says it ends
/// this session, and then ends it; a key revoked elsewhere ends the session at its next reply.
#[tokio::test]
async fn a_revoked_session_drops_to_sign_in() {
    let base = setup().await;
    let inst = base.app.data.institutions[0].id.clone();
    let key_for = |label: &'static str| {
        let (svc, actor, inst) = (base.svc.clone(), base.actor.clone(), inst.clone());
        async move {
            let k = svc
                .create_api_key(&actor, Some(inst), label.into(), "admin".into())
                .await
                .unwrap();
            let a = svc.authenticate(Some(&k.token)).await.unwrap();
            (k, a)
        }
    };
    let signed_in = |actor: Actor| {
        let (tx, _rx) = tokio::sync::mpsc::channel(16);
        let exec = Executor::new(base.svc.clone(), actor.clone(), tx);
        let mut s = session(false);
        s.role = actor.role_name().into();
        s.scope = actor.scope().map(str::to_string);
        s.key_id = actor.key_id().map(str::to_string);
        let mut app = App::new(s, KeyMap::default(), Theme::default());
        app.update(Msg::Resize(100, 30));
        app.start();
        T {
            app,
            exec,
            svc: base.svc.clone(),
            store: base.store.clone(),
            actor,
        }
    };

    // Its own key, from the institution's detail.
    let (_, actor) = key_for("console").await;
    let mut t = signed_in(actor);
    t.settle().await;
    t.ch('1').await;
    t.key(KeyCode::Enter).await;
    t.ch('G').await; // the last row: the session's key (the only one)
    t.ch('D').await;
    let s = t.screen();
    assert!(s.contains("Revoke API key?"), "{s}");
    assert!(s.contains("This is the key of this session"), "{s}");
    assert!(
        t.app.signed_out.is_none(),
        "nothing happens before the answer"
    );
    t.ch('y').await;
    let why = t.app.signed_out.clone().expect("the session ended");
    assert!(
        why.contains("revoked") && why.contains("session has ended"),
        "{why}"
    );

    // Revoked by someone else: the next reply ends the session.
    let (k, actor) = key_for("other").await;
    let mut t = signed_in(actor);
    t.settle().await;
    assert!(t.app.signed_out.is_none());
    base.svc
        .revoke_api_key(&base.actor, &k.api_key.id)
        .await
        .unwrap();
    tokio::time::sleep(escrowgrid::service::session::RECHECK).await;
    t.ch('R').await;
    let why = t.app.signed_out.clone().expect("the session ended");
    assert!(why.contains("revoked"), "{why}");
    assert!(
        t.app.take_cmds().is_empty(),
        "nothing more is asked of the service"
    );
}

/// A store that lives in the console's own process (`--demo`) is never witnessed: a second
/// demo starts clean instead of "tampered with" by the first one's heads.
#[tokio::test]
async fn a_demo_session_writes_no_witness() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("witness.jsonl");
    for _ in 0..2 {
        let t = setup().await;
        let (tx, _rx) = tokio::sync::mpsc::channel(16);
        let exec = Executor::new(t.svc.clone(), t.actor.clone(), tx).with_witness(path.clone());
        let r = exec
            .execute(escrowgrid::tui::app::Cmd::VerifyChain(None))
            .await;
        match r {
            Some(escrowgrid::tui::app::Loaded::ChainVerified(Ok(v))) => assert!(v.ok, "{v:?}"),
            _ => panic!("verified"),
        }
        assert!(!path.exists(), "no witness of a memory store");
    }
}

/// A console that starts from the operator's witnessed head says only what it verified, and
/// verifies the whole chain in the background: an event edited below the witnessed head (seq 1)
/// is found there, and said.
#[tokio::test]
async fn an_edit_below_the_witnessed_head_is_found_by_the_background_verification() {
    use escrowgrid::tui::app::Cmd;
    use escrowgrid::tui::views::ChainView;
    let h = crate::common::Harness::new(Backend::Sqlite).await.unwrap();
    let svc = Arc::new(Service::new(h.store.clone(), ServiceConfig::default()));
    escrowgrid::demo::seed::load_demo(svc.as_ref(), &h.actor, 20, 3, false)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let witness = dir.path().join("witness.jsonl");
    let key = svc.store_key().await.unwrap().unwrap();
    let head = h.store.ledger_head().await.unwrap().unwrap();
    escrowgrid::witness::record(
        &witness,
        &escrowgrid::witness::Witnessed::now(&key, head.0, &head.1, None),
    )
    .unwrap();
    crate::common::unlock_history(&h).await;
    crate::common::sql_exec(
        &h,
        "UPDATE ledger_events SET payload = replace(payload, 'Harbor', 'Hxrbor') WHERE seq = 1",
    )
    .await;

    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    let exec = Executor::new(svc.clone(), h.actor.clone(), tx).with_witness(witness);
    let mut app = App::new(session(false), KeyMap::default(), Theme::default());
    app.update(Msg::Resize(100, 30));
    app.start();
    // Everything but the background verification first.
    let mut full = Vec::new();
    for _ in 0..10 {
        let cmds = app.take_cmds();
        if cmds.is_empty() {
            break;
        }
        for c in cmds {
            if matches!(c, Cmd::VerifyFull) {
                full.push(c);
            } else if let Some(l) = exec.execute(c).await {
                app.update(Msg::Loaded(Box::new(l)));
            }
        }
    }
    assert_eq!(full.len(), 1, "a whole-chain verification was started");
    assert!(
        matches!(&app.chain.view, ChainView::Verified { from, seq, .. } if *from == head.0 + 1 && *seq == head.0),
        "{:?}",
        app.chain.view
    );
    let screen = render_to_string(&app, 100, 30);
    assert!(
        screen.contains(&format!("✓ verified seq {} as witnessed", head.0)),
        "{screen}"
    );
    assert!(
        !screen.contains("✓ verified seq 1–"),
        "never claims seq 1: {screen}"
    );
    let l = exec.execute(full.remove(0)).await.unwrap();
    app.update(Msg::Loaded(Box::new(l)));
    assert!(
        matches!(&app.chain.view, ChainView::Broken { seq: 1, .. }),
        "{:?}",
        app.chain.view
    );
    assert!(
        render_to_string(&app, 100, 30).contains("BROKEN at seq 1"),
        "{}",
        render_to_string(&app, 100, 30)
    );
}

/// Nothing said is lost: every status line goes into the message log with its time (`M`,
/// `:messages`), a line too long for the status bar says where to read it whole, and a passing
/// remark does not follow into another tab.
#[tokio::test]
async fn messages_are_kept_whole_and_stale_lines_go() {
    let mut t = setup().await;
    let long = "cannot open 'harbor-trust-bank-and-something-much-longer': give a pos_, inst_, tmpl_ or ast_ id";
    t.app.error(long);
    let s = t.screen();
    // Too long for the status bar: it takes the hint bar's row, cut, saying where it is whole.
    let row = s.lines().rev().nth(1).unwrap();
    assert!(row.starts_with("cannot open 'harbor-trust"), "{s}");
    assert!(
        row.contains("M: the whole message") && !row.contains("ast_ id"),
        "{row}"
    );
    assert!(s.lines().last().unwrap().contains("Esc dismisses"), "{s}");
    t.ch('M').await;
    let s = t.screen();
    assert!(s.contains("Messages (1)"), "{s}");
    // The whole text, wrapped over lines inside the dialog.
    let inside: String = s
        .lines()
        .filter_map(|l| l.split('│').nth(1))
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        inside.contains("give a pos_, inst_, tmpl_ or ast_ id"),
        "{s}"
    );
    t.key(KeyCode::Esc).await;
    // A remark of one tab is not carried into the next; the log keeps it.
    t.ch('3').await;
    t.ch('x').await;
    assert!(t.screen().contains("Filters cleared"), "{}", t.screen());
    t.ch('1').await;
    assert!(!t.screen().contains("Filters cleared"), "{}", t.screen());
    t.app.run_command("messages").unwrap();
    t.settle().await;
    let s = t.screen();
    assert!(
        s.contains("Messages (2)") && s.contains("Filters cleared"),
        "{s}"
    );
}

/// The whole ledger and audit trail in reach: windows paged by keyset in both directions,
/// saying which part is shown, with jumps by seq and time; an event and a record open whole.
#[tokio::test]
async fn the_whole_ledger_and_audit_trail_page_and_jump() {
    let mut t = setup_sized(false, KeyMap::default(), 120, 30, 400).await;
    let head = t.store.ledger_head().await.unwrap().unwrap().0;
    assert!(head > 1100, "more than two pages: {head}");
    let crumb = |t: &T| t.screen().lines().nth(1).unwrap_or("").to_string();
    let group = |n: i64| escrowgrid::tui::widgets::group(n as u64);
    t.ch('4').await;
    assert!(
        crumb(&t).contains(&format!(
            "seq {}–{} of {}",
            group(head - 499),
            group(head),
            group(head)
        )),
        "{}",
        crumb(&t)
    );
    // g: the oldest page; scrolling down past its end brings the next page.
    t.ch('g').await;
    assert!(
        crumb(&t).contains(&format!("seq 1–500 of {}", group(head))),
        "{}",
        crumb(&t)
    );
    assert_eq!(t.app.ledger().events.sel.selected, 0);
    for _ in 0..25 {
        t.key(KeyCode::PageDown).await;
    }
    let w = &t.app.ledger().events;
    let selected = w.rows[w.sel.selected].seq;
    assert!(
        selected > 500,
        "paged past the first page: at seq {selected}"
    );
    // and PageUp back past the window's top brings the older page back.
    t.app.run_command("ledger seq=700").unwrap();
    t.settle().await;
    let w = &t.app.ledger().events;
    assert_eq!(w.rows[w.sel.selected].seq, 700);
    assert!(crumb(&t).contains("seq 700–"), "{}", crumb(&t));
    for _ in 0..3 {
        t.key(KeyCode::PageUp).await;
    }
    let w = &t.app.ledger().events;
    assert!(w.rows.front().unwrap().seq < 700, "the older page came");
    // since=TIME: from the first event written then.
    let at = t
        .store
        .read_ledger(&escrowgrid::store::LedgerQuery {
            after_seq: 299,
            limit: 1,
            ..Default::default()
        })
        .await
        .unwrap()[0]
        .at;
    let since = at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    t.app.run_command(&format!("ledger since={since}")).unwrap();
    t.settle().await;
    let w = &t.app.ledger().events;
    let first = w.rows[w.sel.selected].seq;
    assert!(first <= 300 && w.rows[w.sel.selected].at >= at, "{first}");
    // G: back to the newest, following.
    t.ch('G').await;
    assert!(t.app.ledger().follow);
    assert!(
        crumb(&t).contains(&format!("of {}", group(head))),
        "{}",
        crumb(&t)
    );

    // The audit trail: newest first, G the oldest, since=TIME.
    t.ch('a').await;
    assert!(crumb(&t).contains("(newest)"), "{}", crumb(&t));
    t.ch('G').await;
    assert!(crumb(&t).contains("audit seq 1–"), "{}", crumb(&t));
    t.app.run_command(&format!("audit since={since}")).unwrap();
    t.settle().await;
    let w = &t.app.ledger().audit;
    assert!(w.rows[w.sel.selected].occurred_at >= at);
    // An audit record whole: a refusal's full error.
    let _ = t
        .svc
        .transition_position(
            &t.actor,
            "pos_01a00000-0000-7000-8000-000000000000",
            TransitionRequest {
                to: "FUNDED".into(),
                ..Default::default()
            },
        )
        .await;
    t.app.run_command("audit").unwrap();
    t.settle().await;
    t.key(KeyCode::Enter).await;
    let s = t.screen();
    assert!(
        s.contains("FAILURE") && s.contains("NOT_FOUND: position pos_01a00000"),
        "{s}"
    );
    t.key(KeyCode::Esc).await;
    assert!(t.app.detail().is_none());
}

/// The `:` line completes with Tab (commands, argument names, values, institution names quoted
/// when they hold a space), lists what it cannot choose between, and walks the commands run
/// before with ↑ / ↓; a picker narrows as letters are typed.
#[tokio::test]
async fn the_command_line_completes_remembers_and_pickers_narrow() {
    let mut t = setup_with(false, KeyMap::default(), 160, 48).await;
    t.ch(':').await;
    t.typed("pos").await;
    t.key(KeyCode::Tab).await;
    t.typed("state=PA").await;
    t.key(KeyCode::Tab).await;
    assert!(
        t.screen().contains(":positions state=PARTIALLY_RELEASED"),
        "{}",
        t.screen()
    );
    t.key(KeyCode::Enter).await;
    assert_eq!(
        t.app.positions().filter.state,
        Some(PositionState::PartiallyReleased)
    );

    // An institution's name with a space comes back quoted, and runs.
    let name = t
        .app
        .data
        .institutions
        .iter()
        .find(|i| i.name.contains(' '))
        .expect("a demo institution with a space in its name")
        .name
        .clone();
    let prefix: String = name.chars().take(4).collect();
    t.ch(':').await;
    t.typed(&format!("positions institution={prefix}")).await;
    t.key(KeyCode::Tab).await;
    let s = t.screen();
    assert!(
        s.contains(&format!(":positions institution=\"{name}\"")),
        "{s}"
    );
    t.key(KeyCode::Enter).await;
    let inst = t
        .app
        .data
        .institutions
        .iter()
        .find(|i| i.name == name)
        .unwrap()
        .id
        .clone();
    assert_eq!(t.app.positions().filter.institution_id, Some(inst));

    // Ctrl-W deletes the word before the cursor (a value, up to its `=`), Ctrl-U the line
    // before the cursor.
    t.ch(':').await;
    t.typed("positions state=FUNDED").await;
    let ctrl = |c| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL));
    t.app.update(ctrl('w'));
    let s = t.screen();
    assert!(
        s.lines().any(|l| l.trim_end() == ":positions state="),
        "{s}"
    );
    t.app.update(ctrl('u'));
    assert!(
        t.screen().lines().any(|l| l.trim_end() == ":"),
        "{}",
        t.screen()
    );
    t.key(KeyCode::Esc).await;

    // Several candidates: listed above the line, the line kept.
    t.ch(':').await;
    t.typed("a").await;
    t.key(KeyCode::Tab).await;
    let s = t.screen();
    assert!(s.contains("audit  assets  anchor"), "{s}");
    t.key(KeyCode::Esc).await;

    // ↑ recalls the last command, ↑ again the one before, ↓ comes back.
    t.ch(':').await;
    t.key(KeyCode::Up).await;
    assert!(
        t.screen()
            .contains(&format!(":positions institution=\"{name}\""))
    );
    t.key(KeyCode::Up).await;
    assert!(
        t.screen().contains(":positions state=PARTIALLY_RELEASED"),
        "{}",
        t.screen()
    );
    t.key(KeyCode::Down).await;
    t.key(KeyCode::Down).await;
    let s = t.screen();
    assert!(!s.contains(":positions"), "back at the empty line: {s}");
    t.key(KeyCode::Esc).await;

    // The state picker narrows as letters are typed; Enter picks the one highlighted.
    t.ch('x').await;
    t.ch('s').await;
    t.typed("canc").await;
    let s = t.screen();
    assert!(s.contains("Filter by state: canc"), "{s}");
    assert!(!s.contains("│ FUNDED"), "{s}");
    t.key(KeyCode::Enter).await;
    assert_eq!(
        t.app.positions().filter.state,
        Some(PositionState::Cancelled)
    );
    t.ch('s').await;
    t.typed("zzz").await;
    assert!(t.screen().contains("nothing matches"));
    t.key(KeyCode::Backspace).await;
    t.key(KeyCode::Backspace).await;
    t.key(KeyCode::Backspace).await;
    assert!(t.screen().contains("│ FUNDED"), "{}", t.screen());
    t.key(KeyCode::Esc).await;
}

/// Space marks positions (k9s style) and `t` moves the marked set after one confirmation
/// that lists each; every result — moved, or moved by someone else first — is one line in
/// the message log, and the positions not moved stay marked.
#[tokio::test]
async fn marked_positions_move_together_and_each_result_is_logged() {
    let mut t = setup_with(false, KeyMap::default(), 160, 48).await;
    t.app.run_command("positions state=FUNDED").unwrap();
    t.settle().await;
    let rows: Vec<_> = t.app.positions().rows.iter().take(3).cloned().collect();
    assert_eq!(rows.len(), 3, "the demo data has funded positions");
    for _ in 0..3 {
        t.ch(' ').await;
    }
    let s = t.screen();
    assert!(s.contains("3 marked"), "{s}");
    assert_eq!(s.lines().filter(|l| l.starts_with('✓')).count(), 3, "{s}");
    // Space again on a marked row unmarks it; U unmarks all.
    t.ch('k').await;
    t.ch(' ').await;
    assert!(t.screen().contains("2 marked"), "{}", t.screen());
    t.ch('U').await;
    assert!(t.app.positions().marked.is_empty());
    assert!(!t.screen().contains("2 marked"), "{}", t.screen());
    assert!(t.screen().contains("Unmarked 2 positions"));
    t.ch('g').await;
    for _ in 0..3 {
        t.ch(' ').await;
    }

    // Someone else moves the second one before the confirmation.
    let raced = rows[1].id.clone();
    t.svc
        .transition_position(
            &t.actor,
            &raced,
            TransitionRequest {
                to: "CANCELLED".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let logged = t.app.messages.len();
    t.ch('t').await;
    let s = t.screen();
    assert!(
        s.contains("Transition 3 marked positions") && s.contains("Now 3 FUNDED"),
        "{s}"
    );
    // A marked set is never partially released together (each amount is its own): the first
    // state offered is RELEASED.
    assert!(!s.contains("PARTIALLY_RELEASED"), "{s}");
    t.key(KeyCode::Enter).await;
    let s = t.screen();
    assert!(s.contains("Move 3 marked positions to RELEASED?"), "{s}");
    for r in &rows {
        let tail = &r.id[r.id.len() - 8..];
        assert!(
            s.lines()
                .any(|l| l.contains(tail) && l.contains("FUNDED → RELEASED")),
            "each position is listed: {s}"
        );
    }
    t.ch('y').await;

    for (i, r) in rows.iter().enumerate() {
        let now = t.store.get_position(&r.id).await.unwrap().unwrap();
        let want = if i == 1 {
            PositionState::Cancelled
        } else {
            PositionState::Released
        };
        assert_eq!(now.state, want, "{}", r.id);
    }
    let lines: Vec<&str> = t
        .app
        .messages
        .iter()
        .skip(logged)
        .map(|(_, _, m)| m.as_str())
        .collect();
    for (i, r) in rows.iter().enumerate() {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("{}:", r.id)))
            .unwrap_or_else(|| panic!("a line for {}: {lines:?}", r.id));
        if i == 1 {
            assert!(
                line.contains("moved by someone else first: it is CANCELLED"),
                "{line}"
            );
        } else {
            assert!(line.contains("FUNDED → RELEASED (ledger seq"), "{line}");
        }
    }
    let status = t.app.status.as_ref().unwrap().text.clone();
    assert!(
        status.starts_with("Moved 2 of 3 positions to RELEASED, 1 moved by someone else first"),
        "{status}"
    );
    // Only the one not moved stays marked.
    assert_eq!(
        t.app
            .positions()
            .marked
            .iter()
            .map(|p| p.id.as_str())
            .collect::<Vec<_>>(),
        vec![raced.as_str()]
    );
    // A terminal position in the set: refused before any dialog, saying which.
    t.ch('t').await;
    assert!(
        t.app
            .status
            .as_ref()
            .is_some_and(|m| m.text.contains(&raced) && m.text.contains("terminal")),
        "{:?}",
        t.app.status
    );
    assert!(t.app.popup().is_none());
    t.ch('U').await;

    // Mixed states: only the states every one may move to.
    t.app.run_command("positions").unwrap();
    t.settle().await;
    let created = t
        .app
        .positions()
        .rows
        .iter()
        .position(|p| p.state == PositionState::Created)
        .expect("a created position");
    let funded = t
        .app
        .positions()
        .rows
        .iter()
        .position(|p| p.state == PositionState::Funded)
        .expect("a funded position");
    for i in [created, funded] {
        t.ch('g').await;
        for _ in 0..i {
            t.ch('j').await;
        }
        t.ch(' ').await;
    }
    t.ch('t').await;
    let s = t.screen();
    assert!(s.contains("CANCELLED") && s.contains("EXPIRED"), "{s}");
    assert!(
        !s.contains("› PARTIALLY_RELEASED") && !s.contains("  RELEASED  (final)"),
        "{s}"
    );
}

/// A session that cannot write neither marks nor is offered marks.
#[tokio::test]
async fn read_only_sessions_do_not_mark() {
    let mut t = setup_with(true, KeyMap::default(), 160, 48).await;
    t.ch('3').await;
    assert!(!t.screen().contains("Space mark"), "{}", t.screen());
    t.ch(' ').await;
    assert!(t.app.positions().marked.is_empty());
}

/// A confirmation of more marked positions than fit lists as many as fit and says how many
/// more there are; its keys stay on screen.
#[tokio::test]
async fn a_long_bulk_confirmation_says_how_many_more() {
    let mut t = setup_sized(false, KeyMap::default(), 80, 24, 300).await;
    t.app.run_command("positions state=FUNDED").unwrap();
    t.settle().await;
    assert!(t.app.positions().rows.len() >= 25);
    for _ in 0..25 {
        t.ch(' ').await;
    }
    t.ch('t').await;
    t.key(KeyCode::Enter).await;
    let s = t.screen();
    let listed = s.lines().filter(|l| l.contains("FUNDED → ")).count();
    assert!(listed > 0 && listed < 25, "{s}");
    assert!(s.contains(&format!("… and {} more", 25 - listed)), "{s}");
    assert!(s.contains("y yes   n no"), "{s}");
    t.ch('n').await;
    assert_eq!(t.app.positions().marked.len(), 25, "no: nothing moved");
}

/// A mirror's target: the Health tab shows whose mirror it is and how far behind; when the
/// mirror has made no step for a while, the line says it has stopped.
#[tokio::test]
async fn the_health_tab_shows_a_mirror_and_when_it_stopped() {
    let mut t = setup_with(false, KeyMap::default(), 160, 48).await;
    let now = escrowgrid::domain::time::now();
    let last = escrowgrid::store::MirrorLast {
        step_at: now,
        head_seq: 40,
        source_head_seq: 43,
        behind_events: 3,
        behind_ms: 1500,
    };
    let mut mark = escrowgrid::store::MirrorOf {
        source: "sqlite:///var/lib/a.db".into(),
        started_at: now,
        last: last.clone(),
    };
    // This store is also mirrored on, to another.
    let to = escrowgrid::store::MirroredTo {
        target: "postgres://db/escrow".into(),
        started_at: now,
        last,
    };
    t.store
        .set_mirrored_to(&to.target, Some(&to))
        .await
        .unwrap();
    t.store.set_mirror_of(Some(&mark)).await.unwrap();
    t.ch('5').await;
    let line = |t: &T| {
        let screen = t.screen();
        screen
            .lines()
            .find(|l| l.starts_with("Mirror"))
            .unwrap_or_else(|| panic!("no mirror line:\n{screen}"))
            .to_string()
    };
    let shown = line(&t);
    assert!(
        shown.contains("of sqlite:///var/lib/a.db · behind 3 events (1.5 s)"),
        "{shown}"
    );
    assert!(shown.starts_with("Mirror, read-only"), "{shown}");
    let screen = t.screen();
    assert!(
        screen.lines().any(|l| l.starts_with("Mirrored to")
            && l.contains("postgres://db/escrow · behind 3 events (1.5 s)")),
        "{screen}"
    );
    mark.last.step_at = now - chrono::Duration::seconds(90);
    t.store.set_mirror_of(Some(&mark)).await.unwrap();
    t.ch('R').await;
    t.settle().await;
    let shown = line(&t);
    assert!(
        shown.contains("of sqlite:///var/lib/a.db: the mirror has stopped, last step 90s ago"),
        "{shown}"
    );
}
