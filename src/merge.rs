//! `wsscope merge`: combines the reports of the N shares of a sharded run (`report --shard
//! I/N`, on any machines) into exactly the report one run over the same inputs writes.
//!
//! Why this is exact: every share reads every packet and tracks every TCP connection (so
//! packet counters, connection ids and the stream engine's counters are the same in every
//! share, and the same as one run's), and analyses only the connections of its share. So the
//! connection rows of the shares are disjoint and complete, the analyzer's counters and the
//! summary's counts add up, and what is derived from them (why no WebSocket was found, the exit
//! decision) is derived again here from the sums. Only what the memory budget did can differ,
//! when it acted: its counters are added and its level is the highest.

#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

use crate::analyzer::AnalyzerStats;
use crate::error::Error;
use crate::pipeline::RunSummary;
use crate::sink::report::{ExitDecision, Share, Summary, decide_exit};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// One share's report as read: where from, and its JSON. The connection rows and TLS entries,
/// most of a report, are kept as their text: they go into the merged report unchanged, and a
/// parsed tree of them takes several times the memory of the text.
pub struct ShareReport {
    /// The file it came from (for messages).
    pub name: String,
    /// The report, with `null` in place of `connections` and `tls`.
    pub doc: Value,
    /// `connections`, each row's text; `None` when the report has no such list.
    rows: Option<Vec<Box<RawValue>>>,
    /// `tls`, each entry's text.
    tls: Vec<Box<RawValue>>,
}

impl ShareReport {
    /// A report from its JSON text: the rows stay text.
    pub fn parse(name: String, text: &[u8]) -> Result<Self, serde_json::Error> {
        let Ok(Fields(fields)) = serde_json::from_slice::<Fields>(text) else {
            // Not an object: read whole, so that the messages say what it is (it has no rows).
            let doc = serde_json::from_slice(text)?;
            return Ok(ShareReport { name, doc, rows: None, tls: Vec::new() });
        };
        let mut doc = Map::new();
        let (mut rows, mut tls) = (None, Vec::new());
        for (key, raw) in fields {
            let listed = match key.as_str() {
                "connections" => serde_json::from_str(raw.get()).map(|l| rows = Some(l)).is_ok(),
                "tls" => serde_json::from_str(raw.get()).map(|l| tls = l).is_ok(),
                _ => false,
            };
            let value = if listed { Value::Null } else { serde_json::from_str(raw.get())? };
            doc.insert(key, value);
        }
        Ok(ShareReport { name, doc: Value::Object(doc), rows, tls })
    }
}

/// The fields of a JSON object in order, each value as text (borrowed from the report's text).
struct Fields<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = Fields<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Fields<'a>, A::Error> {
                let mut fields = Vec::new();
                while let Some(entry) = m.next_entry::<String, &'de RawValue>()? {
                    fields.push(entry);
                }
                Ok(Fields(fields))
            }
        }
        d.deserialize_map(Visit(std::marker::PhantomData))
    }
}

/// The merged report: its fields, with `connections` and `tls` as the shares' text.
pub struct Merged {
    /// The report, `null` at `connections` and `tls`.
    pub doc: Value,
    /// The connection rows, in order.
    pub rows: Vec<Box<RawValue>>,
    /// The TLS entries, in order.
    pub tls: Vec<Box<RawValue>>,
}

impl Merged {
    /// The exit status the merged report decided.
    pub fn status(&self) -> u8 {
        self.doc["exit"]["status"].as_u64().map_or(2, |s| s.min(255) as u8)
    }
}

impl Serialize for Merged {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let fields = self.doc.as_object().map(|o| o.iter()).into_iter().flatten();
        let mut map = s.serialize_map(self.doc.as_object().map(Map::len))?;
        for (key, value) in fields {
            match key.as_str() {
                "connections" => map.serialize_entry(key, &self.rows)?,
                "tls" => map.serialize_entry(key, &self.tls)?,
                _ => map.serialize_entry(key, value)?,
            }
        }
        map.end()
    }
}

