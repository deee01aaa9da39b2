//! Result tables as `cockroach sql` prints them, or as JSON: the one output module of
//! `vouch sql` and the `vouch` commands (SHOW BACKUPS / SHOW BACKUP listings, the job
//! result rows of BACKUP and RESTORE, SELECT results).
//!
//! It owns how a result looks; it never decides what is in it (the statements build their
//! tables) and never writes anywhere (callers print the text).

use vouch_cluster::IndexFingerprint;

use crate::backup::BackupResult;
use crate::restore::RestoreResult;
use crate::{Error, ErrorKind, Result};

/// A cell: `None` is SQL NULL.
pub type Cell = Option<String>;

/// A result table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
    /// Columns printed right-aligned (numbers).
    pub numeric: Vec<bool>,
}

impl Table {
    /// A table with these columns (`#` suffix marks a numeric column and is stripped).
    pub fn new(columns: &[&str]) -> Self {
        Table {
            columns: columns
                .iter()
                .map(|c| c.trim_end_matches('#').to_string())
                .collect(),
            numeric: columns.iter().map(|c| c.ends_with('#')).collect(),
            rows: Vec::new(),
        }
    }

    /// Renders like `cockroach sql`: centered headers, numbers right-aligned, a
    /// `(N rows)` footer.
    pub fn render(&self) -> String {
        self.render_with(0)
    }

    /// [`Table::render`] with a margin of one more space before the first column and after
    /// the last (and one more `-` at each end of the rule): the layout of `vouch cluster
    /// fingerprint`.
    pub fn render_with_margin(&self) -> String {
        self.render_with(1)
    }

    fn render_with(&self, margin: usize) -> String {
        let shown = |c: &Cell| c.clone().unwrap_or_else(|| "NULL".into());
        let widths: Vec<usize> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, h)| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| shown(c).chars().count())
                    .chain(std::iter::once(h.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        let header: Vec<String> = self
            .columns
            .iter()
            .zip(&widths)
            .map(|(h, w)| {
                let pad = w.saturating_sub(h.chars().count());
                let left = pad / 2;
                format!(" {}{}{} ", " ".repeat(left), h, " ".repeat(pad - left))
            })
            .collect();
        let space = " ".repeat(margin);
        let dash = "-".repeat(margin);
        out.push_str(format!("{space}{}", header.join("|")).trim_end());
        out.push('\n');
        let sep: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
        out.push_str(&format!("{dash}{}{dash}", sep.join("+")));
        out.push('\n');
        for r in &self.rows {
            let cells: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let s = r.get(i).map(shown).unwrap_or_default();
                    if self.numeric.get(i).copied().unwrap_or(false) {
                        format!(" {s:>w$} ")
                    } else {
                        format!(" {s:<w$} ")
                    }
                })
                .collect();
            out.push_str(format!("{space}{}", cells.join("|")).trim_end());
            out.push('\n');
        }
        let n = self.rows.len();
        out.push_str(&format!("({n} row{})\n", if n == 1 { "" } else { "s" }));
        out
    }

    /// Rows as JSON objects (NULL as null; numeric columns as numbers).
    pub fn to_json(&self) -> serde_json::Value {
        let rows = self
            .rows
            .iter()
            .map(|r| {
                let mut m = serde_json::Map::new();
                for (i, c) in self.columns.iter().enumerate() {
                    let cell = r.get(i).cloned().flatten();
                    let v = match cell {
                        None => serde_json::Value::Null,
                        Some(s) if self.numeric.get(i).copied().unwrap_or(false) => s
                            .parse::<i64>()
                            .map(serde_json::Value::from)
                            .or_else(|_| s.parse::<u64>().map(serde_json::Value::from))
                            .unwrap_or(serde_json::Value::String(s)),
                        Some(s) if s == "true" || s == "false" => {
                            serde_json::Value::Bool(s == "true")
                        }
                        Some(s) => serde_json::Value::String(s),
                    };
                    m.insert(c.clone(), v);
                }
                serde_json::Value::Object(m)
            })
            .collect();
        serde_json::Value::Array(rows)
    }
}

/// How a table is printed: `table` (like `cockroach sql`) or `json` (an array of row
/// objects, pretty-printed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// Like `cockroach sql`.
    #[default]
    Table,
    /// [`Table::to_json`], pretty-printed, with a trailing newline.
    Json,
}

impl std::str::FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            f => Err(Error::refused(
                ErrorKind::Usage,
                format!("unknown format {f:?}: use table or json"),
            )),
        }
    }
}

impl Table {
    /// The table's text in `format`.
    pub fn render_as(&self, format: Format) -> String {
        match format {
            Format::Table => self.render(),
            Format::Json => pretty(&self.to_json()),
        }
    }
}

