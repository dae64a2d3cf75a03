//! The messages of the selected connection: one line per message, finding or gap. Only the
//! visible window is built, so a connection with a million messages draws as fast as one with ten.

use super::{fg, inner_rows, pane, selected};
use crate::analyzer::checks::Severity;
use crate::tcp::Direction;
use crate::timefmt::{self, Moments};
use crate::ui::state::{AppState, Focus, MsgRow, OpFilter, RowKind};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{List, ListItem};

pub fn draw(f: &mut Frame<'_>, area: Rect, s: &AppState) {
    let focused = s.focus == Focus::Messages;
    let view = s.view_cached();
    let conn = s.selected_conn_index();
    let rows = conn.and_then(|c| s.rows.get(c));
    let t0 = s.selected_conn().map(|c| c.first_ts).unwrap_or_default();
    let mut filters = Vec::new();
    if let Some(d) = s.dir_filter {
        filters.push(if d == Direction::ClientToServer { "→ only" } else { "← only" });
    }
    match s.op_filter {
        OpFilter::All => {}
        OpFilter::Data => filters.push("data"),
        OpFilter::Control => filters.push("control"),
    }
    if s.findings_only {
        filters.push("findings");
    }
    let search =
        s.search.as_ref().map(|re| format!("/{}/", crate::term::printable(re.as_str(), 40)));
    if let Some(q) = &search {
        filters.push(q);
    }
    let follow = if s.follow { " · following" } else { "" };
    let title = format!(
        " messages {}/{}{}{} · time {} (t) ",
        if view.is_empty() { 0 } else { s.msg_sel + 1 },
        view.len(),
        if filters.is_empty() { String::new() } else { format!(" [{}]", filters.join(", ")) },
        follow,
        s.time_mode.name()
    );
    let fit = inner_rows(area, false);
    let width = area.width.saturating_sub(2) as usize;
    // Only the visible window is touched: slicing, not iterating from the start.
    let start = s.msg_offset.min(view.len());
    let window = &view[start..(start + fit).min(view.len())];
    // The column legend, where the title leaves room: the arrows, and the compressed length
    // when a row on screen shows one.
    let compressed = window
        .iter()
        .filter_map(|i| rows.and_then(|r| r.get(*i)))
        .any(|r| matches!(r.kind, RowKind::Message { compressed: true, .. }));
    let mut title = title;
    for part in [" 107/27z: inflated/on the wire ", " → to server ← to client "] {
        if part.starts_with(" 107") && !compressed {
            continue;
        }
        if title.chars().count() + part.chars().count() + 1 < width {
            title.push('·');
            title.push_str(part);
        }
    }
    let items: Vec<ListItem> = window
        .iter()
        .enumerate()
        .map(|(k, i)| (start + k, i))
        .filter_map(|(pos, i)| rows.and_then(|r| r.get(*i)).map(|r| (pos, r)))
        .map(|(pos, r)| {
            // The previous row of the view, for the delta.
            let prev = pos
                .checked_sub(1)
                .and_then(|p| view.get(p))
                .and_then(|i| rows.and_then(|r| r.get(*i)))
                .map_or(r.at.ts, |p| p.at.ts);
            let m = Moments {
                at: r.at.ts,
                capture: s.capture_start.unwrap_or(t0),
                connection: t0,
                previous: prev,
            };
            let line = row_line(s, r, m, width);
            let item = ListItem::new(line);
            if pos == s.msg_sel { item.style(selected(s, focused)) } else { item }
        })
        .collect();
    f.render_widget(List::new(items).block(pane(title, focused, s)), area);
}

fn row_line<'a>(s: &AppState, r: &'a MsgRow, m: Moments, width: usize) -> Line<'a> {
    let time = format!("{:>12}", timefmt::format(s.time_mode, m, s.local_offset));
    let (arrow, dir_style) = match r.dir {
        Some(Direction::ClientToServer) => ("→", fg(s, Color::Cyan)),
        Some(Direction::ServerToClient) => ("←", fg(s, Color::Magenta)),
        None => ("·", Style::default()),
    };
    let mut spans =
        vec![Span::raw(time), Span::raw(" "), Span::styled(arrow, dir_style), Span::raw(" ")];
    match &r.kind {
        RowKind::Message {
            opcode,
            length,
            captured,
            complete,
            wire,
            compressed,
            fragments,
            extra,
            ..
        } => {
            let rtt = extra.as_ref().and_then(|x| x.rtt);
            // An incomplete message never shows a length as if it were whole.
            let len = match (complete, length) {
                (true, Some(n)) => n.to_string(),
                (false, Some(n)) => format!("{captured}/{n}"),
                (true, None) => "?".to_string(),
                (false, None) => format!("≥{captured}"),
            };
            let size = if *compressed { format!("{len}/{wire}z") } else { len };
            let mut meta = format!("{:<6} {size:>9}", opcode.name());
            if *fragments > 1 {
                meta += &format!(" ×{fragments}");
            }
            if let Some(t) = rtt {
                meta += &format!(" {:.1}ms", t * 1e3);
            }
            if !complete {
                meta += " incomplete";
            }
            spans.push(Span::styled(meta, dir_style));
            spans.push(Span::raw("  "));
        }
        RowKind::Finding { severity, .. } => {
            let (label, st) = match severity {
                Severity::Error => ("ERROR ", fg(s, Color::Red).add_modifier(Modifier::BOLD)),
                Severity::Warning => ("WARN  ", fg(s, Color::Yellow)),
                Severity::Info => ("info  ", fg(s, Color::Blue)),
            };
            spans.push(Span::styled(label, st));
        }
        RowKind::Gap { .. } => {
            spans.push(Span::styled("GAP   ", fg(s, Color::Yellow).add_modifier(Modifier::BOLD)))
        }
    }
    let used: usize = spans.iter().map(|sp| sp.content.chars().count()).sum();
    let room = width.saturating_sub(used);
    let preview: String = r.preview.chars().take(room).collect();
    let pstyle = if s.matches(r) {
        fg(s, Color::Green).add_modifier(Modifier::BOLD)
    } else {
        Style::default()
    };
    spans.push(Span::styled(preview, pstyle));
    Line::from(spans)
}
