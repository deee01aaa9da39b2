//! The Core dump (`cockroach dump`): the schema and rows of a backup at one time, as SQL
//! that `vouch sql` loads back. The normative text is `spec/dump.md`.
//!
//! A dump reads a [`Plan`] (a checked chain, the layers serving the time, the descriptors
//! in force then) and writes, per database in name order: `CREATE DATABASE IF NOT
//! EXISTS`, `SET database`, enum types, tables in foreign-key order (referenced tables
//! first), their secondary indexes, `INSERT`s of every row live at the plan's time (in
//! the same table order, primary-key order within a table, 100 rows a statement), then
//! views in dependency order. Names are fully qualified (`db.public.t`); literals are the
//! forms of `spec/dump.md` §3.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use vouch_format::keys::{self, ColumnType, Datum};
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{self, index_layouts, parents, Catalog, Kind, SYSTEM_DATABASE_ID};
use vouch_format::time;

use crate::{Error, ErrorKind, Result};
use vouch_chain::Plan;
use vouch_chain::Targets;

/// Rows per `INSERT` statement.
pub const ROWS_PER_INSERT: usize = 100;

/// What a dump wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpStats {
    /// What was dumped, as the header says it ([`described`]).
    pub what: String,
    /// The time dumped (the plan's time).
    pub time: Timestamp,
    /// Databases created.
    pub databases: usize,
    /// Enum types created.
    pub types: usize,
    /// Tables created.
    pub tables: usize,
    /// Secondary indexes created.
    pub indexes: usize,
    /// Views created.
    pub views: usize,
    /// Rows inserted.
    pub rows: u64,
    /// SQL statements written.
    pub statements: u64,
    /// Bytes of SQL written.
    pub bytes: u64,
    /// Stored bytes of the data files read.
    pub file_bytes: u64,
}

/// A writer that counts what goes through it and names the output in I/O errors.
struct Out<'a> {
    w: &'a mut dyn Write,
    stats: DumpStats,
}

impl Out<'_> {
    fn put(&mut self, s: &str) -> Result<()> {
        self.w.write_all(s.as_bytes()).map_err(|source| {
            Error::Store(vouch_store::Error::Io {
                path: "dump output".into(),
                source,
            })
        })?;
        self.stats.bytes += s.len() as u64;
        Ok(())
    }

    /// One statement: `text` then `;` and a blank line.
    fn stmt(&mut self, text: &str) -> Result<()> {
        self.put(text)?;
        self.put(";\n\n")?;
        self.stats.statements += 1;
        Ok(())
    }
}

/// What a dump of `targets` holds, in words: the targets as given (`DATABASE d`,
/// `TABLE d.t`), or for a dump of everything, `cluster` when the backup is a cluster backup
/// and else what the backup holds (`DATABASE d`, `TABLE d.t`, both joined by `; `;
/// `system` left out, as the dump leaves it out).
pub fn described(plan: &Plan, cat: &Catalog, targets: &Targets) -> String {
    if *targets != Targets::Cluster {
        return targets.to_string();
    }
    let Some(m) = plan.used_layers().last().map(|l| &l.manifest) else {
        return targets.to_string();
    };
    if m.is_full_cluster {
        return targets.to_string();
    }
    let name = |id: u64| cat.get(id).map(|d| d.name.clone());
    let dbs: Vec<String> = m
        .complete_database_ids
        .iter()
        .filter(|&&id| id != SYSTEM_DATABASE_ID)
        .filter_map(|&id| name(id))
        .collect();
    let tables: Vec<(String, String)> = cat
        .iter()
        .filter(|d| matches!(Kind::of(d), Some(Kind::Table | Kind::View)))
        .filter(|d| {
            let db = parents(d).0;
            db != SYSTEM_DATABASE_ID && !m.complete_database_ids.contains(&db)
        })
        .filter_map(|d| Some((name(parents(d).0)?, d.name.clone())))
        .collect();
    let mut parts = Vec::new();
    if !dbs.is_empty() {
        parts.push(Targets::Databases(dbs).to_string());
    }
    if !tables.is_empty() {
        parts.push(Targets::Tables(tables).to_string());
    }
    if parts.is_empty() {
        targets.to_string()
    } else {
        parts.join("; ")
    }
}

