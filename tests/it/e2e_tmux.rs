//! The console in a real terminal, driven through tmux: start `escrowgrid --demo`, visit every
//! tab, open a position, transition it, see its event arrive on the Ledger tab, quit, and check
//! that the terminal is usable (cooked mode, echo on) afterwards.

use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
    session: String,
    _dir: tempfile::TempDir,
}

impl Tmux {
    /// A tmux server of its own with one `sh` session of the given size; None (and a printed
    /// reason) when tmux is not installed.
    fn start(name: &str, w: u16, h: u16) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("SKIPPED {name}: tmux is not installed (.ci/run installs it)");
            return None;
        }
        let t = Tmux {
            socket: format!("eg-{name}-{}", std::process::id()),
            session: name.into(),
            _dir: tempfile::tempdir().unwrap(),
        };
        let (w, h) = (w.to_string(), h.to_string());
        let ok = t
            .cmd()
            .args(["new-session", "-d", "-s", name, "-x", &w, "-y", &h, "sh"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux new-session");
        Some(t)
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    fn send(&self, keys: &[&str]) {
        for k in keys {
            let ok = self
                .cmd()
                .args(["send-keys", "-t", &self.session, k])
                .status()
                .unwrap()
                .success();
            assert!(ok, "tmux send-keys {k}");
            // A pause between keys: ESC followed at once by a letter reads as Alt+letter.
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn type_text(&self, text: &str) {
        let ok = self
            .cmd()
            .args(["send-keys", "-t", &self.session, "-l", text])
            .status()
            .unwrap()
            .success();
        assert!(ok);
        std::thread::sleep(Duration::from_millis(150));
    }

    fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    fn wait_for(&self, text: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let s = self.screen();
            if s.contains(text) {
                return s;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {text:?}; screen:\n{s}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().args(["kill-server"]).status();
    }
}

#[test]
fn console_in_a_real_terminal() {
    let Some(t) = Tmux::start("e2e", 120, 32) else {
        return;
    };
    let data = t._dir.path().join("data");
    let bin = env!("CARGO_BIN_EXE_escrowgrid");
    t.type_text(&format!(
        "ESCROWGRID_DATA_DIR={} ESCROWGRID_CONFIG_DIR={} {bin} --demo --demo-rate 2",
        data.display(),
        data.join("cfg").display()
    ));
    t.send(&["Enter"]);
    t.wait_for("HOLDER", 30);

    // every tab
    t.send(&["1"]);
    t.wait_for("Harbor Trust Bank", 10);
    t.send(&["2"]);
    t.wait_for("CONSTR_RETAINAGE", 10);
    t.send(&["4"]);
    t.wait_for("POSITION_STATE_CHANGED", 10);
    t.send(&["5"]);
    t.wait_for("Positions by state", 10);
    t.send(&["3"]);
    t.wait_for("HOLDER", 10);

    // pause the simulator so the row we pick stays put, then pick a CREATED position
    t.send(&["p"]);
    t.send(&[":"]);
    t.type_text("positions state=CREATED");
    t.send(&["Enter"]);
    t.wait_for("state=CREATED", 10);
    t.send(&["Enter"]);
    t.wait_for("Lifecycle", 10);
    t.send(&["t"]);
    t.wait_for("only the states allowed", 10);
    t.send(&["Tab"]);
    t.type_text("tmux end-to-end");
    t.send(&["Enter"]);
    t.wait_for("Confirm transition", 10);
    t.send(&["y"]);
    t.wait_for("CREATED → FUNDED  “tmux", 10);

    // the event arrives on the Ledger tab through the stream
    t.send(&["4"]);
    t.wait_for("tmux end-to-end", 10);

    // quit, and the shell works again in cooked mode
    t.send(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while t.screen().contains("1 Institutions") {
        assert!(
            Instant::now() < deadline,
            "the console did not quit:\n{}",
            t.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let probe = t._dir.path().join("stty.txt");
    t.type_text(&format!("stty -a > {}; echo TERMINAL-OK", probe.display()));
    t.send(&["Enter"]);
    let s = t.wait_for("TERMINAL-OK\n", 10);
    assert!(s.contains("TERMINAL-OK"), "the shell echoes again");
    let stty = std::fs::read_to_string(&probe).unwrap();
    assert!(
        stty.split_whitespace().any(|w| w == "icanon"),
        "canonical mode restored: {stty}"
    );
    assert!(
        stty.split_whitespace().any(|w| w == "echo"),
        "echo restored: {stty}"
    );
    assert!(!s.contains("\x1b[?1049h"), "left the alternate screen");
}

/// With a root key configured and no key given, the console opens on a sign-in screen; a wrong
/// key is refused with a reason, the right one opens the console.
#[test]
fn console_sign_in_screen() {
    let Some(t) = Tmux::start("login", 100, 30) else {
        return;
    };
    let data = t._dir.path().join("data");
    let db = t._dir.path().join("x.db");
    let bin = env!("CARGO_BIN_EXE_escrowgrid");
    t.type_text(&format!(
        "ESCROWGRID_DATA_DIR={d} ESCROWGRID_CONFIG_DIR={d}/cfg ESCROWGRID_ROOT_API_KEY=let-me-in {bin} --database-url sqlite://{db} --seed-demo",
        d = data.display(),
        db = db.display()
    ));
    t.send(&["Enter"]);
    t.wait_for("sign in", 30);
    t.type_text("wrong-key");
    t.send(&["Enter"]);
    t.wait_for("invalid API key", 10);
    // Ctrl-U clears the field, as at a shell prompt.
    t.send(&["C-u"]);
    t.type_text("let-me-in");
    t.send(&["Enter"]);
    let s = t.wait_for("HOLDER", 30);
    assert!(
        s.contains("root"),
        "the status bar names the operator:\n{s}"
    );
    t.send(&["q"]);
}

/// A signal while the console runs — SIGTERM, SIGINT, SIGHUP, SIGQUIT — ends it with 128 + the
/// signal's number and leaves the terminal usable: out of the alternate screen, the cursor
/// shown, cooked mode and echo on.
#[test]
fn signals_restore_the_terminal_and_set_the_exit_status() {
    for (sig, status) in [("TERM", 143), ("INT", 130), ("HUP", 129), ("QUIT", 131)] {
        let name = format!("sig{}", sig.to_lowercase());
        let Some(t) = Tmux::start(&name, 100, 30) else {
            return;
        };
        let data = t._dir.path().join("data");
        let bin = env!("CARGO_BIN_EXE_escrowgrid");
        t.type_text(&format!(
            "ESCROWGRID_DATA_DIR={d} ESCROWGRID_CONFIG_DIR={d}/cfg {bin} --demo; echo EXIT=$?",
            d = data.display()
        ));
        t.send(&["Enter"]);
        t.wait_for("HOLDER", 30);
        let pane = |f: &str| {
            let out = t
                .cmd()
                .args(["display-message", "-p", "-t", &t.session, f])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        assert_eq!(
            pane("#{alternate_on}"),
            "1",
            "the console is on the alternate screen"
        );
        let shell = pane("#{pane_pid}");
        let child = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
        let pid = String::from_utf8_lossy(&child.stdout).trim().to_string();
        assert!(!pid.is_empty(), "the console runs under the shell {shell}");
        assert!(
            Command::new("kill")
                .args([&format!("-{sig}"), &pid])
                .status()
                .unwrap()
                .success()
        );
        let s = t.wait_for(&format!("EXIT={status}"), 10);
        assert!(
            !s.contains("1 Institutions"),
            "SIG{sig}: console gone:\n{s}"
        );
        assert_eq!(
            pane("#{alternate_on}"),
            "0",
            "SIG{sig}: alternate screen left"
        );
        assert_eq!(pane("#{cursor_flag}"), "1", "SIG{sig}: cursor shown");
        let probe = t._dir.path().join("stty.txt");
        t.type_text(&format!("stty -a > {}; echo AFTER-{sig}", probe.display()));
        t.send(&["Enter"]);
        t.wait_for(&format!("AFTER-{sig}\n"), 10);
        let stty = std::fs::read_to_string(&probe).unwrap();
        assert!(
            stty.split_whitespace().any(|w| w == "icanon")
                && stty.split_whitespace().any(|w| w == "echo"),
            "SIG{sig}: {stty}"
        );
    }
}

/// A console signed in with a key that the CLI then revokes goes back to its sign-in screen,
/// saying why, and a new key signs in again.
#[test]
fn a_revoked_key_returns_the_console_to_sign_in() {
    let Some(t) = Tmux::start("revoked", 100, 30) else {
        return;
    };
    let dir = t._dir.path();
    let data = dir.join("data");
    let url = format!("sqlite://{}", dir.join("x.db").display());
    let bin = env!("CARGO_BIN_EXE_escrowgrid");
    let cli = |args: &[&str]| {
        let out = crate::common::escrowgrid(&data)
            .env("ESCROWGRID_ROOT_API_KEY", "s3cret-root")
            .env("ESCROWGRID_API_KEY", "s3cret-root")
            .arg("--database-url")
            .arg(&url)
            .args(args)
            .arg("--json")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    cli(&["seed", "--demo", "--positions", "10"]);
    let inst = cli(&["institution", "list"])["data"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let key = |label: &str| {
        let k = cli(&[
            "apikey",
            "create",
            "--institution",
            &inst,
            "--label",
            label,
            "--role",
            "admin",
        ]);
        (
            k["token"].as_str().unwrap().to_string(),
            k["apiKey"]["id"].as_str().unwrap().to_string(),
        )
    };
    let (token, id) = key("console");
    t.type_text(&format!(
        "ESCROWGRID_DATA_DIR={} ESCROWGRID_CONFIG_DIR={} ESCROWGRID_ROOT_API_KEY=s3cret-root \
         ESCROWGRID_API_KEY={token} {bin} --database-url {url}",
        data.display(),
        data.join("cfg").display()
    ));
    t.send(&["Enter"]);
    t.wait_for("HOLDER", 30);
    t.wait_for("console · admin", 10);
    cli(&["apikey", "revoke", &id]);
    let s = t.wait_for("sign in", 5);
    assert!(s.contains("revoked"), "{s}");
    let (fresh, _) = key("again");
    t.type_text(&fresh);
    t.send(&["Enter"]);
    t.wait_for("again · admin", 10);
    t.send(&["q"]);
    std::thread::sleep(Duration::from_millis(500));
    t.type_text("echo back-$((40+2))");
    t.send(&["Enter"]);
    t.wait_for("back-42", 5);
}