/// Where a row sorts: its input and connection id.
#[derive(Deserialize)]
struct RowKey {
    input: Option<u64>,
    id: Option<u64>,
}

/// A row's input and connection id.
type Key = (Option<u64>, Option<u64>);

fn row_key(row: &RawValue) -> Key {
    serde_json::from_str::<RowKey>(row.get()).map_or((None, None), |k| (k.input, k.id))
}

/// Rows sorted by input and connection id (stable), each with that key.
fn in_row_order(rows: Vec<Box<RawValue>>) -> Vec<(Key, Box<RawValue>)> {
    let mut keyed: Vec<_> = rows.into_iter().map(|r| (row_key(&r), r)).collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed
}

/// Ascending numbers as runs (`0, 2–4, 7`), at most 20 runs and then how many more.
fn ranges(numbers: impl Iterator<Item = usize>) -> String {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for n in numbers {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == n => *end = n,
            _ => runs.push((n, n)),
        }
    }
    let shown = runs.iter().take(20).map(|&(a, b)| match b - a {
        0 => a.to_string(),
        1 => format!("{a}, {b}"),
        _ => format!("{a}–{b}"),
    });
    let mut text = shown.collect::<Vec<_>>().join(", ");
    if runs.len() > 20 {
        text.push_str(&format!(" and {} more runs", runs.len() - 20));
    }
    text
}

/// What differs between `here` and `there`, in a few words: the members of two objects that
/// differ, or the two values, each cut to 80 characters.
fn difference(here: Option<&Value>, there: Option<&Value>) -> String {
    let text = |v: Option<&Value>| v.map_or("nothing".to_string(), Value::to_string);
    // 80 characters of each, from a little before where they first differ (long values that
    // begin alike were cut where they still agreed).
    let pair = |a: Option<&Value>, b: Option<&Value>| {
        let (a, b) = (text(a), text(b));
        let same = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
        let from = same.saturating_sub(20);
        let short = |t: &str| {
            let rest: String = t.chars().skip(from).take(80).collect();
            let before = if from > 0 { "…" } else { "" };
            let after = if t.chars().count() > from + 80 { "…" } else { "" };
            format!("{before}{rest}{after}")
        };
        format!("{} here, {} there", short(&a), short(&b))
    };
    if let (Some(Value::Object(a)), Some(Value::Object(b))) = (here, there) {
        let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
        let differ: Vec<String> = keys
            .filter(|k| a.get(*k) != b.get(*k))
            .take(4)
            .map(|k| format!("{k} {}", pair(a.get(k), b.get(k))))
            .collect();
        if !differ.is_empty() {
            return differ.join("; ");
        }
    }
    pair(here, there)
}

/// Whether two inputs' names are the same file names (the shares may have run on machines that
/// mount the archive at different places); a `--join`ed input's name lists its files, in any
/// order (joined, the order does not matter).
fn same_file_name(a: Option<&Value>, b: Option<&Value>) -> bool {
    fn names(v: Option<&Value>) -> Option<Vec<&std::ffi::OsStr>> {
        let joined = v?.as_str()?.split(crate::config::JOINED);
        let mut names: Vec<_> =
            joined.map(|p| std::path::Path::new(p).file_name()).collect::<Option<_>>()?;
        names.sort();
        Some(names)
    }
    names(a).is_some() && names(a) == names(b)
}