/// Writes the SQL of `targets` at the plan's time to `out`.
///
/// Foreign keys to tables outside the dump are left out (with a comment saying so): the
/// dump must load on its own. `system` objects are never dumped (every cluster has them).
pub fn dump(plan: &Plan, targets: &Targets, out: &mut dyn Write) -> Result<DumpStats> {
    let cat = plan.catalog();
    let resolved = vouch_chain::resolve_for(&cat, targets, "dump")?;
    let included: BTreeSet<u64> = resolved
        .descriptors
        .iter()
        .filter(|d| d.id != SYSTEM_DATABASE_ID && parents(d).0 != SYSTEM_DATABASE_ID)
        .map(|d| d.id)
        .collect();
    let what = described(plan, &cat, targets);
    let mut o = Out {
        w: out,
        stats: DumpStats {
            what: what.clone(),
            time: plan.time,
            ..DumpStats::default()
        },
    };
    o.put(&format!(
        "-- vouch dump of {what} as of {} ({} layer{} read)\n\n",
        plan.time,
        plan.layers,
        if plan.layers == 1 { "" } else { "s" }
    ))?;
    // Databases in name order; then each database's objects.
    let mut dbs: Vec<&pb::Descriptor> = cat
        .iter()
        .filter(|d| Kind::of(d) == Some(Kind::Database) && included.contains(&d.id))
        .collect();
    dbs.sort_by(|a, b| a.name.cmp(&b.name));
    for db in &dbs {
        o.stmt(&format!(
            "CREATE DATABASE IF NOT EXISTS {}",
            ident(&db.name)
        ))?;
        o.stats.databases += 1;
    }
    for db in &dbs {
        let objects: Vec<&pb::Descriptor> = cat
            .children(db.id)
            .into_iter()
            .filter(|d| included.contains(&d.id))
            .collect();
        if objects
            .iter()
            .all(|d| matches!(Kind::of(d), Some(Kind::Schema)) && d.name == "public")
        {
            continue;
        }
        o.stmt(&format!("SET database = {}", ident(&db.name)))?;
        dump_database(plan, &cat, db, &objects, &included, &mut o)?;
    }
    Ok(o.stats)
}

/// The objects of one database, in the order of the module docs.
fn dump_database(
    plan: &Plan,
    cat: &Catalog,
    db: &pb::Descriptor,
    objects: &[&pb::Descriptor],
    included: &BTreeSet<u64>,
    o: &mut Out<'_>,
) -> Result<()> {
    let of_kind = |k: Kind| -> Vec<&pb::Descriptor> {
        objects
            .iter()
            .copied()
            .filter(|d| Kind::of(d) == Some(k))
            .collect()
    };
    for s in of_kind(Kind::Schema) {
        if s.name != "public" {
            o.stmt(&format!(
                "CREATE SCHEMA {}.{}",
                ident(&db.name),
                ident(&s.name)
            ))?;
        }
    }
    for t in of_kind(Kind::Type) {
        o.stmt(&create_type(cat, t))?;
        o.stats.types += 1;
    }
    let tables = fk_order(&of_kind(Kind::Table));
    for t in &tables {
        o.stmt(&create_table(cat, t, included))?;
        o.stats.tables += 1;
    }
    for t in &tables {
        for ix in create_indexes(cat, t) {
            o.stmt(&ix)?;
            o.stats.indexes += 1;
        }
    }
    for t in &tables {
        insert_rows(plan, cat, t, o)?;
    }
    for v in view_order(&of_kind(Kind::View)) {
        if let Some(pb::descriptor::Kind::View(view)) = &v.kind {
            o.stmt(&format!(
                "CREATE VIEW {} AS {}",
                qualified(cat, v),
                view.query
            ))?;
            o.stats.views += 1;
        }
    }
    Ok(())
}

