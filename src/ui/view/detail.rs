//! The detail pane: the selected message (text wrapped, JSON pretty-printed, hex dump for
//! binary, frames of a fragmented message, findings with their RFC section), or the selected
//! connection's handshake when no message is selected.

use super::{fg, pane};
use crate::tcp::GapReason;
use crate::term::printable;
use crate::ui::state::{AppState, ConnRow, Focus, MsgRow, PayloadView, RowKind};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

/// Bytes shown in a hex dump.
const HEX_MAX: usize = 4096;

/// The pane's title and lines, for an inner width of `width` columns.
fn content(s: &AppState, width: usize) -> (String, Vec<Line<'static>>) {
    match (s.focus, s.selected_row(), s.selected_conn()) {
        (Focus::Connections, _, Some(c)) | (_, None, Some(c)) => {
            (format!(" connection #{} ", c.id), connection_lines(s, c))
        }
        (_, Some(r), _) => {
            (format!(" message · {} (v) ", s.payload_view.name()), message_lines(s, r, width))
        }
        _ => (" detail ".to_string(), vec![Line::raw("no connection selected")]),
    }
}

/// Lines of content (wrapped to the pane) and rows shown, so scrolling stops at the end.
pub fn height(s: &AppState, area: Option<Rect>) -> (usize, usize) {
    let Some(area) = area else { return (0, 1) };
    let width = usize::from(area.width.saturating_sub(2)).max(1);
    let (_, lines) = content(s, width);
    let wrapped = lines.iter().map(|l| l.width().max(1).div_ceil(width)).sum();
    (wrapped, usize::from(area.height.saturating_sub(2)))
}

pub fn draw(f: &mut Frame<'_>, area: Rect, s: &AppState) {
    let focused = s.focus == Focus::Detail;
    let (title, lines) = content(s, usize::from(area.width.saturating_sub(2)));
    let p = Paragraph::new(lines)
        .block(pane(title, focused, s))
        .wrap(Wrap { trim: false })
        .scroll((s.detail_scroll, 0));
    f.render_widget(p, area);
}

fn bold(s: &str) -> Span<'static> {
    Span::styled(s.to_string(), Style::default().add_modifier(Modifier::BOLD))
}

fn kv(k: &str, v: String) -> Line<'static> {
    Line::from(vec![bold(k), Span::raw(" "), Span::raw(v)])
}

fn connection_lines(s: &AppState, c: &ConnRow) -> Vec<Line<'static>> {
    let mut l = vec![
        kv("client", c.client.clone()),
        kv("server", c.server.clone()),
        kv("community id", c.community_id.to_string()),
    ];
    if let Some(t) = &c.tls {
        l.push(kv("tls", t.clone()));
    }
    // The session at a glance (what DevTools shows of a socket, and more).
    if c.websocket {
        let scheme = if c.tls.is_some() { "wss" } else { "ws" };
        let host =
            c.request.as_ref().and_then(|r| r.host.clone()).unwrap_or_else(|| c.server.clone());
        let path = c.request.as_ref().map_or("/".to_string(), |r| r.path.clone());
        l.push(kv("url", printable(&format!("{scheme}://{host}{path}"), 600)));
    }
    let local = (s.local_offset)(c.first_ts);
    l.push(kv(
        "start",
        format!(
            "{} (local {})",
            crate::timefmt::iso8601_exact(c.first_ts),
            crate::timefmt::clock(c.first_ts, local)
        ),
    ));
    let lasted = crate::timefmt::duration(c.last_ts.saturating_since(c.first_ts).as_secs_f64());
    l.push(match c.tcp_end {
        Some(r) => kv(
            "end",
            format!(
                "{}, after {lasted} (TCP {})",
                crate::timefmt::iso8601_exact(c.last_ts),
                crate::analyzer::checks::json_name(&r)
            ),
        ),
        None => kv("end", format!("still open; last activity after {lasted}")),
    });
    l.push(kv(
        "messages",
        format!(
            "→ {} ({}), ← {} ({})",
            c.up.0,
            super::connections::human_bytes(c.up.1),
            c.down.0,
            super::connections::human_bytes(c.down.1)
        ),
    ));
    for (who, close) in ["client close", "server close"].iter().zip(&c.closes) {
        if let Some((code, reason)) = close {
            let code =
                code.map_or("(no code)".to_string(), |c| crate::ws::CloseCode(c).to_string());
            l.push(kv(who, if reason.is_empty() { code } else { format!("{code} \"{reason}\"") }));
        }
    }
    if c.rtt.0 > 0 {
        let (n, min, max, sum) = c.rtt;
        l.push(kv(
            "ping rtt",
            format!(
                "min {:.3} ms, mean {:.3} ms, max {:.3} ms ({n} round trip{})",
                min * 1e3,
                sum / n as f64 * 1e3,
                max * 1e3,
                if n == 1 { "" } else { "s" }
            ),
        ));
    }
    match (&c.request, &c.response) {
        (None, None) => l.push(Line::raw("handshake not captured (frames found mid-stream)")),
        (req, resp) => {
            if let Some(r) = req {
                l.push(Line::raw(""));
                l.push(Line::from(bold("request")));
                l.push(Line::raw(printable(
                    &format!("{} {} HTTP/{}", r.method, r.path, r.http_version),
                    400,
                )));
                for (k, v) in &r.headers {
                    l.push(Line::raw(printable(&format!("{k}: {v}"), 400)));
                }
            }
            l.push(Line::raw(""));
            match resp {
                Some(r) => {
                    l.push(Line::from(bold("response")));
                    l.push(Line::raw(printable(
                        &format!("HTTP/{} {} {}", r.http_version, r.status, r.reason),
                        400,
                    )));
                    for (k, v) in &r.headers {
                        l.push(Line::raw(printable(&format!("{k}: {v}"), 400)));
                    }
                }
                None => l.push(Line::raw("no response captured")),
            }
            l.push(Line::raw(""));
            let verdict = match c.accept_valid {
                Some(true) => {
                    Span::styled("Sec-WebSocket-Accept matches the key ✓", fg(s, Color::Green))
                }
                Some(false) => {
                    Span::styled("Sec-WebSocket-Accept does NOT match the key ✗", fg(s, Color::Red))
                }
                None => Span::raw("Sec-WebSocket-Accept not checked (key or accept missing)"),
            };
            l.push(Line::from(verdict));
        }
    }
    l.push(Line::raw(""));
    l.push(kv("messages ↑", format!("{} ({} B)", c.up.0, c.up.1)));
    l.push(kv("messages ↓", format!("{} ({} B)", c.down.0, c.down.1)));
    l.push(kv("findings", c.findings.to_string()));
    l
}

