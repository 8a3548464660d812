//! The pieces every screen draws with: tables with a selection, key–value lines, empty states,
//! dialog frames, cut text, and the formats of ids, numbers and times. Every text from the
//! database goes through `s` (`text::sanitize`) before it is drawn.
//!
//! One rule for text that does not fit, everywhere (tables, breadcrumb, hints, status line,
//! dialogs): it is cut by display width — a wide character takes two columns, a combining one
//! none — and ends in `…` (`cut`, `cut_line`). Tables cut every cell to its column (`Columns`),
//! and a money column is never cut: it is as wide as its widest amount on screen
//! (`money_width`), and the other columns give way.

use super::theme::Theme;
use crate::domain::ledger::LedgerEvent;
use crate::domain::text::sanitize;
use crate::domain::{PositionState, time};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Untrusted text made safe to draw.
pub fn s(x: &str) -> String {
    sanitize(x).into_owned()
}

/// A short form of an id for narrow columns: prefix and the last 8 characters (`pos_…c8ab21e7`).
pub fn short(id: &str) -> String {
    match id.split_once('_') {
        Some((p, rest)) if rest.len() > 8 => format!("{p}_…{}", &rest[rest.len() - 8..]),
        _ => id.to_string(),
    }
}

pub fn group(n: u64) -> String {
    crate::domain::text::group_digits(&n.to_string())
}

pub fn date(t: &time::Timestamp) -> String {
    t.format("%Y-%m-%d").to_string()
}

pub fn datetime(t: &time::Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// `text` cut to `width` columns of display, ending in `…` when cut.
pub fn cut(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out = take_width(text, width - 1);
    out.push('…');
    out
}

/// The longest start of `text` that takes at most `width` columns (combining characters stay
/// with the character they follow).
fn take_width(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out
}

/// A line (its spans and their styles kept) cut to `width` columns, ending in `…` when cut.
pub fn cut_line(line: Line<'_>, width: usize) -> Line<'static> {
    let owned = |sp: Span<'_>| Span::styled(sp.content.into_owned(), sp.style);
    if line.width() <= width {
        return Line {
            spans: line.spans.into_iter().map(owned).collect(),
            style: line.style,
            alignment: line.alignment,
        };
    }
    let mut spans = Vec::new();
    let mut room = width.saturating_sub(1);
    for sp in line.spans {
        let w = sp.content.width();
        if w <= room {
            room -= w;
            spans.push(owned(sp));
            continue;
        }
        if room > 0 {
            spans.push(Span::styled(take_width(&sp.content, room), sp.style));
        }
        break;
    }
    if width > 0 {
        spans.push(Span::raw("…"));
    }
    Line {
        spans,
        style: line.style,
        alignment: line.alignment,
    }
}

/// Lines cut to `width` columns each (for a paragraph that does not wrap).
pub fn cut_lines<'a>(lines: impl IntoIterator<Item = Line<'a>>, width: u16) -> Vec<Line<'static>> {
    lines
        .into_iter()
        .map(|l| cut_line(l, width as usize))
        .collect()
}

/// How wide a money column must be to show every amount in `texts` (and its header) whole.
pub fn money_width<'a>(header: &str, texts: impl IntoIterator<Item = &'a str>) -> u16 {
    texts
        .into_iter()
        .map(UnicodeWidthStr::width)
        .chain([header.width()])
        .max()
        .unwrap_or(0) as u16
}

/// The columns of a table as it lays them out in `area` (one column between them), so that
/// each cell is cut to its column by the one rule before it is drawn.
pub struct Columns {
    widths: Vec<usize>,
}

impl Columns {
    pub fn new(area: Rect, constraints: &[Constraint]) -> Self {
        let widths = Layout::horizontal(constraints.to_vec())
            .spacing(1)
            .split(Rect { height: 1, ..area })
            .iter()
            .map(|r| r.width as usize)
            .collect();
        Columns { widths }
    }

