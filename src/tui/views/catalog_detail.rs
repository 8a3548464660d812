//! A template or an asset in full (from the lookups every view shares): a template's
//! configuration, known fields first; an asset's metadata. Enter shows their positions.

use super::{Cx, Data, Dcx, Request, View};
use crate::domain::template::config_fields;
use crate::domain::time;
use crate::service::PositionFilter;
use crate::tui::keymap::{Action, Context};
use crate::tui::nav::Detail;
use crate::tui::widgets::{cut_lines, empty, kv, s};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub struct CatalogDetail {
    detail: Detail,
}

impl CatalogDetail {
    /// A template's or an asset's detail.
    pub fn new(detail: Detail) -> Self {
        CatalogDetail { detail }
    }
}

impl View for CatalogDetail {
    fn context(&self) -> Context {
        Context::Global
    }

    fn crumb(&self, cx: &Dcx) -> Option<String> {
        Some(match &self.detail {
            Detail::Template(id) => cx.data.template_name(id),
            other => cx.data.asset_label(other.id()),
        })
    }

    fn on_action(&mut self, a: Action, cx: &mut Cx) {
        if a != Action::Open {
            return;
        }
        let filter = match &self.detail {
            Detail::Template(id) => PositionFilter {
                template_id: Some(id.clone()),
                ..Default::default()
            },
            other => PositionFilter {
                asset_id: Some(other.id().to_string()),
                ..Default::default()
            },
        };
        cx.out.push(Request::Drill(filter));
    }

    fn selected_id(&self, _data: &Data) -> Option<String> {
        Some(self.detail.id().to_string())
    }

    fn detail(&self) -> Option<&Detail> {
        Some(&self.detail)
    }

    fn draw(&self, f: &mut Frame, area: Rect, cx: &Dcx) {
        match &self.detail {
            Detail::Template(id) => draw_template(f, area, cx, id),
            other => draw_asset(f, area, cx, other.id()),
        }
    }
}

fn draw_template(f: &mut Frame, area: Rect, cx: &Dcx, id: &str) {
    let (theme, data) = (cx.theme, cx.data);
    let Some(t) = data.templates.iter().find(|t| t.id == id) else {
        return empty(
            f,
            theme,
            area,
            "Template not found (it may be outside your institution).",
        );
    };
    let mut lines = vec![
        kv(theme, "Id", t.id.clone()),
        kv(theme, "Name", s(&t.name)),
        kv(
            theme,
            "Institution",
            data.institution_name(&t.institution_id),
        ),
        kv(
            theme,
            "Code · vertical",
            format!("{} · {}", t.code, t.vertical),
        ),
        kv(theme, "Region", t.region.as_str()),
        kv(theme, "Created", time::format(&t.created_at)),
        Line::from(""),
        Line::from(Span::styled("Configuration", theme.header())),
    ];
    let known = config_fields(t.code);
    for cf in known {
        let v = t
            .config
            .get(cf.key)
            .map(|v| {
                v.as_str()
                    .map(String::from)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_else(|| "—".into());
        lines.push(kv(theme, cf.label, s(&v)));
    }
    if let Some(m) = t.config.as_object() {
        for (k, v) in m
            .iter()
            .filter(|(k, _)| !known.iter().any(|c| c.key == k.as_str()))
        {
            lines.push(kv(theme, &s(k), s(&v.to_string())));
        }
    }
    let n = data.assets.iter().filter(|a| a.template_id == t.id).count();
    lines.push(Line::from(""));
    lines.push(kv(theme, "Assets", n.to_string()));
    f.render_widget(Paragraph::new(cut_lines(lines, area.width)), area);
}

fn draw_asset(f: &mut Frame, area: Rect, cx: &Dcx, id: &str) {
    let (theme, data) = (cx.theme, cx.data);
    let Some(a) = data.assets.iter().find(|a| a.id == id) else {
        return empty(
            f,
            theme,
            area,
            "Asset not found (it may be outside your institution).",
        );
    };
    let mut lines = vec![
        kv(theme, "Id", a.id.clone()),
        kv(theme, "Label", s(&a.label)),
        kv(
            theme,
            "Institution",
            data.institution_name(&a.institution_id),
        ),
        kv(
            theme,
            "Template",
            data.templates
                .iter()
                .find(|t| t.id == a.template_id)
                .map(|t| format!("{} ({})", s(&t.name), t.code))
                .unwrap_or_else(|| a.template_id.clone()),
        ),
        kv(theme, "Created", time::format(&a.created_at)),
        Line::from(""),
        Line::from(Span::styled("Metadata", theme.header())),
    ];
    let pretty = serde_json::to_string_pretty(&a.metadata).unwrap_or_default();
    lines.extend(pretty.lines().map(|l| Line::from(s(l))));
    f.render_widget(Paragraph::new(cut_lines(lines, area.width)), area);
}