fn message_lines(s: &AppState, r: &MsgRow, width: usize) -> Vec<Line<'static>> {
    let mut l = vec![
        kv("packet", format!("{} (stream offset {})", r.at.packet, r.at.offset)),
        kv(
            "time",
            format!(
                "{} (local {}; epoch {})",
                crate::timefmt::iso8601_exact(r.at.ts),
                crate::timefmt::clock(r.at.ts, (s.local_offset)(r.at.ts)),
                r.at.ts
            ),
        ),
    ];
    match &r.kind {
        RowKind::Finding { code, severity, rfc, message } => {
            l.push(kv("finding", format!("{code} ({severity})")));
            l.push(kv("rule", rfc.to_string()));
            l.push(Line::raw(""));
            l.push(Line::raw(printable(message, 2000)));
        }
        RowKind::Gap { length, reason, .. } => {
            l.push(kv(
                "gap",
                format!("{length} bytes of this direction are missing from the capture"),
            ));
            let why = match reason {
                GapReason::Lost => "the capture lost them (later bytes were captured)",
                GapReason::Snaplen => "the capture's snapshot length cut the packet",
                GapReason::BufferLimit => "too much was buffered behind the hole (a limit)",
                GapReason::ConnectionEnd => "the connection ended with the hole open",
                GapReason::AckedUnseen => "the peer acknowledged bytes that were never captured",
            };
            l.push(kv("why", why.to_string()));
        }
        RowKind::Message {
            opcode,
            length,
            captured,
            complete,
            missing,
            wire,
            compressed,
            fragments,
            text,
            payload,
            unavailable,
            truncated,
            extra,
            ..
        } => {
            let no_extra = crate::ui::state::Extra::default();
            let x = extra.as_deref().unwrap_or(&no_extra);
            let (rtt, close, frames) = (&x.rtt, &x.close, &x.frames);
            l.push(kv("opcode", opcode.name()));
            let len = match (complete, length) {
                (true, Some(n)) => format!("{n} B"),
                (false, Some(n)) => format!("{n} B, of which {captured} B captured"),
                (true, None) => "unknown (it could not be inflated)".to_string(),
                (false, None) => format!("unknown ({captured} B captured)"),
            };
            if !complete {
                let lost = missing.map_or("an unknown number of".to_string(), |m| m.to_string());
                l.push(kv(
                    "incomplete",
                    format!("the capture lost {lost} payload bytes of this message"),
                ));
            }
            l.push(kv(
                "length",
                format!(
                    "{len}{}",
                    if *compressed {
                        format!(" ({wire} B on the wire, permessage-deflate)")
                    } else {
                        String::new()
                    }
                ),
            ));
            if *fragments > 1 {
                l.push(kv("frames", fragments.to_string()));
                for (i, fr) in frames.iter().enumerate() {
                    l.push(Line::raw(format!(
                        "  {i:>3}: {} fin={} rsv={:03b} len={} mask={} packet {}",
                        fr.opcode,
                        u8::from(fr.fin),
                        fr.rsv,
                        fr.len,
                        fr.mask
                            .map(|m| format!("{:02x}{:02x}{:02x}{:02x}", m[0], m[1], m[2], m[3]))
                            .unwrap_or_else(|| "-".into()),
                        fr.at.packet
                    )));
                }
            }
            if let Some(t) = rtt {
                l.push(kv("round trip", format!("{:.3} ms", t * 1e3)));
            }
            if let Some((code, reason)) = close {
                l.push(kv(
                    "close code",
                    code.map_or("(none)".into(), |c| crate::ws::CloseCode(c).to_string()),
                ));
                l.push(kv("reason", printable(reason, 400)));
            }
            l.push(Line::raw(""));
            if *unavailable {
                l.push(Line::raw("content unavailable: bytes are missing from the capture, or it could not be inflated"));
            } else {
                match payload {
                    None => l.push(Line::raw(
                        "(payload not kept: the UI payload budget is used up; the preview was:)",
                    )),
                    Some(p) => l.extend(payload_lines(p, *text, s.payload_view, width)),
                }
                if *truncated {
                    l.push(Line::raw("… (truncated)"));
                }
            }
        }
    }
    // Findings reported at this message's position: they are emitted right around it, so a
    // small window of rows is enough (the pane must not scan a million rows per frame).
    let selected = s.view_cached().get(s.msg_sel).copied();
    if let (Some(conn), Some(i), RowKind::Message { .. }) =
        (s.selected_conn_index(), selected, &r.kind)
    {
        let here: Vec<&MsgRow> = s.rows.get(conn).map_or(Vec::new(), |rows| {
            rows[i.saturating_sub(16)..(i + 17).min(rows.len())]
                .iter()
                .filter(|x| x.is_notice() && x.at.offset == r.at.offset && x.dir == r.dir)
                .collect()
        });
        if !here.is_empty() {
            l.push(Line::raw(""));
            l.push(Line::from(bold("findings here")));
            for x in here {
                if let RowKind::Finding { code, rfc, message, .. } = &x.kind {
                    l.push(Line::raw(printable(&format!("{code} [{rfc}]: {message}"), 600)));
                }
            }
        }
    }
    l
}

