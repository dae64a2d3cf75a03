//! JSON Schemas of every JSON output, generated from the types that serialise them. The files in
//! `docs/schema/` are these, kept in sync by a test (`WSSCOPE_BLESS=1` rewrites them).

use super::json::Document;
use super::ndjson::Line;
use super::report::Report;

/// (file name, pretty JSON Schema) for each output.
pub fn all() -> Vec<(&'static str, String)> {
    let pretty = |s: schemars::Schema| serde_json::to_string_pretty(&s).unwrap_or_default() + "\n";
    vec![
        ("report.schema.json", pretty(schemars::schema_for!(Report))),
        ("ndjson-line.schema.json", pretty(schemars::schema_for!(Line<'static>))),
        ("export-json.schema.json", pretty(schemars::schema_for!(Document))),
    ]
}