// ---- ordering --------------------------------------------------------------------------

/// Orders `items` so that every item comes after the items it depends on (`deps`, ids
/// among `items`; others ignored), ties by id. Items on a cycle (which the catalog does not
/// allow) follow in id order.
fn topo<'a>(
    items: &[&'a pb::Descriptor],
    deps: impl Fn(&pb::Descriptor) -> Vec<u64>,
) -> Vec<&'a pb::Descriptor> {
    let ids: BTreeSet<u64> = items.iter().map(|d| d.id).collect();
    let mut waiting: BTreeMap<u64, BTreeSet<u64>> = items
        .iter()
        .map(|d| {
            let ds = deps(d)
                .into_iter()
                .filter(|x| *x != d.id && ids.contains(x))
                .collect();
            (d.id, ds)
        })
        .collect();
    let by_id: BTreeMap<u64, &'a pb::Descriptor> = items.iter().map(|d| (d.id, *d)).collect();
    let mut out = Vec::with_capacity(items.len());
    while !waiting.is_empty() {
        let ready = waiting
            .iter()
            .find(|(_, ds)| ds.is_empty())
            .map(|(id, _)| *id)
            .or_else(|| waiting.keys().next().copied());
        let Some(id) = ready else { break };
        waiting.remove(&id);
        for ds in waiting.values_mut() {
            ds.remove(&id);
        }
        if let Some(d) = by_id.get(&id) {
            out.push(*d);
        }
    }
    out
}

