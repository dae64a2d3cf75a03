//! The connections table.

use super::{fg, inner_rows, pane, selected};
use crate::analyzer::checks::Severity;
use crate::ui::state::{AppState, ConnState, Focus};
use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::{Cell, Row, Table};

pub fn draw(f: &mut Frame<'_>, area: Rect, s: &AppState) {
    let focused = s.focus == Focus::Connections;
    let order = s.conn_order();
    let rows_fit = inner_rows(area, true);
    // Narrow terminals drop the subprotocol, extension and duration columns.
    let wide = area.width >= 140;
    let hidden = s.conns.len() - order.len();
    let why = if s.search.is_some() {
        format!(" · {hidden} without a match hidden")
    } else {
        format!(" · {hidden} plain tcp hidden (a)")
    };
    let title = format!(
        " connections ({}) — sort: {}{} ",
        order.len(),
        format!("{:?}", s.sort).to_lowercase(),
        if hidden > 0 { why } else { String::new() }
    );
    // The endpoints column as wide as the longest endpoints on screen (the rest goes to the
    // path, which tells connections of one server apart), at most half the table.
    let ep = order
        .iter()
        .skip(s.conn_offset)
        .take(rows_fit)
        .filter_map(|i| s.conns.get(*i))
        .map(|c| {
            if wide {
                c.client.chars().count() + c.server.chars().count() + 3
            } else {
                endpoints(&c.client, &c.server).chars().count()
            }
        })
        .max()
        .unwrap_or(0)
        .clamp(15, if wide { 47 } else { usize::from(area.width / 2) }) as u16;
    // What is left for host/path: the table's inner width less the other columns and the
    // gaps between columns. A longer path keeps its end (where paths of one server differ).
    let others: u16 =
        if wide { 5 + 10 + 18 + 11 + 11 + 8 + 5 + 7 + 9 } else { 4 + 11 + 9 + 7 + 4 + 6 };
    let path_width = usize::from(area.width.saturating_sub(2 + others + ep + 1));
    let rows: Vec<Row> = order
        .iter()
        .enumerate()
        .skip(s.conn_offset)
        .take(rows_fit)
        .filter_map(|(pos, i)| s.conns.get(*i).map(|c| (pos, c)))
        .map(|(pos, c)| {
            let state = match (c.state, c.close_codes) {
                _ if !c.websocket && c.tls.is_some() => "tls".to_string(),
                _ if !c.websocket => "tcp".to_string(),
                (ConnState::Handshaking, _) => "handshake".to_string(),
                (ConnState::Open, _) => "open".to_string(),
                (ConnState::Refused, _) => "refused".to_string(),
                (ConnState::Closed, (a, b)) => match a.or(b) {
                    Some(code) => format!("closed {code}"),
                    None => "closed".to_string(),
                },
            };
            // The path says more than a Host that only repeats the server's address.
            let target = if c.host.is_empty() || c.host == c.server {
                c.path.clone()
            } else {
                format!("{} {}", c.path, c.host)
            };
            let findings_style = match c.worst {
                Some(Severity::Error) => fg(s, Color::Red).add_modifier(Modifier::BOLD),
                Some(Severity::Warning) => fg(s, Color::Yellow),
                _ => Style::default(),
            };
            let dur = c.last_ts.saturating_since(c.first_ts).as_secs_f64();
            let mut cells = vec![
                Cell::from(format!("#{}", c.id)),
                Cell::from(if wide {
                    format!("{} → {}", c.client, c.server)
                } else {
                    endpoints(&c.client, &c.server)
                }),
                Cell::from(if c.handshake_seen {
                    keep_end(&target, path_width)
                } else {
                    "(mid-stream)".into()
                }),
            ];
            if wide {
                cells.push(Cell::from(c.subprotocol.clone()));
                cells.push(Cell::from(c.extensions.clone()));
            }
            cells.extend([
                Cell::from(state),
                Cell::from(format!("{}/{}", c.up.0, c.down.0)),
                Cell::from(human_bytes(c.up.1 + c.down.1)),
                Cell::from(c.findings.to_string()).style(findings_style),
            ]);
            if wide {
                cells.push(Cell::from(format!("{dur:.1}s")));
            }
            let row = Row::new(cells);
            if pos == s.conn_sel { row.style(selected(s, focused)) } else { row }
        })
        .collect();
    let (header, widths): (Vec<&str>, Vec<Constraint>) = if wide {
        (
            vec![
                "id",
                "client → server",
                "host/path",
                "proto",
                "ext",
                "state",
                "msgs ↑/↓",
                "bytes",
                "find",
                "dur",
            ],
            vec![
                Constraint::Length(5),
                Constraint::Length(ep + 1),
                Constraint::Fill(1),
                Constraint::Length(10),
                Constraint::Length(18),
                Constraint::Length(11),
                Constraint::Length(11),
                Constraint::Length(8),
                Constraint::Length(5),
                Constraint::Length(7),
            ],
        )
    } else {
        (
            vec!["id", "client → server", "host/path", "state", "msgs ↑/↓", "bytes", "find"],
            vec![
                Constraint::Length(4),
                Constraint::Length(ep + 1),
                Constraint::Fill(1),
                Constraint::Length(11),
                Constraint::Length(9),
                Constraint::Length(7),
                Constraint::Length(4),
            ],
        )
    };
    let header = Row::new(header).style(Style::default().add_modifier(Modifier::BOLD));
    f.render_widget(Table::new(rows, widths).header(header).block(pane(title, focused, s)), area);
}

/// `10.0.0.1:5000 → :80` when both ends share the address (narrow terminals).
fn endpoints(client: &str, server: &str) -> String {
    match (client.rsplit_once(':'), server.rsplit_once(':')) {
        (Some((ca, _)), Some((sa, sp))) if ca == sa => format!("{client} → :{sp}"),
        _ => format!("{client} → {server}"),
    }
}

/// 1234 → "1.2 kB".
pub fn human_bytes(n: u64) -> String {
    match n {
        0..1_000 => format!("{n} B"),
        1_000..1_000_000 => format!("{:.1} kB", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", n as f64 / 1e6),
        _ => format!("{:.1} GB", n as f64 / 1e9),
    }
}

/// `text` cut to `width` characters from the left, with `…` for what was cut.
fn keep_end(text: &str, width: usize) -> String {
    let n = text.chars().count();
    if n <= width || width == 0 {
        return text.to_string();
    }
    let skip = n - width + 1;
    std::iter::once('…').chain(text.chars().skip(skip)).collect()
}
