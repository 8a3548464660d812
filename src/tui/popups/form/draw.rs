//! A form's drawing: labels in a column as wide as the longest (up to a third of the form), each
//! error under its field, scrolled so the focused field shows, and the keys from the key map.

use super::{Field, Form, Input};
use crate::tui::keymap::{Action, Context, KeyMap};
use crate::tui::theme::Theme;
use crate::tui::widgets::{centered, cut, cut_line, dialog_block, s};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

pub fn draw(f: &mut Frame, form: &Form, area: Rect, theme: &Theme, keys: &KeyMap) {
    // Labels get the room of the longest one (so none runs into its value), up to a third of
    // the form; an error takes the lines it needs under its field.
    let form_w = 86u16.min(area.width);
    let longest = form
        .fields
        .iter()
        .map(|x| x.label.chars().count())
        .max()
        .unwrap_or(0);
    let label_w = (longest as u16 + 3).clamp(12, (form_w / 3).max(12));
    let error_lines = |x: &Field| -> u16 {
        let text_w = form_w.saturating_sub(2 + label_w + 2).max(10) as usize;
        x.error
            .as_ref()
            .map(|e| e.chars().count().div_ceil(text_w).max(1) as u16)
            .unwrap_or(0)
    };
    // A list of choices takes the lines its options need at the value column's width.
    let value_w = form_w.saturating_sub(2 + label_w) as usize;
    let field_height = |x: &Field| match &x.input {
        Input::Multi { options, .. } => choice_rows(options, value_w).len().max(1) as u16,
        _ => x.height(),
    };
    let heights: Vec<u16> = form
        .fields
        .iter()
        .map(|x| field_height(x) + error_lines(x))
        .collect();
    let needed: u16 = heights.iter().sum::<u16>() + 5;
    let r = centered(area, 86, needed);
    f.render_widget(Clear, r);
    let block = dialog_block(theme, &form.title, form.error.is_some());
    let inner = block.inner(r);
    f.render_widget(block, r);
    // Scroll so the focused field is visible.
    let avail = inner.height.saturating_sub(2);
    let mut start = 0;
    while start < form.focus && heights[start..=form.focus].iter().sum::<u16>() > avail {
        start += 1;
    }
    let mut y = inner.y;
    for (i, field) in form.fields.iter().enumerate().skip(start) {
        let h = field_height(field);
        if y + h > inner.y + avail {
            break;
        }
        let focused = i == form.focus;
        let label_style = if focused {
            theme.focus()
        } else {
            theme.muted()
        };
        let marker = if focused { "›" } else { " " };
        f.render_widget(
            Paragraph::new(Span::styled(
                format!(
                    "{marker}{:<w$}",
                    cut(&field.label, label_w as usize - 2),
                    w = label_w as usize - 1
                ),
                label_style,
            )),
            Rect {
                x: inner.x,
                y,
                width: label_w,
                height: 1,
            },
        );
        let value_area = Rect {
            x: inner.x + label_w,
            y,
            width: inner.width.saturating_sub(label_w),
            height: h,
        };
        match &field.input {
            Input::Text(t) | Input::Json(t) => f.render_widget(t, value_area),
            Input::Select { options, index } => {
                let text = options
                    .get(*index)
                    .map(|o| o.label.clone())
                    .unwrap_or_else(|| "(nothing to choose)".into());
                let line = if focused {
                    Line::from(vec![
                        Span::styled("◀ ", theme.accent()),
                        Span::styled(s(&text), theme.selected()),
                        Span::styled(" ▶", theme.accent()),
                    ])
                } else {
                    Line::from(s(&text))
                };
                f.render_widget(Paragraph::new(line), value_area);
            }
            Input::Multi {
                options,
                chosen,
                cursor,
            } => {
                // Every option on screen: laid out in as many lines as they need.
                let lines: Vec<Line> = choice_rows(options, value_area.width as usize)
                    .into_iter()
                    .map(|row| {
                        let mut spans = Vec::new();
                        for n in row {
                            let mark = if chosen[n] { "[x] " } else { "[ ] " };
                            let style = if focused && n == *cursor {
                                theme.selected()
                            } else {
                                Style::default()
                            };
                            spans.push(Span::styled(
                                format!("{mark}{}", s(&options[n].label)),
                                style,
                            ));
                            spans.push(Span::raw("  "));
                        }
                        cut_line(Line::from(spans), value_area.width as usize)
                    })
                    .collect();
                f.render_widget(Paragraph::new(lines), value_area);
            }
        }
        y += h;
        if let Some(e) = &field.error {
            let lines = error_lines(field);
            f.render_widget(
                Paragraph::new(Span::styled(format!("✗ {}", s(e)), theme.error()))
                    .wrap(Wrap { trim: false }),
                Rect {
                    x: inner.x + label_w,
                    y,
                    width: inner.width.saturating_sub(label_w),
                    height: lines,
                },
            );
            y += lines;
        }
    }
    let footer_y = inner.y + inner.height.saturating_sub(2);
    let status = if form.submitting {
        Span::styled("Saving…", theme.muted())
    } else if let Some(e) = &form.error {
        Span::styled(s(e), theme.error())
    } else {
        Span::raw("")
    };
    f.render_widget(
        Paragraph::new(status),
        Rect {
            x: inner.x,
            y: footer_y,
            width: inner.width,
            height: 1,
        },
    );
    let json = matches!(
        form.fields.get(form.focus).map(|x| &x.input),
        Some(Input::Json(_))
    );
    let k = |a: Action| keys.key_text(Context::Form, a);
    let help = if json {
        format!(
            "{} next field · {} save · {} cancel",
            k(Action::NextField),
            k(Action::SaveForm),
            k(Action::Close)
        )
    } else {
        format!(
            "{}/{} next · {}/{}/{} choose · {} or {} save · {} cancel",
            k(Action::NextField),
            k(Action::Down),
            k(Action::PrevChoice),
            k(Action::NextChoice),
            k(Action::ToggleChoice),
            k(Action::Submit),
            k(Action::SaveForm),
            k(Action::Close)
        )
    };
    f.render_widget(
        Paragraph::new(Span::styled(help, theme.muted())),
        Rect {
            x: inner.x,
            y: footer_y + 1,
            width: inner.width,
            height: 1,
        },
    );
}

/// The options of a list of choices, packed into lines of at most `width` columns (each option
/// as `[x] LABEL` and two spaces): the indexes on each line.
fn choice_rows(options: &[super::Choice], width: usize) -> Vec<Vec<usize>> {
    let mut rows: Vec<Vec<usize>> = Vec::new();
    let mut used = 0;
    for (n, o) in options.iter().enumerate() {
        let w = 4 + unicode_width::UnicodeWidthStr::width(o.label.as_str()) + 2;
        if used > 0 && used + w > width {
            used = 0;
        }
        if used == 0 {
            rows.push(Vec::new());
        }
        rows.last_mut().expect("pushed above").push(n);
        used += w;
    }
    rows
}