/// Merges the reports of every share of one run into the report of the whole run.
pub fn merge(mut shares: Vec<ShareReport>) -> Result<Merged, Error> {
    let bad = |name: &str, what: String| Error::Usage(format!("wsscope merge: {name}: {what}"));
    // Each share once, all of the same N.
    let mut seen: Vec<Option<String>> = Vec::new();
    let mut settings: Option<(&str, Vec<String>)> = None;
    for s in &shares {
        let share: Share = match s.doc.get("shard") {
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                bad(&s.name, format!("not a report of wsscope report --shard: {e}"))
            })?,
            None => {
                return Err(bad(
                    &s.name,
                    "is not a share of a sharded run (made without report --shard I/N)".into(),
                ));
            }
        };
        // What `report --shard` writes; anything else was made or edited by another hand.
        if share.count == 0 || share.count > crate::config::MAX_SHARDS || share.index >= share.count
        {
            return Err(bad(
                &s.name,
                format!(
                    "says it is share {}/{}, which wsscope report --shard never writes (I below \
                     N, N from 1 to {})",
                    share.index,
                    share.count,
                    crate::config::MAX_SHARDS
                ),
            ));
        }
        if seen.is_empty() {
            seen = vec![None; share.count as usize];
        }
        if share.count as usize != seen.len() {
            return Err(bad(
                &s.name,
                format!(
                    "is share {}/{}, the first report is of {} shares: a share of another run \
                     (remove the reports of earlier runs, or give only this run's shares)",
                    share.index,
                    share.count,
                    seen.len()
                ),
            ));
        }
        let slot = &mut seen[share.index as usize];
        if let Some(other) = slot {
            return Err(bad(
                &s.name,
                format!(
                    "share {} is also in {other}: give each share once (the same file twice, or \
                     a share run twice)",
                    share.index
                ),
            ));
        }
        *slot = Some(s.name.clone());
        match &settings {
            None => settings = Some((&s.name, share.settings)),
            Some((first, theirs)) => {
                let differ: Vec<String> = share
                    .settings
                    .iter()
                    .filter(|v| !theirs.contains(v))
                    .map(|v| {
                        let flag = v.split(' ').next().unwrap_or_default();
                        let there = theirs.iter().find(|t| t.split(' ').next() == Some(flag));
                        format!("{v} here, {} there", there.map_or("nothing", String::as_str))
                    })
                    .collect();
                if !differ.is_empty() || share.settings.len() != theirs.len() {
                    return Err(bad(
                        &s.name,
                        format!(
                            "was analysed with other settings than {first}: {}; every share must \
                             run with the same flags",
                            differ.join("; ")
                        ),
                    ));
                }
            }
        }
    }
    let missing = ranges(seen.iter().enumerate().filter(|(_, s)| s.is_none()).map(|(i, _)| i));
    if !missing.is_empty() {
        return Err(Error::Usage(format!(
            "wsscope merge: share(s) {missing} of {} missing: give the report of every share",
            seen.len()
        )));
    }
    shares.sort_by_key(|s| s.doc.get("shard").and_then(|v| v.get("index")).and_then(Value::as_u64));
    let first = &shares[0];
    // What every share must agree on: the same tool, inputs and settings.
    for s in &shares[1..] {
        for key in ["schema_version", "tool", "redaction"] {
            if s.doc.get(key) != first.doc.get(key) {
                let off = |d: &Value| d.get(key).is_none_or(Value::is_null);
                let what = match (key, off(&s.doc), off(&first.doc)) {
                    ("redaction", true, _) => "--no-redact here, redaction there".to_string(),
                    ("redaction", _, true) => "redaction here, --no-redact there".to_string(),
                    _ => difference(s.doc.get(key), first.doc.get(key)),
                };
                return Err(bad(
                    &s.name,
                    format!("its {key} differs from {}'s: {what}", first.name),
                ));
            }
        }
        // The same judgement: the policy's file may have another name on another machine.
        let policy = |d: &Value| {
            let mut p = d.get("policy").cloned().unwrap_or_default();
            if let Some(o) = p.as_object_mut() {
                o.shift_remove("file");
            }
            p
        };
        if policy(&s.doc) != policy(&first.doc) {
            return Err(bad(
                &s.name,
                format!(
                    "its policy (--allow, --severity, thresholds, --policy) differs from {}'s: \
                     {}; every share must be judged by the same policy",
                    first.name,
                    difference(Some(&policy(&s.doc)), Some(&policy(&first.doc)))
                ),
            ));
        }
        let exit =
            |d: &Value| (d["exit"]["fail_on"].clone(), d["exit"]["require_connections"].clone());
        let flags = |(fail_on, require): &(Value, Value)| {
            let fail_on = format!("--fail-on {}", fail_on.as_str().unwrap_or("error"));
            match require.as_u64() {
                Some(n) => format!("{fail_on} --require-connections {n}"),
                None => fail_on,
            }
        };
        if exit(&s.doc) != exit(&first.doc) {
            return Err(bad(
                &s.name,
                format!(
                    "its --fail-on or --require-connections differ from {}'s: {} here, {} \
                     there; every share must run with the same (the merged report is judged \
                     by them)",
                    first.name,
                    flags(&exit(&s.doc)),
                    flags(&exit(&first.doc)),
                ),
            ));
        }
    }
    // Connections and TLS connections: disjoint, each with the run's id. They move out of the
    // shares (what follows reads only the shares' other fields), so the largest part of every
    // report is held once, not copied.
    let mut rows: Vec<Box<RawValue>> = Vec::new();
    let mut tls: Vec<Box<RawValue>> = Vec::new();
    for s in &mut shares {
        let Some(mut list) = s.rows.take() else {
            return Err(bad(&s.name, "has no connections list".into()));
        };
        rows.append(&mut list);
        tls.append(&mut s.tls);
    }
    let first = &shares[0];
    let mut out = first.doc.clone();
    let Some(obj) = out.as_object_mut() else {
        return Err(bad(&first.name, "is not a report (not a JSON object)".into()));
    };
    obj.shift_remove("shard");

    // Inputs: the same packets in every share; analyzer counters add up.
    let inputs: Vec<&Vec<Value>> = shares
        .iter()
        .map(|s| s.doc["inputs"].as_array().ok_or_else(|| bad(&s.name, "has no inputs".into())))
        .collect::<Result<_, _>>()?;
    for (s, list) in shares.iter().zip(&inputs) {
        if list.len() != inputs[0].len() {
            return Err(bad(
                &s.name,
                format!(
                    "has {} inputs, {} has {}: not the same inputs (every share must read the \
                     same files in the same order)",
                    list.len(),
                    first.name,
                    inputs[0].len()
                ),
            ));
        }
    }
    let mut merged_inputs = Vec::new();
    let mut no_websocket = Vec::new();
    for (i, input) in inputs[0].iter().enumerate() {
        let mut input = input.clone();
        let mut analyzer = AnalyzerStats::default();
        let mut memory = input["memory"].clone();
        for (s, list) in shares.iter().zip(&inputs) {
            let other = list.get(i).ok_or_else(|| bad(&s.name, format!("has no input {i}")))?;
            // Each share tracks every connection under its own memory budget: what the budget
            // evicted (and so the connection counters) may differ.
            let evicted =
                |v: &Value| v["memory"]["connections_evicted"].as_u64().is_some_and(|n| n > 0);
            let budget_acted = evicted(other) || evicted(&input);
            for key in [
                "name",
                "link_type",
                "end_of_input",
                "packets",
                "first_packet_utc",
                "last_packet_utc",
                "tcp",
                "capture",
            ] {
                if key == "name" && same_file_name(other.get(key), input.get(key)) {
                    continue;
                }
                if key == "tcp" && budget_acted && other.get(key) != input.get(key) {
                    return Err(bad(
                        &s.name,
                        format!(
                            "input {i}: the memory budget evicted connections in {} and not \
                             in the same way in {}, so their connections are numbered \
                             differently and cannot be put together as one run's; run every \
                             share with a --memory-budget large enough that nothing is evicted \
                             (a share holds the analysis of its own connections only: more \
                             shares need less each)",
                            if evicted(other) { &s.name } else { &first.name },
                            if evicted(other) { &first.name } else { &s.name },
                        ),
                    ));
                }
                if other.get(key) != input.get(key) {
                    return Err(bad(
                        &s.name,
                        format!(
                            "input {i}'s {key} differs from {}'s: {}; not the same inputs{}",
                            first.name,
                            difference(other.get(key), input.get(key)),
                            if key == "tcp" {
                                " (or a limit on the whole connection table acted differently: \
                                 --max-connections is split among the --threads workers, so run \
                                 every share with the same --threads)"
                            } else {
                                ""
                            }
                        ),
                    ));
                }
            }
            let a: AnalyzerStats = serde_json::from_value(other["analyzer"].clone())
                .map_err(|e| bad(&s.name, format!("input {i}: {e}")))?;
            analyzer.add(&a);
            if !std::ptr::eq(s, first) {
                add_memory(&mut memory, &other["memory"]);
            }
        }
        input["analyzer"] = to_value(&analyzer)?;
        input["memory"] = memory;
        let run = run_summary(&input).map_err(|e| bad(&first.name, format!("input {i}: {e}")))?;
        let name = input["name"].as_str().unwrap_or_default().to_string();
        no_websocket.extend(
            crate::sink::why_no_websocket(&run, &analyzer)
                .into_iter()
                .map(|w| format!("{name}: {w}")),
        );
        merged_inputs.push(input);
    }
    obj.insert("inputs".into(), Value::Array(merged_inputs));

    // Summary: counts add up (packets are every share's).
    let mut summary: Summary = serde_json::from_value(first.doc["summary"].clone())
        .map_err(|e| bad(&first.name, format!("summary: {e}")))?;
    for s in &shares[1..] {
        let o: Summary = serde_json::from_value(s.doc["summary"].clone())
            .map_err(|e| bad(&s.name, format!("summary: {e}")))?;
        add_summary(&mut summary, &o);
    }
    summary.no_websocket = no_websocket;

    let rows = in_row_order(rows);
    if let Some(w) = rows.windows(2).find(|w| w[0].0 == w[1].0) {
        let id = w[0].0.1.map_or("null".to_string(), |id| id.to_string());
        return Err(Error::Usage(format!(
            "wsscope merge: connection {id} is in two shares: the reports are not of one sharded run"
        )));
    }
    let rows = rows.into_iter().map(|(_, r)| r).collect();
    let tls = in_row_order(tls).into_iter().map(|(_, r)| r).collect();

    // The exit decision, from the merged counts.
    let mut exit: ExitDecision = serde_json::from_value(first.doc["exit"].clone())
        .map_err(|e| bad(&first.name, format!("exit: {e}")))?;
    let policy: crate::policy::Policy = serde_json::from_value(first.doc["policy"].clone())
        .map_err(|e| bad(&first.name, format!("policy: {e}")))?;
    let require = exit.require_connections;
    // A share whose run failed (`exit.error`) fails the merged report as it failed one run.
    exit.error = shares.iter().find_map(|s| {
        let e = s.doc["exit"]["error"].as_str()?;
        Some(if shares.len() > 1 { format!("{}: {e}", s.name) } else { e.to_string() })
    });
    decide_exit(&mut exit, &summary, &policy, require);

    obj.insert("summary".into(), to_value(&summary)?);
    obj.insert("connections".into(), Value::Null);
    obj.insert("tls".into(), Value::Null);
    obj.insert("exit".into(), to_value(&exit)?);
    Ok(Merged { doc: out, rows, tls })
}

