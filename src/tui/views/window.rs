//! A window over a list too long to hold (the ledger, the audit trail): the rows in view, read a
//! page at a time in either direction as the selection reaches an edge, the far end dropped.

use crate::tui::msg::PAGE;
use crate::tui::widgets::Sel;
use std::collections::VecDeque;

/// The most rows a window keeps; paging further drops the far end.
pub(super) const KEEP: usize = 4 * PAGE as usize;

/// A window over a list too long to hold: the rows in view order, the selection, and whether
/// each end of the list is in it.
pub struct Window<T> {
    pub rows: VecDeque<T>,
    pub sel: Sel,
    /// The window holds the list's first row (nothing before it to page to).
    pub at_start: bool,
    /// The window holds the list's last row.
    pub at_end: bool,
    /// A page is on its way (an edge reached again does not ask twice).
    pub(super) loading: bool,
}

impl<T> Default for Window<T> {
    fn default() -> Self {
        Window {
            rows: VecDeque::new(),
            sel: Sel::default(),
            at_start: false,
            at_end: false,
            loading: false,
        }
    }
}

/// Where a window's page goes.
pub(super) enum Place {
    /// Instead of what is there, selecting the first or the last row.
    Replace {
        select_last: bool,
    },
    Before,
    After,
}

impl<T> Window<T> {
    /// Puts a page in (`full`: it had a whole page, so the list may go on past it).
    pub(super) fn put(&mut self, page: Vec<T>, place: Place, visible: usize) {
        self.loading = false;
        let full = page.len() >= PAGE as usize;
        match place {
            Place::Replace { select_last } => {
                self.rows = page.into();
                self.sel.selected = if select_last {
                    self.rows.len().saturating_sub(1)
                } else {
                    0
                };
                self.sel.offset = if select_last { usize::MAX } else { 0 };
            }
            Place::Before => {
                self.at_start = !full;
                let n = page.len();
                for r in page.into_iter().rev() {
                    self.rows.push_front(r);
                }
                self.sel.selected += n;
                self.sel.offset += n;
                while self.rows.len() > KEEP {
                    self.rows.pop_back();
                    self.at_end = false;
                }
            }
            Place::After => {
                self.at_end = !full;
                self.rows.extend(page);
                while self.rows.len() > KEEP {
                    self.rows.pop_front();
                    self.sel.selected = self.sel.selected.saturating_sub(1);
                    self.sel.offset = self.sel.offset.saturating_sub(1);
                    self.at_start = false;
                }
            }
        }
        self.sel.clamp(self.rows.len(), visible);
    }

    /// Moves the selection; returns the edge it ran into when the list goes on past it (the
    /// page to ask for), at most once until that page comes.
    pub(super) fn step(&mut self, delta: isize, visible: usize) -> Option<Place> {
        let len = self.rows.len();
        let want = self.sel.selected as isize + delta;
        self.sel.step(delta, len, visible);
        if self.loading || len == 0 {
            return None;
        }
        let edge = if want < 0 && !self.at_start {
            Place::Before
        } else if want >= len as isize && !self.at_end {
            Place::After
        } else {
            return None;
        };
        self.loading = true;
        Some(edge)
    }
}