/// A payload as the view asks.
fn payload_lines(p: &[u8], text: bool, view: PayloadView, width: usize) -> Vec<Line<'static>> {
    match view {
        PayloadView::Pretty if text => text_lines(p),
        PayloadView::Raw if text => String::from_utf8_lossy(p)
            .lines()
            .map(|line| Line::raw(printable(line, 10_000)))
            .collect(),
        PayloadView::Pretty | PayloadView::Raw | PayloadView::Hex => hex_lines(p, width),
        PayloadView::Base64 => {
            use base64::Engine;
            let b = base64::engine::general_purpose::STANDARD.encode(p);
            // Lines of at most 76 characters, as MIME does, and never wider than the pane (a
            // wrapped line would break mid-run): copyable, never one huge line.
            b.as_bytes()
                .chunks(width.clamp(4, 76))
                .map(|c| Line::raw(String::from_utf8_lossy(c).into_owned()))
                .collect()
        }
    }
}

/// Text, pretty-printed when it is a JSON object or array: its own tokens re-indented, never
/// re-serialised (see [`crate::jsontext`]).
fn text_lines(p: &[u8]) -> Vec<Line<'static>> {
    let t = String::from_utf8_lossy(p);
    let shown = crate::jsontext::reindent(&t, 2).unwrap_or_else(|| t.to_string());
    shown.lines().map(|line| Line::raw(printable(line, 10_000))).collect()
}

/// A classic hex dump: offset, 16 bytes, ASCII.
/// A hex dump whose lines fit `width` columns: 16, 8 or 4 bytes a line (offset, bytes, ASCII).
fn hex_lines(p: &[u8], width: usize) -> Vec<Line<'static>> {
    let per = [16usize, 8, 4].into_iter().find(|n| 11 + 4 * n <= width).unwrap_or(4);
    let mut l: Vec<Line<'static>> = p
        .chunks(per)
        .take(HEX_MAX / per)
        .enumerate()
        .map(|(i, c)| {
            let hex: Vec<String> = c.iter().map(|b| format!("{b:02x}")).collect();
            let ascii: String = c
                .iter()
                .map(|b| if b.is_ascii_graphic() || *b == b' ' { *b as char } else { '.' })
                .collect();
            Line::raw(format!("{:08x}  {:<w$} {ascii}", i * per, hex.join(" "), w = 3 * per))
        })
        .collect();
    if p.len() > HEX_MAX {
        l.push(Line::raw(format!("… {} more bytes", p.len() - HEX_MAX)));
    }
    l
}