/// `vouch cluster fingerprint`: one row per index (`database_name | table_name |
/// index_name | fingerprint`, the fingerprint as CockroachDB prints it: the 64-bit value
/// as a signed decimal); the JSON form also has `table_id`, `index_id` and `entries`.
pub fn fingerprints(fps: &[IndexFingerprint], format: Format) -> String {
    match format {
        // Every name a string (a table named `true` stays one), ids and counts numbers.
        Format::Json => {
            let rows: Vec<serde_json::Value> = fps
                .iter()
                .map(|f| {
                    serde_json::json!({
                        "database_name": f.database,
                        "table_name": f.table,
                        "index_name": f.index,
                        "fingerprint": signed(f.fingerprint),
                        "table_id": f.table_id,
                        "index_id": f.index_id,
                        "entries": f.entries,
                    })
                })
                .collect();
            pretty(&serde_json::Value::Array(rows))
        }
        Format::Table => {
            let mut t = Table::new(&["database_name", "table_name", "index_name", "fingerprint"]);
            for f in fps {
                t.rows.push(vec![
                    Some(f.database.clone()),
                    Some(f.table.clone()),
                    Some(f.index.clone()),
                    Some(signed(f.fingerprint)),
                ]);
            }
            t.render_with_margin()
        }
    }
}

/// Pretty-printed JSON and a newline.
fn pretty(v: &serde_json::Value) -> String {
    // A `Value` always serializes (its map keys are strings).
    let mut s = serde_json::to_string_pretty(v).unwrap_or_default();
    s.push('\n');
    s
}

/// A fingerprint as CockroachDB prints it: the 64-bit value as a signed decimal.
fn signed(fp: u64) -> String {
    i64::from_ne_bytes(fp.to_ne_bytes()).to_string()
}

/// CockroachDB's job result columns.
const JOB_COLUMNS: &[&str] = &[
    "job_id#",
    "status",
    "fraction_completed#",
    "rows#",
    "index_entries#",
    "bytes#",
];

fn job_row(job_id: u64, status: &str, rows: u64, index_entries: u64, bytes: u64) -> Table {
    let mut t = Table::new(JOB_COLUMNS);
    t.rows.push(vec![
        Some(job_id.to_string()),
        Some(status.to_string()),
        Some("1".into()),
        Some(rows.to_string()),
        Some(index_entries.to_string()),
        Some(bytes.to_string()),
    ]);
    t
}

/// The result row of a BACKUP (`job_id | status | fraction_completed | rows |
/// index_entries | bytes`).
pub fn backup_result(r: &BackupResult) -> Table {
    job_row(r.job_id, &r.status, r.rows, r.index_entries, r.bytes)
}

/// The result row of a RESTORE (the BACKUP columns).
pub fn restore_result(r: &RestoreResult) -> Table {
    job_row(r.job_id, "succeeded", r.rows, r.index_entries, r.bytes)
}

/// The result of a job started `WITH detached`: only its id.
pub fn detached(job_id: u64) -> Table {
    let mut t = Table::new(&["job_id#"]);
    t.rows.push(vec![Some(job_id.to_string())]);
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_cockroach_sql() {
        let mut t = Table::new(&["job_id#", "status", "rows#"]);
        t.rows.push(vec![
            Some("543214409874014209".into()),
            Some("succeeded".into()),
            Some("2597".into()),
        ]);
        assert_eq!(
            t.render(),
            "       job_id       |  status   | rows\n\
             --------------------+-----------+------\n\
             \x20543214409874014209 | succeeded | 2597\n\
             (1 row)\n"
        );
    }

    #[test]
    fn formats() {
        assert_eq!("table".parse::<Format>().unwrap(), Format::Table);
        assert_eq!("json".parse::<Format>().unwrap(), Format::Json);
        assert_eq!(
            "csv".parse::<Format>().unwrap_err().kind(),
            ErrorKind::Usage
        );
        let mut t = Table::new(&["n#", "s", "b"]);
        t.rows
            .push(vec![Some("7".into()), None, Some("true".into())]);
        assert_eq!(
            t.render_as(Format::Json),
            "[\n  {\n    \"n\": 7,\n    \"s\": null,\n    \"b\": true\n  }\n]\n"
        );
        assert_eq!(t.render_as(Format::Table), t.render());
        assert_eq!(
            t.render_with_margin(),
            "  n |  s   |  b\n----+------+-------\n  7 | NULL | true\n(1 row)\n"
        );
        assert_eq!(
            detached(5).render(),
            " job_id\n--------\n      5\n(1 row)\n"
        );
    }

    #[test]
    fn table_with_margin_matches_cockroach_sql() {
        // The shape of a `cockroach sql` result in the seeds (strings left-aligned).
        let mut t = Table::new(&["job_id", "status", "bytes"]);
        t.rows.push(vec![
            Some("543214409874014209".into()),
            Some("succeeded".into()),
            Some("467701".into()),
        ]);
        assert_eq!(
            t.render_with_margin(),
            "        job_id       |  status   | bytes\n\
             ---------------------+-----------+---------\n\
             \x20 543214409874014209 | succeeded | 467701\n\
             (1 row)\n"
        );
        let t = Table::new(&["a"]);
        assert_eq!(t.render_with_margin(), "  a\n-----\n(0 rows)\n");
    }

    #[test]
    fn fingerprints_print_signed() {
        assert_eq!(signed(0), "0");
        assert_eq!(signed(u64::MAX), "-1");
        assert_eq!(signed(10_543_443_208_021_966_406), "-7903300865687585210");
    }
}
