//! The status bar: capture progress and rates, drops, totals, the search prompt, notices.

use super::fg;
use crate::ui::state::{AppState, Prompt};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

pub fn draw(f: &mut Frame<'_>, area: Rect, s: &AppState) {
    let line = match &s.prompt {
        Prompt::Search(t) => Line::from(vec![
            Span::styled("/", Style::default().add_modifier(Modifier::BOLD)),
            Span::raw(crate::term::escape(t).into_owned()),
            Span::raw("▏"),
        ]),
        Prompt::Save(_, t) => Line::from(vec![
            Span::styled(
                "save to (Enter saves, Esc cancels; an existing file is never replaced): ",
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(crate::term::escape(t).into_owned()),
            Span::raw("▏"),
        ]),
        Prompt::None => {
            let c = &s.capture;
            let mut parts: Vec<Span> = Vec::new();
            let source = if c.live {
                if s.paused {
                    "PAUSED".to_string()
                } else {
                    format!(
                        "live {} · {:.0} pkt/s {:.0} msg/s",
                        c.source, c.packets_per_sec, c.messages_per_sec
                    )
                }
            } else if c.done {
                "done".to_string()
            } else if c.total_bytes > 0 {
                format!(
                    "reading {:.0}%",
                    (c.bytes as f64 / c.total_bytes as f64 * 100.0).min(100.0)
                )
            } else {
                "reading".to_string()
            };
            parts.push(Span::styled(
                format!(" {source} "),
                Style::default().add_modifier(Modifier::REVERSED),
            ));
            let n = |count: u64, one: &str, many: &str| {
                format!("{count} {}", if count == 1 { one } else { many })
            };
            parts.push(Span::raw(format!(
                " {} · {} · {}",
                n(c.packets, "packet", "packets"),
                n(s.conns.len() as u64, "connection", "connections"),
                n(s.total_messages, "message", "messages")
            )));
            if c.redacted {
                parts.push(Span::raw(" · redacted"));
            }
            if s.rows_dropped > 0 {
                parts.push(Span::styled(
                    format!(" · {} oldest rows dropped (--max-rows)", s.rows_dropped),
                    fg(s, Color::Yellow),
                ));
            }
            if let Some(open) = c.open_connections.filter(|_| c.live && !c.done) {
                parts.push(Span::raw(format!(" · {open} open")));
            }
            if c.live && c.memory.1 > 0 {
                parts.push(Span::raw(format!(
                    " · mem {}%",
                    c.memory.0.saturating_mul(100) / c.memory.1
                )));
            }
            if c.pcap_dropped + c.queue_dropped + c.ui_dropped > 0 {
                let mut what = vec![format!("{} pkts by libpcap", c.pcap_dropped)];
                if c.queue_dropped > 0 {
                    what.push(format!("{} pkts by the analysis", c.queue_dropped));
                }
                if c.ui_dropped > 0 {
                    what.push(format!("{} events by the UI", c.ui_dropped));
                }
                parts.push(Span::styled(
                    format!(" · dropped: {}", what.join(", ")),
                    fg(s, Color::Red),
                ));
            }
            if let Some(why) = &c.ended_early {
                parts.push(Span::styled(
                    format!(" · input ended early: {}", crate::term::escape(why)),
                    fg(s, Color::Red),
                ));
            }
            if c.undecoded > 0 {
                let why = c.undecoded_why.summary();
                let why = if why.is_empty() { String::new() } else { format!(": {why}") };
                parts.push(Span::styled(
                    format!(" · {} not decoded{why}", c.undecoded),
                    fg(s, Color::Yellow),
                ));
            }
            if let Some(re) = &s.search {
                parts.push(Span::raw(format!(" · /{}", crate::term::escape(re.as_str()))));
            }
            match &s.notice {
                Some(n) => parts.push(Span::styled(
                    format!(" · {}", crate::term::escape(n)),
                    fg(s, Color::Yellow),
                )),
                None => parts.push(Span::raw(" · ? help")),
            }
            Line::from(parts)
        }
    };
    f.render_widget(Paragraph::new(line), area);
}
