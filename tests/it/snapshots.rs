//! Snapshots of every tab, detail view and dialog at 80×24 and 160×48 (insta), so a change of
//! layout shows as a diff to review. Ids, hashes, clock times and durations are replaced by
//! placeholders; the data is the demo data set from a fixed seed. `cargo insta review` (or
//! `INSTA_UPDATE=always cargo test snapshots`) accepts a reviewed change.

use crate::tui::{T, setup_with};
use crossterm::event::KeyCode;
use escrowgrid::tui::keymap::KeyMap;

/// What a screen shows that changes from run to run, and its placeholder.
const FILTERS: &[(&str, &str)] = &[
    (
        r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z",
        "[timestamp]",
    ),
    // ids, whole and short (`pos_0198…-7003-ace5-…`, `pos_…c8ab21e7`, `…c8ab21e7`)
    (
        r"\b(inst|tmpl|ast|pos|ak|evt|aud|pol|key|op|ple|led)_(…)?[0-9a-zA-Z-]{6,}",
        "[id]",
    ),
    (r"…[0-9a-z]{8}\b", "…[id]"),
    // the end of a short id still visible left of a dialog
    (r"(?m)^…[0-9a-z]{1,7}", "…[id]"),
    // and the seconds of a time right of one
    (r"(?m)│\d{1,2}$", "│[s]"),
    // hashes and API key tokens
    (r"\b[0-9a-f]{12,64}…?", "[hash]"),
    (r"\bak_[0-9A-Za-z_-]{20,}", "[token]"),
    // dates and clock times
    (r"\d{4}-\d{2}-\d{2}", "[date]"),
    (r"\b\d{2}:\d{2}(:\d{2}(\.\d{3})?)?\b", "[time]"),
    (r"\b\d{2}-\d{2}\b", "[date]"),
    // durations and measured figures
    (r"\d+h \d{2}m \d{2}s", "[uptime]"),
    (r"\d+\.\d+ ms", "[ms]"),
    // the Health tab's operation timings (which calls ran, and how fast, varies), with the
    // blank rows after them
    (
        r"(?m)^((store\.)?[a-z_]+ {2,}[\d,]+ {2,}\d.*\n)+\n*",
        "[operations]\n",
    ),
    // bars: the ping sparkline's follow measured pings (its rows come and go with them)
    (r"[▁▂▃▄▅▆▇█]+", ""),
    (r"(?m)[ ]+$", ""),
];

async fn at(w: u16, h: u16) -> T {
    setup_with(false, KeyMap::default(), w, h).await
}

fn snap(name: &str, screen: &str) {
    let mut settings = insta::Settings::clone_current();
    for (re, with) in FILTERS {
        settings.add_filter(re, *with);
    }
    settings.set_prepend_module_to_snapshot(false);
    settings.set_snapshot_path("snapshots");
    settings.bind(|| insta::assert_snapshot!(name, screen));
}

/// Every screen reached by a list of keys from the Positions tab.
const SCREENS: &[(&str, &[&str])] = &[
    ("institutions", &["1"]),
    ("templates", &["2"]),
    ("assets", &["2", "m"]),
    ("positions", &["3"]),
    ("ledger", &["4"]),
    ("ledger-event", &["4", "Enter"]),
    ("audit", &["4", "a"]),
    ("audit-record", &["4", "a", "Enter"]),
    ("health", &["5"]),
    ("institution-detail", &["1", "Enter"]),
    ("template-detail", &["2", "Enter"]),
    ("asset-detail", &["2", "m", "Enter"]),
    ("position-detail", &["3", "Enter"]),
    ("help", &["3", "?"]),
    // scrolled to its end: the commands
    (
        "help-commands",
        &["3", "?", " ", " ", " ", " ", " ", " ", " ", " "],
    ),
    ("form-position", &["3", "c"]),
    ("form-discard", &["3", "c", "x", "Esc"]),
    ("picker-state", &["3", "s"]),
    ("command-line", &["3", ":", "p", "o", "s"]),
    ("filter", &["3", "/", "a"]),
    ("transition", &[":positions state=FUNDED", "t"]),
    (
        "transition-confirm",
        &[":positions state=FUNDED", "t", "Enter"],
    ),
    ("marked", &[":positions state=FUNDED", " ", " ", " "]),
    (
        "bulk-transition",
        &[":positions state=FUNDED", " ", " ", " ", "t"],
    ),
    (
        "bulk-confirm",
        &[
            ":positions state=FUNDED",
            " ",
            " ",
            " ",
            "t",
            "Down",
            "Enter",
        ],
    ),
    ("message-verified", &["4", "v"]),
    ("api-key-form", &["1", "Enter", "K"]),
    ("policy-form", &["1", "Enter", "e"]),
];

