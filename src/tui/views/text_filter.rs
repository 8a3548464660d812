//! The `/` filter of a list: what the operator typed, applied as they type (Esc on the line
//! puts back what was there when it opened), and how a row is matched — by any of its fields
//! containing the text, ignoring case.

use super::Cx;
use crate::tui::popups::{LineInput, Outcome, Popup};
use crate::tui::widgets::Sel;

#[derive(Debug, Default, Clone)]
pub struct TextFilter {
    /// The filter applied (None: every row).
    pub text: Option<String>,
    /// The filter when the `/` line opened.
    before: Option<Option<String>>,
}

impl TextFilter {
    /// Opens the `/` line on the current text.
    pub fn open(&mut self, cx: &mut Cx) {
        self.before = Some(self.text.clone());
        let current = self.text.clone().unwrap_or_default();
        cx.popup(Popup::Filter(LineInput::new(&current)));
    }

    /// The `/` line's outcome; whether the filter changed.
    pub fn on_outcome(&mut self, o: &Outcome) -> bool {
        let new = match o {
            Outcome::FilterTyped(t) => normal(t),
            Outcome::FilterApplied(t) => {
                self.before = None;
                normal(t)
            }
            Outcome::FilterCancelled => match self.before.take() {
                Some(b) => b,
                None => return false,
            },
            _ => return false,
        };
        self.set(new)
    }

    /// Sets the filter; whether it changed.
    pub fn set(&mut self, text: Option<String>) -> bool {
        let changed = text != self.text;
        self.text = text;
        changed
    }

    /// Whether any of `fields` contains the text (every row does when there is none).
    pub fn matches<'a>(&self, fields: impl IntoIterator<Item = &'a str>) -> bool {
        match &self.text {
            None => true,
            Some(t) => {
                let needle = t.to_lowercase();
                fields
                    .into_iter()
                    .any(|f| f.to_lowercase().contains(&needle))
            }
        }
    }

    /// For the breadcrumb: `/text`.
    pub fn crumb(&self) -> Option<String> {
        self.text
            .as_deref()
            .map(|t| format!("/{}", crate::tui::widgets::s(t)))
    }
}

fn normal(t: &str) -> Option<String> {
    Some(t.trim().to_string()).filter(|s| !s.is_empty())
}

/// `n` / `N` in a list narrowed by `/`: the next or previous match, round past the ends (every
/// row shown is a match). Says where it went when it wrapped.
pub fn step_match(sel: &mut Sel, forward: bool, len: usize, visible: usize, cx: &mut Cx) {
    if len == 0 {
        return cx.info("no matches");
    }
    let at = sel.selected;
    let (next, wrapped) = match (forward, at) {
        (true, a) if a + 1 >= len => (0, true),
        (true, a) => (a + 1, false),
        (false, 0) => (len - 1, true),
        (false, a) => (a - 1, false),
    };
    sel.selected = next;
    sel.clamp(len, visible);
    let place = format!("match {} of {len}", next + 1);
    cx.info(if wrapped {
        format!(
            "{place} (wrapped to the {})",
            if forward { "first" } else { "last" }
        )
    } else {
        place
    });
}