fn to_value(v: &impl serde::Serialize) -> Result<Value, Error> {
    serde_json::to_value(v).map_err(|e| Error::Usage(format!("wsscope merge: {e}")))
}

/// The run summary inside an input entry (its other members removed).
fn run_summary(input: &Value) -> Result<RunSummary, serde_json::Error> {
    let mut m: Map<String, Value> = input.as_object().cloned().unwrap_or_default();
    for k in ["name", "link_type", "analyzer"] {
        m.remove(k);
    }
    serde_json::from_value(Value::Object(m))
}

/// Counters add up; the level is the highest; the budget is every share's.
fn add_memory(sum: &mut Value, other: &Value) {
    let (Some(s), Some(o)) = (sum.as_object_mut(), other.as_object()) else { return };
    for (k, v) in o {
        match (k.as_str(), s.get(k).and_then(Value::as_u64), v.as_u64()) {
            ("budget", ..) => {}
            (_, Some(x), Some(y)) => {
                s.insert(k.clone(), Value::from(x + y));
            }
            ("level", ..) => {
                let rank = |v: Option<&Value>| {
                    serde_json::from_value::<crate::memory::Level>(v.cloned().unwrap_or_default())
                        .ok()
                };
                if rank(Some(v)) > rank(s.get(k)) {
                    s.insert(k.clone(), v.clone());
                }
            }
            _ => {}
        }
    }
}

