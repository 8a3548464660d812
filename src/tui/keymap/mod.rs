//! The key map: every key of the console, by context. The help overlay and the hint bar are both
//! generated from it, so they can never disagree with what the keys do. Keys can be remapped in
//! the config (`[console.keys] quit = "ctrl-q"`).

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::collections::BTreeMap;
use std::fmt;

mod defaults;

/// Where the operator is; decides which bindings apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    Global,
    Institutions,
    InstitutionDetail,
    Assets,
    Positions,
    PositionDetail,
    Ledger,
    Health,
    /// Every dialog (its own context is asked first).
    Dialogs,
    KeyHelp,
    Message,
    Confirm,
    Picker,
    TransitionDialog,
    Form,
    /// The one-line inputs: the command line and the text filter.
    LineInput,
}

impl Context {
    /// A dialog's context: the view's keys do not apply while it is open.
    pub fn is_dialog(&self) -> bool {
        use Context::*;
        matches!(
            self,
            Dialogs | KeyHelp | Message | Confirm | Picker | TransitionDialog | Form | LineInput
        )
    }

    /// Its name in the help overlay.
    pub fn name(&self) -> &'static str {
        use Context::*;
        match self {
            Global => "everywhere",
            Institutions => "Institutions",
            InstitutionDetail => "Institution detail",
            Assets => "Assets",
            Positions => "Positions",
            PositionDetail => "Position detail",
            Ledger => "Ledger",
            Health => "Health",
            Dialogs => "every dialog",
            KeyHelp => "this overlay",
            Message => "a message",
            Confirm => "a question",
            Picker => "a picker",
            TransitionDialog => "the transition dialog",
            Form => "a form",
            LineInput => "the command line and the filter",
        }
    }

    /// The dialogs' contexts, in the order the help overlay lists them.
    pub const DIALOGS: [Context; 7] = [
        Context::Form,
        Context::TransitionDialog,
        Context::Confirm,
        Context::Picker,
        Context::LineInput,
        Context::Message,
        Context::Dialogs,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Quit,
    Help,
    NextTab,
    PrevTab,
    Tab1,
    Tab2,
    Tab3,
    Tab4,
    Tab5,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    CommandLine,
    Copy,
    Refresh,
    New,
    Transition,
    Filter,
    FilterState,
    FilterInstitution,
    ClearFilters,
    SortNext,
    SortReverse,
    ToggleMode,
    Follow,
    Verify,
    FilterKind,
    NewKey,
    RevokeKey,
    EditPolicy,
    PauseSimulator,
    Close,
    Yes,
    No,
    Submit,
    SaveForm,
    NextField,
    PrevField,
    NextChoice,
    PrevChoice,
    ToggleChoice,
    SwitchFocus,
    Messages,
    NextMatch,
    PrevMatch,
    Complete,
    HistoryBack,
    HistoryForward,
    Mark,
    ClearMarks,
}

impl Action {
    /// The name used in the config file.
    pub fn name(&self) -> &'static str {
        use Action::*;
        match self {
            Quit => "quit",
            Help => "help",
            NextTab => "next_tab",
            PrevTab => "prev_tab",
            Tab1 => "tab_institutions",
            Tab2 => "tab_assets",
            Tab3 => "tab_positions",
            Tab4 => "tab_ledger",
            Tab5 => "tab_health",
            Up => "up",
            Down => "down",
            PageUp => "page_up",
            PageDown => "page_down",
            Top => "top",
            Bottom => "bottom",
            Open => "open",
            Back => "back",
            CommandLine => "command_line",
            Copy => "copy_id",
            Refresh => "refresh",
            New => "new",
            Transition => "transition",
            Filter => "filter",
            FilterState => "filter_state",
            FilterInstitution => "filter_institution",
            ClearFilters => "clear_filters",
            SortNext => "sort_next",
            SortReverse => "sort_reverse",
            ToggleMode => "toggle_mode",
            Follow => "follow",
            Verify => "verify",
            FilterKind => "filter_kind",
            NewKey => "new_api_key",
            RevokeKey => "revoke_api_key",
            EditPolicy => "edit_policy",
            PauseSimulator => "pause_simulator",
            Close => "close",
            Yes => "answer_yes",
            No => "answer_no",
            Submit => "submit",
            SaveForm => "save_form",
            NextField => "next_field",
            PrevField => "prev_field",
            NextChoice => "next_choice",
            PrevChoice => "prev_choice",
            ToggleChoice => "toggle_choice",
            SwitchFocus => "switch_focus",
            Messages => "messages",
            NextMatch => "next_match",
            PrevMatch => "previous_match",
            Complete => "complete",
            HistoryBack => "history_back",
            HistoryForward => "history_forward",
            Mark => "mark",
            ClearMarks => "clear_marks",
        }
    }

    /// Whether the action changes data (hidden and refused in read-only sessions).
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Action::New
                | Action::Transition
                // (marks pick positions to move)
                | Action::Mark
                | Action::ClearMarks
                | Action::NewKey
                | Action::RevokeKey
                | Action::EditPolicy
        )
    }
}