/// Tables, referenced tables first.
fn fk_order<'a>(tables: &[&'a pb::Descriptor]) -> Vec<&'a pb::Descriptor> {
    topo(tables, |d| {
        schema::table(d)
            .map(|t| {
                t.foreign_keys
                    .iter()
                    .map(|f| f.referenced_table_id)
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Views, the views they read first.
fn view_order<'a>(views: &[&'a pb::Descriptor]) -> Vec<&'a pb::Descriptor> {
    topo(views, |d| match &d.kind {
        Some(pb::descriptor::Kind::View(v)) => v.depends_on.clone(),
        _ => Vec::new(),
    })
}

// ---- names -----------------------------------------------------------------------------

/// CockroachDB's reserved keywords: names spelled like them are quoted.
const RESERVED: &[&str] = &[
    "all",
    "analyse",
    "analyze",
    "and",
    "any",
    "array",
    "as",
    "asc",
    "asymmetric",
    "both",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "concurrently",
    "constraint",
    "create",
    "current_catalog",
    "current_date",
    "current_role",
    "current_schema",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "deferrable",
    "desc",
    "distinct",
    "do",
    "else",
    "end",
    "except",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "grant",
    "group",
    "having",
    "in",
    "index",
    "initially",
    "intersect",
    "into",
    "lateral",
    "leading",
    "limit",
    "localtime",
    "localtimestamp",
    "not",
    "nothing",
    "null",
    "offset",
    "on",
    "only",
    "or",
    "order",
    "placing",
    "primary",
    "references",
    "returning",
    "select",
    "session_user",
    "some",
    "symmetric",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "user",
    "using",
    "variadic",
    "when",
    "where",
    "window",
    "with",
];

/// A name as SQL: bare when it is a lower-case identifier and not reserved, otherwise in
/// double quotes (`"` doubled).
pub fn ident(name: &str) -> String {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `db.schema.name` of an object.
fn qualified(cat: &Catalog, d: &pb::Descriptor) -> String {
    let (db, sc) = cat.qualifiers(d);
    let sc = if sc.is_empty() { "public".into() } else { sc };
    format!("{}.{}.{}", ident(&db), ident(&sc), ident(&d.name))
}

fn column_name(t: &pb::Table, id: u32) -> String {
    t.columns
        .iter()
        .find(|c| c.id == id)
        .map_or_else(|| format!("\"@{id}\""), |c| ident(&c.name))
}

fn list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

// ---- schema ----------------------------------------------------------------------------

/// Members of an enum in the enum's order (their physical representations' byte order).
fn enum_members(d: &pb::Descriptor) -> Vec<&pb::EnumMember> {
    let mut m: Vec<&pb::EnumMember> = match &d.kind {
        Some(pb::descriptor::Kind::EnumType(e)) => e.members.iter().collect(),
        _ => Vec::new(),
    };
    m.sort_by(|a, b| a.physical.cmp(&b.physical));
    m
}

fn create_type(cat: &Catalog, d: &pb::Descriptor) -> String {
    format!(
        "CREATE TYPE {} AS ENUM ({})",
        qualified(cat, d),
        list(enum_members(d).iter().map(|m| string_literal(&m.label)))
    )
}

/// The SQL type of a column: the names `SHOW CREATE` prints; an enum by its bare name
/// (it lives in the table's database).
fn column_type(cat: &Catalog, c: &pb::Column) -> String {
    match schema::column_type(c.r#type) {
        Ok(ColumnType::Enum) => cat
            .get(c.enum_type_id)
            .map_or_else(|| format!("\"@{}\"", c.enum_type_id), |d| ident(&d.name)),
        _ => crate::show::type_name(cat, c),
    }
}

fn direction(descending: &[bool], i: usize) -> &'static str {
    if descending.get(i).copied().unwrap_or(false) {
        "DESC"
    } else {
        "ASC"
    }
}

/// `CREATE TABLE db.public.t (columns, primary key, foreign keys)`; secondary indexes
/// follow as `CREATE INDEX` statements ([`create_indexes`]).
fn create_table(cat: &Catalog, d: &pb::Descriptor, included: &BTreeSet<u64>) -> String {
    let Some(t) = schema::table(d) else {
        return String::new();
    };
    let mut lines: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            format!(
                "\t{} {} {}",
                ident(&c.name),
                column_type(cat, c),
                if c.nullable { "NULL" } else { "NOT NULL" }
            )
        })
        .collect();
    if let Some(pk) = &t.primary_index {
        lines.push(format!(
            "\tCONSTRAINT {} PRIMARY KEY ({})",
            ident(&pk.name),
            list(pk.column_ids.iter().enumerate().map(|(i, id)| format!(
                "{} {}",
                column_name(t, *id),
                direction(&pk.descending, i)
            )))
        ));
    }
    let mut omitted = Vec::new();
    for fk in &t.foreign_keys {
        let parent = cat.get(fk.referenced_table_id);
        let Some((p, pt)) = parent
            .filter(|_| included.contains(&fk.referenced_table_id))
            .and_then(|p| schema::table(p).map(|pt| (p, pt)))
        else {
            omitted.push(format!(
                "-- foreign key {} of {} left out: its table {} is not in this dump\n",
                fk.name,
                qualified(cat, d),
                parent.map_or_else(
                    || format!("(id {})", fk.referenced_table_id),
                    |p| qualified(cat, p)
                )
            ));
            continue;
        };
        lines.push(format!(
            "\tCONSTRAINT {} FOREIGN KEY ({}) REFERENCES {}({})",
            ident(&fk.name),
            list(fk.column_ids.iter().map(|id| column_name(t, *id))),
            qualified(cat, p),
            list(
                fk.referenced_column_ids
                    .iter()
                    .map(|id| column_name(pt, *id))
            )
        ));
    }
    let mut s = omitted.concat();
    s.push_str(&format!(
        "CREATE TABLE {} (\n{}\n)",
        qualified(cat, d),
        lines.join(",\n")
    ));
    if t.exclude_data_from_backup {
        s.push_str(" WITH (exclude_data_from_backup = true)");
    }
    s
}