fn add_summary(sum: &mut Summary, o: &Summary) {
    let Summary {
        packets: _,
        tcp_connections,
        websocket_connections,
        upgraded,
        refused,
        not_followed,
        messages,
        message_bytes,
        incomplete_messages,
        gaps,
        tls_connections,
        tls_decrypted,
        no_websocket: _,
        findings,
        findings_allowed,
        findings_by_code,
        violations,
    } = o;
    sum.tcp_connections += tcp_connections;
    sum.websocket_connections += websocket_connections;
    sum.upgraded += upgraded;
    sum.refused += refused;
    sum.not_followed += not_followed;
    sum.messages += messages;
    sum.message_bytes += message_bytes;
    sum.incomplete_messages += incomplete_messages;
    sum.gaps += gaps;
    sum.tls_connections += tls_connections;
    sum.tls_decrypted += tls_decrypted;
    sum.findings.error += findings.error;
    sum.findings.warning += findings.warning;
    sum.findings.info += findings.info;
    sum.findings_allowed.error += findings_allowed.error;
    sum.findings_allowed.warning += findings_allowed.warning;
    sum.findings_allowed.info += findings_allowed.info;
    for (code, n) in findings_by_code {
        *sum.findings_by_code.entry(*code).or_default() += n;
    }
    for (rule, n) in violations {
        *sum.violations.entry(*rule).or_default() += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A share's rows and TLS entries are kept as their text, byte for byte, and the merged
    /// report writes them back where `connections` and `tls` stood, between the fields around
    /// them.
    #[test]
    fn rows_stay_text_and_go_back_in_place() {
        let text =
            b"{\"a\": 1, \"connections\": [\n    {\n      \"id\": 2,  \"input\": 0\n    }\n  ], \
                     \"tls\": [], \"b\": [true]}";
        let mut share = ShareReport::parse("s".into(), text).unwrap();
        let rows = share.rows.take().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get(), "{\n      \"id\": 2,  \"input\": 0\n    }");
        assert_eq!(row_key(&rows[0]), (Some(0), Some(2)));
        assert_eq!(
            share.doc,
            serde_json::json!({"a": 1, "connections": null, "tls": null, "b": [true]})
        );
        let merged = Merged { doc: share.doc, rows, tls: Vec::new() };
        assert_eq!(
            serde_json::to_string(&merged).unwrap(),
            "{\"a\":1,\"connections\":[{\n      \"id\": 2,  \"input\": 0\n    }],\"tls\":[],\"b\":[true]}"
        );
        assert_eq!(merged.status(), 2);
        // No list of connections, or a document that is not an object: no rows.
        assert!(ShareReport::parse("s".into(), b"{\"a\": 1}").unwrap().rows.is_none());
        assert!(ShareReport::parse("s".into(), b"[1]").unwrap().rows.is_none());
        assert!(ShareReport::parse("s".into(), b"{\"a\": ").is_err());
    }
}