/// A key as typed: code plus modifiers (shift only matters for non-character keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub const fn plain(code: KeyCode) -> Self {
        Key {
            code,
            mods: KeyModifiers::NONE,
        }
    }
    pub const fn ch(c: char) -> Self {
        Key::plain(KeyCode::Char(c))
    }
    pub const fn ctrl(c: char) -> Self {
        Key {
            code: KeyCode::Char(c),
            mods: KeyModifiers::CONTROL,
        }
    }

    /// Normalises a terminal key event: shift is folded into the character for printable keys.
    pub fn from_event(e: &KeyEvent) -> Self {
        let mut mods =
            e.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT | KeyModifiers::SHIFT);
        let code = match e.code {
            KeyCode::Char(c) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::Char(c)
            }
            KeyCode::BackTab => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            other => other,
        };
        Key { code, mods }
    }

    /// Parses "q", "ctrl-q", "alt-x", "shift-tab", "f5", "enter", "esc", "pgdn", "space".
    pub fn parse(s: &str) -> Result<Key, String> {
        let lower = s.trim().to_ascii_lowercase();
        let mut mods = KeyModifiers::NONE;
        let mut rest = lower.as_str();
        loop {
            if let Some(r) = rest
                .strip_prefix("ctrl-")
                .or_else(|| rest.strip_prefix("ctrl+"))
            {
                mods |= KeyModifiers::CONTROL;
                rest = r;
            } else if let Some(r) = rest
                .strip_prefix("alt-")
                .or_else(|| rest.strip_prefix("alt+"))
            {
                mods |= KeyModifiers::ALT;
                rest = r;
            } else if let Some(r) = rest
                .strip_prefix("shift-")
                .or_else(|| rest.strip_prefix("shift+"))
            {
                mods |= KeyModifiers::SHIFT;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" if mods.contains(KeyModifiers::SHIFT) => {
                mods.remove(KeyModifiers::SHIFT);
                KeyCode::BackTab
            }
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pgdown" | "pagedown" => KeyCode::PageDown,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            f if f.starts_with('f') && f.len() > 1 && f[1..].parse::<u8>().is_ok() => {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                // Keep the case the user wrote for single characters ("G" is not "g").
                let original = s.trim();
                let last = original.rsplit(['-', '+']).next().unwrap_or(original);
                let mut chars = last.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => {
                        mods.remove(KeyModifiers::SHIFT);
                        // Terminals report Ctrl-Q as Ctrl + 'q'.
                        if mods.contains(KeyModifiers::CONTROL) {
                            KeyCode::Char(c.to_ascii_lowercase())
                        } else {
                            KeyCode::Char(c)
                        }
                    }
                    _ => {
                        return Err(format!(
                            "'{s}' is not a key (try q, ctrl-q, f5, enter, esc, pgdn)"
                        ));
                    }
                }
            }
        };
        Ok(Key { code, mods })
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("Alt-")?;
        }
        if self.mods.contains(KeyModifiers::SHIFT) {
            f.write_str("Shift-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("Shift-Tab"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::F(n) => write!(f, "F{n}"),
            KeyCode::Backspace => f.write_str("Backspace"),
            KeyCode::Delete => f.write_str("Del"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Binding {
    pub keys: Vec<Key>,
    pub action: Action,
    pub context: Context,
    pub help: &'static str,
    /// Its short label in the one-line hint bar (None: only in the help overlay).
    pub hint: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct KeyMap {
    pub bindings: Vec<Binding>,
}

impl KeyMap {
    /// Applies `[console.keys]` remappings: action name → key. The new key replaces the action's
    /// keys in every context.
    pub fn with_overrides(mut self, overrides: &BTreeMap<String, String>) -> Result<Self, String> {
        for (name, key) in overrides {
            let key = Key::parse(key).map_err(|e| format!("console.keys.{name}: {e}"))?;
            let mut found = false;
            for b in self.bindings.iter_mut().filter(|b| b.action.name() == name) {
                b.keys = vec![key];
                found = true;
            }
            if !found {
                let names: std::collections::BTreeSet<&str> =
                    self.bindings.iter().map(|b| b.action.name()).collect();
                let near = names
                    .iter()
                    .map(|n| (strsim::levenshtein(n, name), *n))
                    .min()
                    .filter(|(d, _)| *d <= 3)
                    .map(|(_, n)| format!(" (did you mean {n}?)"))
                    .unwrap_or_default();
                return Err(format!(
                    "console.keys.{name}: no such action{near}; actions are {}",
                    names.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
        }
        Ok(self)
    }

    /// Where a context falls back to: a view's to the global keys, a dialog's to those of every
    /// dialog.
    fn fallback(context: Context) -> Context {
        if context.is_dialog() {
            Context::Dialogs
        } else {
            Context::Global
        }
    }

    /// The action of a key in a context: the context's own bindings win over its fallback's.
    pub fn action(&self, context: Context, key: Key) -> Option<Action> {
        self.actions(context, key).next()
    }

    /// Every action of a key in a context, its own first (a form's Space ticks a choice or turns
    /// a picker, whichever the field is).
    pub fn actions(&self, context: Context, key: Key) -> impl Iterator<Item = Action> + '_ {
        let fallback = Self::fallback(context);
        let own = self.bindings.iter().filter(move |b| b.context == context);
        let other = self
            .bindings
            .iter()
            .filter(move |b| b.context == fallback && context != fallback);
        own.chain(other)
            .filter(move |b| b.keys.contains(&key))
            .map(|b| b.action)
    }

    /// The bindings that apply in a context (its own first), without write actions if read-only.
    pub fn for_context(&self, context: Context, read_only: bool) -> Vec<&Binding> {
        let fallback = Self::fallback(context);
        let own = self.bindings.iter().filter(|b| b.context == context);
        let global = self
            .bindings
            .iter()
            .filter(|b| b.context == fallback && context != fallback);
        own.chain(global)
            .filter(|b| !(read_only && b.action.writes()))
            .collect()
    }

    /// The first key of an action in a context, for messages ("press t to transition").
    pub fn key_of(&self, context: Context, action: Action) -> Option<Key> {
        let fallback = Self::fallback(context);
        self.bindings
            .iter()
            .filter(|b| b.action == action)
            .find(|b| b.context == context)
            .or_else(|| {
                self.bindings
                    .iter()
                    .find(|b| b.action == action && b.context == fallback)
            })
            .and_then(|b| b.keys.first().copied())
    }

    /// The key of an action as text for a message or a title ("n", "Esc"); "?" when unbound.
    pub fn key_text(&self, context: Context, action: Action) -> String {
        self.key_of(context, action)
            .map(|k| k.to_string())
            .unwrap_or_else(|| "?".into())
    }

    /// A dialog's footer: its bindings that have a hint, each with its first key
    /// ("Enter apply · Esc cancel").
    pub fn footer(&self, context: Context) -> String {
        self.bindings
            .iter()
            .filter(|b| b.context == context)
            .filter_map(|b| b.hint.map(|h| format!("{} {h}", keys_text(&b.keys[..1]))))
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

pub fn keys_text(keys: &[Key]) -> String {
    keys.iter()
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_keys() {
        assert_eq!(Key::parse("q").unwrap(), Key::ch('q'));
        assert_eq!(Key::parse("G").unwrap(), Key::ch('G'));
        assert_eq!(Key::parse("ctrl-q").unwrap(), Key::ctrl('q'));
        assert_eq!(Key::parse("Ctrl+Q").unwrap(), Key::ctrl('q'));
        assert_eq!(
            Key::parse("shift-tab").unwrap(),
            Key::plain(KeyCode::BackTab)
        );
        assert_eq!(Key::parse("f5").unwrap(), Key::plain(KeyCode::F(5)));
        assert_eq!(Key::parse("pgdn").unwrap(), Key::plain(KeyCode::PageDown));
        assert!(Key::parse("banana").is_err());
    }

    #[test]
    fn context_bindings_win_and_overrides_apply() {
        let m = KeyMap::default();
        assert_eq!(
            m.action(Context::Positions, Key::ch('c')),
            Some(Action::New)
        );
        assert_eq!(
            m.action(Context::Positions, Key::ch('n')),
            Some(Action::NextMatch),
            "n is the next match everywhere; c creates"
        );
        assert_eq!(
            m.action(Context::Ledger, Key::ch('c')),
            Some(Action::FilterKind)
        );
        assert_eq!(
            m.action(Context::Positions, Key::ch('q')),
            Some(Action::Quit)
        );
        assert_eq!(m.action(Context::Ledger, Key::ch('t')), None);
        let mut o = BTreeMap::new();
        o.insert("quit".to_string(), "ctrl-q".to_string());
        let m = m.with_overrides(&o).unwrap();
        assert_eq!(m.action(Context::Positions, Key::ch('q')), None);
        assert_eq!(
            m.action(Context::Positions, Key::ctrl('q')),
            Some(Action::Quit)
        );
        o.insert("fly".to_string(), "f".to_string());
        assert!(
            KeyMap::default()
                .with_overrides(&o)
                .unwrap_err()
                .contains("console.keys.fly: no such action")
        );
    }

    #[test]
    fn no_two_actions_share_a_key_in_one_context() {
        let m = KeyMap::default();
        for a in &m.bindings {
            for b in &m.bindings {
                if std::ptr::eq(a, b) || a.context != b.context {
                    continue;
                }
                for k in &a.keys {
                    assert!(
                        !b.keys.contains(k),
                        "{k} is bound to {:?} and {:?} in {:?}",
                        a.action,
                        b.action,
                        a.context
                    );
                }
            }
        }
    }

    #[test]
    fn dialogs_have_their_own_keys_and_ctrl_c() {
        let m = KeyMap::default();
        assert_eq!(m.action(Context::Confirm, Key::ch('y')), Some(Action::Yes));
        assert_eq!(
            m.action(Context::KeyHelp, Key::ch('q')),
            Some(Action::Close)
        );
        assert_eq!(
            m.action(Context::Form, Key::ch('q')),
            None,
            "q types in a form"
        );
        assert_eq!(m.action(Context::Form, Key::ctrl('c')), Some(Action::Quit));
        let space: Vec<Action> = m.actions(Context::Form, Key::ch(' ')).collect();
        assert_eq!(space, vec![Action::ToggleChoice]);
        assert_eq!(m.footer(Context::Confirm), "y yes · n no");
        let mut o = BTreeMap::new();
        o.insert("answer_yes".to_string(), "o".to_string());
        let m = m.with_overrides(&o).unwrap();
        assert_eq!(m.action(Context::Confirm, Key::ch('o')), Some(Action::Yes));
        assert_eq!(m.action(Context::Confirm, Key::ch('y')), None);
        assert_eq!(m.key_text(Context::Confirm, Action::Yes), "o");
    }

    #[test]
    fn read_only_hides_writes() {
        let m = KeyMap::default();
        assert!(
            m.for_context(Context::Positions, false)
                .iter()
                .any(|b| b.action == Action::New)
        );
        assert!(
            !m.for_context(Context::Positions, true)
                .iter()
                .any(|b| b.action.writes())
        );
    }
}
