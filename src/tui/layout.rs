//! The frame's areas, computed in one place from the terminal's size: drawing, paging (rows per
//! page) and mouse hit-tests (tab bar, table rows) all read them from here.

use ratatui::layout::{Constraint, Layout, Rect};

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// The console's rows, top to bottom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub tabs: Rect,
    pub crumb: Rect,
    pub body: Rect,
    pub hints: Rect,
    pub status: Rect,
}

impl Areas {
    pub fn of(width: u16, height: u16) -> Areas {
        let [tabs, crumb, body, hints, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(Rect::new(0, 0, width, height));
        Areas {
            tabs,
            crumb,
            body,
            hints,
            status,
        }
    }

    pub fn too_small(&self) -> bool {
        self.status.width < MIN_WIDTH || self.status.bottom() < MIN_HEIGHT
    }

    /// Rows of a table that fills the body, below its header row: one page.
    pub fn table_rows(&self) -> usize {
        (self.body.height as usize).saturating_sub(1).max(1)
    }

    /// The visible table row (0 = the first under the header) at a screen row.
    pub fn table_row_at(&self, row: u16) -> Option<usize> {
        let first = self.body.y + 1;
        (row >= first && row < self.body.bottom()).then(|| (row - first) as usize)
    }

    /// The tab (its index) at a column of the tab bar.
    pub fn tab_at(&self, titles: &[&str], column: u16, row: u16) -> Option<usize> {
        if row != self.tabs.y {
            return None;
        }
        let mut x = self.tabs.x;
        for (i, l) in tab_labels(titles).iter().enumerate() {
            let w = l.chars().count() as u16;
            if column >= x && column < x + w {
                return Some(i);
            }
            x += w + 1;
        }
        None
    }
}

/// The tab bar's labels as drawn: number and title (the separator between them is one column).
pub fn tab_labels(titles: &[&str]) -> Vec<String> {
    titles
        .iter()
        .enumerate()
        .map(|(i, t)| format!(" {} {t} ", i + 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn areas_page_and_hit_tests_agree() {
        let a = Areas::of(80, 24);
        assert!(!a.too_small());
        assert!(Areas::of(79, 24).too_small() && Areas::of(80, 23).too_small());
        assert_eq!(a.body, Rect::new(0, 2, 80, 20));
        assert_eq!(a.table_rows(), 19);
        assert_eq!(a.table_row_at(2), None, "the table header");
        assert_eq!(a.table_row_at(3), Some(0));
        assert_eq!(a.table_row_at(21), Some(18));
        assert_eq!(a.table_row_at(22), None, "the hint bar");
        let titles = ["One", "Two"];
        // " 1 One " is 7 columns, then a separator, then " 2 Two ".
        assert_eq!(a.tab_at(&titles, 0, 0), Some(0));
        assert_eq!(a.tab_at(&titles, 6, 0), Some(0));
        assert_eq!(a.tab_at(&titles, 7, 0), None);
        assert_eq!(a.tab_at(&titles, 8, 0), Some(1));
        assert_eq!(a.tab_at(&titles, 8, 1), None, "not the tab bar");
    }
}