/// `CREATE [UNIQUE] INDEX name ON db.public.t (cols) [STORING (cols)]`, one per secondary
/// index, in index order.
fn create_indexes(cat: &Catalog, d: &pb::Descriptor) -> Vec<String> {
    let Some(t) = schema::table(d) else {
        return Vec::new();
    };
    t.secondary_indexes
        .iter()
        .map(|ix| {
            let mut s = format!(
                "CREATE {}INDEX {} ON {} ({})",
                if ix.unique { "UNIQUE " } else { "" },
                ident(&ix.name),
                qualified(cat, d),
                list(ix.column_ids.iter().enumerate().map(|(i, id)| format!(
                    "{} {}",
                    column_name(t, *id),
                    direction(&ix.descending, i)
                )))
            );
            if !ix.store_column_ids.is_empty() {
                s.push_str(&format!(
                    " STORING ({})",
                    list(ix.store_column_ids.iter().map(|id| column_name(t, *id)))
                ));
            }
            s
        })
        .collect()
}

// ---- rows ------------------------------------------------------------------------------

/// A string literal: single quotes, `'` doubled.
pub fn string_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// A `FLOAT8` literal: the shortest text that reads back to the same value (Rust's `{:?}`,
/// exponent form for very large and small magnitudes), specials as `'NaN'::FLOAT8`,
/// `'+Inf'::FLOAT8`, `'-Inf'::FLOAT8`.
pub fn float_literal(f: f64) -> String {
    if f.is_nan() {
        "'NaN'::FLOAT8".into()
    } else if f.is_infinite() {
        format!("'{}Inf'::FLOAT8", if f > 0.0 { '+' } else { '-' })
    } else {
        format!("{f:?}")
    }
}

/// `YYYY-MM-DD` (years outside 0..=9999 as signed numbers).
fn uuid_text(u: &[u8; 16]) -> String {
    let h = hex::encode(u);
    let part = |a: usize, b: usize| h.get(a..b).unwrap_or_default().to_string();
    format!(
        "{}-{}-{}-{}-{}",
        part(0, 8),
        part(8, 12),
        part(12, 16),
        part(16, 20),
        part(20, 32)
    )
}