    /// The width of column `i`.
    pub fn width(&self, i: usize) -> usize {
        self.widths.get(i).copied().unwrap_or(0)
    }

    /// A row of cells, each cut to its column.
    pub fn row<'a>(&self, cells: Vec<Line<'a>>) -> Row<'static> {
        Row::new(
            cells
                .into_iter()
                .enumerate()
                .map(|(i, l)| Cell::from(cut_line(l, self.width(i)))),
        )
    }

    /// The header row, cut as the cells are.
    pub fn header(&self, theme: &Theme, names: &[&str]) -> Row<'static> {
        self.row(names.iter().map(|n| Line::from(n.to_string())).collect())
            .style(theme.header())
    }
}

/// A selection in a list and the first visible row.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sel {
    pub selected: usize,
    pub offset: usize,
}

impl Sel {
    pub fn clamp(&mut self, len: usize, visible: usize) {
        if len == 0 {
            *self = Sel::default();
            return;
        }
        self.selected = self.selected.min(len - 1);
        let visible = visible.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + visible {
            self.offset = self.selected + 1 - visible;
        }
        self.offset = self.offset.min(len.saturating_sub(visible));
    }

    /// This selection kept inside a list of `len` rows of which `visible` show (for drawing a
    /// list that changed since the selection moved).
    pub fn clamped(mut self, len: usize, visible: usize) -> Sel {
        self.clamp(len, visible);
        self
    }

    pub fn step(&mut self, delta: isize, len: usize, visible: usize) {
        if len == 0 {
            return;
        }
        let s = self.selected as isize + delta;
        self.selected = s.clamp(0, len as isize - 1) as usize;
        self.clamp(len, visible);
    }

    /// A click on visible row `row`: selects it; true when it was already selected (a second
    /// click opens it).
    pub fn click(&mut self, row: usize, len: usize) -> Option<bool> {
        let target = self.offset + row;
        if target >= len {
            return None;
        }
        let again = self.selected == target;
        self.selected = target;
        Some(again)
    }
}

/// A table in `area` of the visible slice of rows (each a line per column, cut to its
/// column), under `head`, with the selected one highlighted.
pub fn table(
    theme: &Theme,
    area: Rect,
    head: &[&str],
    rows: Vec<Vec<Line<'_>>>,
    selected: Option<usize>,
    widths: Vec<Constraint>,
) -> Table<'static> {
    let cols = Columns::new(area, &widths);
    let rows: Vec<Row> = rows
        .into_iter()
        .enumerate()
        .map(|(i, cells)| {
            let r = cols.row(cells);
            if Some(i) == selected {
                r.style(theme.selected())
            } else {
                r
            }
        })
        .collect();
    Table::new(rows, widths)
        .header(cols.header(theme, head))
        .column_spacing(1)
}

/// What an empty list or a loading view shows.
pub fn empty(f: &mut Frame, theme: &Theme, area: Rect, text: &str) {
    let [_, line] = Layout::vertical([Constraint::Length(1), Constraint::Length(3)]).areas(area);
    f.render_widget(
        Paragraph::new(Span::styled(text.to_string(), theme.muted())),
        line,
    );
}

/// A labelled value in a detail view.
pub fn kv<'a>(theme: &Theme, k: &str, v: impl Into<Span<'a>>) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{k:<20}"), theme.muted()),
        v.into(),
    ])
}

pub fn state_badge(theme: &Theme, st: PositionState) -> Span<'static> {
    Span::styled(st.as_str().to_string(), theme.state(st))
}