async fn press(t: &mut T, key: &str) {
    match key {
        "Enter" => t.key(KeyCode::Enter).await,
        "Esc" => t.key(KeyCode::Esc).await,
        "Down" => t.key(KeyCode::Down).await,
        cmd if cmd.starts_with(':') && cmd.len() > 1 => {
            t.app.run_command(&cmd[1..]).unwrap();
            t.settle().await;
        }
        c => t.ch(c.chars().next().unwrap()).await,
    }
}

async fn every_screen_at(w: u16, h: u16) {
    for (name, keys) in SCREENS {
        let mut t = at(w, h).await;
        for k in *keys {
            press(&mut t, k).await;
        }
        snap(&format!("{name}-{w}x{h}"), &t.screen());
    }
}

#[tokio::test]
async fn every_screen_at_80x24() {
    every_screen_at(80, 24).await;
}

#[tokio::test]
async fn every_screen_at_160x48() {
    every_screen_at(160, 48).await;
}

#[tokio::test]
async fn too_small() {
    let mut t = at(80, 24).await;
    t.app.update(escrowgrid::tui::app::Msg::Resize(60, 20));
    snap("too-small-60x20", &t.screen());
}

/// Money is never cut and names are cut by one rule: at 80×24 the largest amounts allowed, in
/// several currencies and with 8 decimals, show every digit, and long, wide (CJK) and combining
/// names end in `…` at their column's width.
#[tokio::test]
async fn money_whole_and_names_cut_at_80x24() {
    use escrowgrid::service::{NewAsset, NewInstitution, NewPosition, NewTemplate};
    let mut t = at(80, 24).await;
    let (svc, actor) = (t.svc.clone(), t.actor.clone());
    let head = t.store.ledger_head().await.unwrap().unwrap().0;
    let inst = svc
        .create_institution(
            &actor,
            NewInstitution {
                name:
                    "東京海上日動火災保険 · Socie\u{301}te\u{301} Ge\u{301}ne\u{301}rale de Banque"
                        .into(),
                regions: vec!["US".into()],
                verticals: vec![],
            },
        )
        .await
        .unwrap();
    let amounts = [
        ("USD", "1000000000000000"),
        ("AED", "999999999999999.99999999"),
        ("JPY", "123456789012.12345678"),
        ("EUR", "0.00000001"),
    ];
    for (ccy, amount) in amounts {
        let tmpl = svc
            .create_template(
                &actor,
                NewTemplate {
                    institution_id: Some(inst.id.clone()),
                    code: "CONSTR_ESCROW".into(),
                    name: format!("Escrow in {ccy}"),
                    vertical: "CONSTRUCTION".into(),
                    region: "US".into(),
                    config: serde_json::json!({"currency": ccy, "region": "US"}),
                },
            )
            .await
            .unwrap();
        let asset = svc
            .create_asset(
                &actor,
                NewAsset {
                    institution_id: Some(inst.id.clone()),
                    template_id: tmpl.id,
                    label: "大規模再開発プロジェクト第一期工事".into(),
                    metadata: None,
                },
            )
            .await
            .unwrap();
        svc.create_position(
            &actor,
            NewPosition {
                institution_id: Some(inst.id.clone()),
                asset_id: asset.id,
                holder_reference: format!("株式会社テスト建設ホールディングス-{ccy}"),
                currency: ccy.into(),
                amount: amount.into(),
                external_reference: None,
            },
        )
        .await
        .unwrap();
    }
    t.stream_from(head).await;
    t.app.run_command("positions institution=東京海上").unwrap();
    t.settle().await;
    let screen = t.screen();
    for whole in [
        "1,000,000,000,000,000.00 USD",
        "999,999,999,999,999.99999999 AED",
        "123,456,789,012.12345678 JPY",
        "0.00000001 EUR",
    ] {
        assert!(screen.contains(whole), "{whole} whole:\n{screen}");
    }
    // (A wide character is drawn over two cells: the screen's text has a blank after each.)
    let packed = screen.replace(' ', "");
    assert!(
        packed.contains("株式会…"),
        "the holder gives way, cut with …:\n{screen}"
    );
    snap("positions-money-80x24", &screen);
    t.ch('1').await;
    let screen = t.screen();
    assert!(
        screen.replace(' ', "").contains("東京海上日動火災保険…"),
        "{screen}"
    );
    snap("institutions-wide-names-80x24", &screen);
}