/// A datum as a SQL literal (`spec/dump.md` §3). `members` are the column's enum members
/// (enum columns only); an enum value with no member is an error naming it.
pub fn literal(d: &Datum, members: &[&pb::EnumMember]) -> Result<String> {
    Ok(match d {
        Datum::Null => "NULL".into(),
        Datum::Int(i) => i.to_string(),
        Datum::Float(f) => float_literal(*f),
        Datum::Decimal(x) => x.to_string(),
        Datum::String(s) => string_literal(s),
        Datum::Bytes(b) => format!("'\\x{}'", hex::encode(b)),
        Datum::Bool(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        Datum::Date(days) => format!("'{}'", time::format_sql_date(*days)),
        Datum::Timestamp(us) => format!("'{}'", time::format_sql_timestamp(*us)),
        Datum::Uuid(u) => format!("'{}'", uuid_text(u)),
        Datum::Json(v) => string_literal(&v.to_string()),
        Datum::Enum(p) => members
            .iter()
            .find(|m| &m.physical == p)
            .map(|m| string_literal(&m.label))
            .ok_or_else(|| {
                Error::refused(
                    ErrorKind::DataMismatch,
                    format!(
                        "enum value {} is not a member of the column's type",
                        hex::encode(p)
                    ),
                )
            })?,
    })
}

/// `INSERT`s of every row of `d` live at the plan's time, [`ROWS_PER_INSERT`] a statement.
fn insert_rows(plan: &Plan, cat: &Catalog, d: &pb::Descriptor, o: &mut Out<'_>) -> Result<()> {
    let Some(t) = schema::table(d) else {
        return Ok(());
    };
    if t.exclude_data_from_backup {
        return Ok(());
    }
    let layouts = index_layouts(d).map_err(|e| Error::Format {
        context: format!("table {}", qualified(cat, d)),
        source: e,
    })?;
    let Some(primary) = layouts.iter().find(|l| l.primary) else {
        return Ok(());
    };
    let members: Vec<Vec<&pb::EnumMember>> = t
        .columns
        .iter()
        .map(|c| {
            cat.get(c.enum_type_id)
                .map(enum_members)
                .unwrap_or_default()
        })
        .collect();
    let types = primary.key_types();
    let name = qualified(cat, d);
    let head = format!(
        "INSERT INTO {name} ({}) VALUES\n\t",
        list(t.columns.iter().map(|c| ident(&c.name)))
    );
    let mut in_batch = 0usize;
    let mut row_text = String::new();
    let stats = plan.scan_table(d.id, &mut |_| {}, |key, payload| -> Result<()> {
        let (_, index, _) = keys::decode_table_prefix(key).map_err(|e| Error::Format {
            context: format!("table {name}: key {}", hex::encode(key)),
            source: e,
        })?;
        if index != u64::from(primary.id) {
            return Ok(());
        }
        let (_, _, pk) = keys::decode_index_key(key, &types).map_err(|e| Error::Format {
            context: format!(
                "table {name} index {}: key {}",
                primary.name,
                hex::encode(key)
            ),
            source: e,
        })?;
        let row = primary.assemble_row(d, &pk, payload).map_err(|e| {
            Error::refused(
                ErrorKind::DataMismatch,
                format!(
                    "table {name}: row at key {} does not decode: {e}",
                    hex::encode(key)
                ),
            )
        })?;
        row_text.clear();
        row_text.push('(');
        for (i, datum) in row.iter().enumerate() {
            if i > 0 {
                row_text.push_str(", ");
            }
            let ms = members.get(i).map(Vec::as_slice).unwrap_or_default();
            let lit = literal(datum, ms).map_err(|e| {
                Error::refused(
                    ErrorKind::DataMismatch,
                    format!(
                        "table {name}, column {}, row at key {}: {e}",
                        t.columns.get(i).map_or("?", |c| c.name.as_str()),
                        hex::encode(key)
                    ),
                )
            })?;
            row_text.push_str(&lit);
        }
        row_text.push(')');
        if in_batch == 0 {
            o.put(&head)?;
        } else {
            o.put(",\n\t")?;
        }
        o.put(&row_text)?;
        in_batch += 1;
        o.stats.rows += 1;
        if in_batch == ROWS_PER_INSERT {
            o.stmt("")?;
            in_batch = 0;
        }
        Ok(())
    })?;
    if in_batch > 0 {
        o.stmt("")?;
    }
    o.stats.file_bytes += stats.file_bytes;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_when_they_must_be() {
        assert_eq!(ident("users"), "users");
        assert_eq!(ident("type"), "type");
        assert_eq!(ident("user"), "\"user\"");
        assert_eq!(ident("Mixed"), "\"Mixed\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(ident("1st"), "\"1st\"");
        assert_eq!(ident(""), "\"\"");
    }

    #[test]
    fn float_literals_read_back_exactly() {
        for f in [
            0.1,
            -0.0,
            1.0,
            1e300,
            -2.5e-300,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
            123456.789,
        ] {
            let s = float_literal(f);
            assert_eq!(s.parse::<f64>().unwrap().to_bits(), f.to_bits(), "{s}");
        }
        assert_eq!(float_literal(f64::NAN), "'NaN'::FLOAT8");
        assert_eq!(float_literal(f64::INFINITY), "'+Inf'::FLOAT8");
        assert_eq!(float_literal(f64::NEG_INFINITY), "'-Inf'::FLOAT8");
        assert_eq!(float_literal(1e300), "1e300");
        assert_eq!(float_literal(-0.0), "-0.0");
    }

    #[test]
    fn enum_values_without_a_member_are_errors() {
        let m = pb::EnumMember {
            label: "it's".into(),
            physical: vec![0x40],
        };
        assert_eq!(literal(&Datum::Enum(vec![0x40]), &[&m]).unwrap(), "'it''s'");
        assert_eq!(
            literal(&Datum::Enum(vec![0x41]), &[&m])
                .unwrap_err()
                .to_string(),
            "enum value 41 is not a member of the column's type"
        );
    }
}