/// Splits `text` into spans, highlighting case-insensitive matches of `needle`.
pub fn highlighted<'a>(text: String, needle: Option<&str>, style: Style) -> Line<'a> {
    let Some(n) = needle.filter(|n| !n.is_empty()) else {
        return Line::from(text);
    };
    let lower = text.to_ascii_lowercase();
    let n = n.to_ascii_lowercase();
    let mut spans = Vec::new();
    let mut i = 0;
    while let Some(pos) = lower[i..].find(&n) {
        let start = i + pos;
        let end = start + n.len();
        if !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            break;
        }
        if start > i {
            spans.push(Span::raw(text[i..start].to_string()));
        }
        spans.push(Span::styled(text[start..end].to_string(), style));
        i = end;
    }
    spans.push(Span::raw(text[i..].to_string()));
    Line::from(spans)
}

/// One line saying what a ledger event did, from its typed payload.
pub fn ledger_detail(e: &LedgerEvent) -> String {
    use crate::domain::payloads::Payload;
    let txt = match e.typed() {
        Some(Payload::PositionStateChanged(t)) => format!(
            "{} → {}{}",
            t.from_state,
            t.to_state,
            t.reason.map(|r| format!("  “{r}”")).unwrap_or_default()
        ),
        Some(Payload::PositionCreated(p)) => format!(
            "{} {} · {}",
            p.amount.display_grouped(),
            p.currency,
            p.holder_reference
        ),
        Some(Payload::PolicyUpserted(p)) => format!("policy {}", p.region),
        Some(_) => e.summary(),
        None => String::new(),
    };
    s(&txt)
}

/// A `w`×`h` rectangle in the middle of `area`, kept a column and a row inside it.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width.saturating_sub(2));
    let h = h.min(area.height.saturating_sub(2));
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

/// The frame of a dialog (popups and the screens before the console).
pub fn dialog_block<'a>(theme: &Theme, title: &str, error: bool) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "))
        .border_style(if error { theme.error() } else { theme.accent() })
}

/// A section of a detail view: a rule with a title.
pub fn section<'a>(title: impl Into<String>) -> Block<'a> {
    Block::default()
        .borders(Borders::TOP)
        .title(format!(" {} ", title.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_text_ends_in_an_ellipsis_and_ids_keep_their_tail() {
        assert_eq!(cut("Harbor Trust Bank", 8), "Harbor …");
        assert_eq!(cut("Harbor", 8), "Harbor");
        assert_eq!(cut("Harbor", 0), "");
        assert_eq!(short("pos_0123456789abcdef"), "pos_…89abcdef");
        assert_eq!(short("pos_short"), "pos_short");
    }

    /// Display width, not characters: a wide character takes two columns, a combining one none.
    #[test]
    fn cutting_counts_display_columns() {
        // Five CJK characters are ten columns.
        assert_eq!(cut("東京海上日動", 7), "東京海…");
        assert_eq!(cut("東京海上日動", 7).width(), 7);
        assert_eq!(cut("東京海上日動", 12), "東京海上日動");
        // "é" written as e + U+0301 is one column.
        let combining = "Socie\u{301}te\u{301} Ge\u{301}ne\u{301}rale";
        assert_eq!(cut(combining, 20), combining);
        assert_eq!(cut(combining, 8).width(), 8);
        let l = cut_line(
            Line::from(vec![
                Span::raw("FUNDED → "),
                Span::raw("PARTIALLY_RELEASED"),
            ]),
            20,
        );
        assert_eq!(l.to_string(), "FUNDED → PARTIALLY_…");
        assert_eq!(l.width(), 20);
        assert_eq!(
            money_width("AMOUNT", ["999,999,999,999,999.99999999 AED", "1.00 USD"]),
            32
        );
    }

    #[test]
    fn a_selection_stays_in_its_list_and_clicks_select_then_open() {
        let mut sel = Sel::default();
        sel.step(30, 10, 4);
        assert_eq!((sel.selected, sel.offset), (9, 6));
        assert_eq!(sel.clamped(5, 4).selected, 4);
        assert_eq!(sel.click(1, 10), Some(false));
        assert_eq!(sel.selected, 7);
        assert_eq!(sel.click(1, 10), Some(true));
        assert_eq!(sel.click(9, 10), None);
    }
}
