//! Zone configurations and partitions, as the pages write them:
//!
//! ```text
//! ALTER (RANGE default | DATABASE d | TABLE t | INDEX t@i | PARTITION p OF (INDEX t@i | TABLE t))
//!     CONFIGURE ZONE (USING var = value [, …] | DISCARD)
//! SHOW ZONE CONFIGURATION FOR (RANGE default | DATABASE d | TABLE t | INDEX t@i | PARTITION p OF …)
//! SHOW ZONE CONFIGURATIONS
//! ALTER (TABLE t | INDEX t@i) PARTITION BY LIST (cols) (PARTITION p VALUES IN (v, …), …)
//! ```
//!
//! Variables: `gc.ttlseconds`, `num_replicas`, `constraints` (a list `'[+region=…]'`).
//! The rules (inheritance, leaseholders) are the cluster's (`vouch_cluster::ZoneTarget`).

use vouch_cluster::{ZoneConfig, ZoneTarget};
use vouch_engine::output::Table;
use vouch_format::keys::Datum;
use vouch_format::manifest::pb;
use vouch_format::schema;

use super::admin::{end, kw, name, tokens, unexpected, Tok};
use super::names::unsupported;
use crate::{Error, Output, Result, Session};

/// Whether this module answers `stmt`.
pub(super) fn handles(stmt: &str) -> bool {
    let Ok(t) = tokens(stmt) else { return false };
    let has = |w: &str| t.iter().any(|x| kw(Some(x), w));
    let (a, b) = (t.first(), t.get(1));
    (kw(a, "alter")
        && (kw(b, "range")
            || kw(b, "database")
            || kw(b, "table")
            || kw(b, "index")
            || kw(b, "partition"))
        && (has("configure") || (has("partition") && has("list"))))
        || (kw(a, "show") && kw(b, "zone"))
}

/// A zone target as named in the statement, resolved.
struct Named {
    target: ZoneTarget,
    /// `TABLE movr.public.rides`, as SHOW ZONE CONFIGURATION prints targets.
    text: String,
}

/// `db.t`, `db.public.t` or `t` at `i` → (database, table, position after).
fn qualified(s: &Session<'_>, t: &[Tok], i: usize) -> Result<(String, String, usize)> {
    let mut parts = Vec::new();
    let (first, mut n) = name(t, i)?;
    parts.push(first);
    while t.get(n) == Some(&Tok::Period) {
        let (p, m) = name(t, n + 1)?;
        parts.push(p);
        n = m;
    }
    let (db, table) = match parts.as_slice() {
        [x] => (s.database().to_string(), x.clone()),
        [db, x] => (db.clone(), x.clone()),
        [db, sc, x] if sc == "public" => (db.clone(), x.clone()),
        _ => {
            return Err(Error::Usage(format!(
                "name \"{}\": expected table, database.table or database.public.table",
                parts.join(".")
            )))
        }
    };
    Ok((db, table, n))
}

fn is_at(t: Option<&Tok>) -> bool {
    matches!(t, Some(Tok::Other(x)) if x == "@")
}

fn index_named<'a>(d: &'a pb::Descriptor, name: &str) -> Result<&'a pb::Index> {
    let t = schema::table(d).ok_or_else(|| Error::Usage(format!("{} is not a table", d.name)))?;
    let pkey = format!("{}_pkey", d.name);
    t.primary_index
        .iter()
        .find(|i| i.name == name || name == pkey || name == "primary")
        .or_else(|| t.secondary_indexes.iter().find(|i| i.name == name))
        .ok_or_else(|| {
            Error::Cluster(vouch_cluster::Error::UndefinedObject(format!(
                "index \"{name}\" does not exist"
            )))
        })
}

/// `t@i` (the table qualified or not) at `i`.
fn index_ref(s: &Session<'_>, t: &[Tok], i: usize) -> Result<(pb::Descriptor, u32, String, usize)> {
    let (db, table, n) = qualified(s, t, i)?;
    if !is_at(t.get(n)) {
        return Err(match t.get(n) {
            Some(x) => unexpected(x),
            None => Error::Syntax("at end of input: expected table@index".into()),
        });
    }
    let (ix, n) = name(t, n + 1)?;
    let d = s.cluster().table(&db, &table)?;
    let index = index_named(&d, &ix)?;
    let text = format!("{db}.public.{table}@{}", index.name);
    Ok((d.clone(), index.id, text, n))
}

/// The target after `ALTER` / `FOR` at `i`.
fn target(s: &Session<'_>, t: &[Tok], i: usize) -> Result<(Named, usize)> {
    let cat = s.cluster().catalog(s.cluster().now())?;
    if kw(t.get(i), "range") {
        if !kw(t.get(i + 1), "default") {
            return Err(unsupported(
                "zone configurations of named ranges other than default",
            ));
        }
        let target = ZoneTarget::Default;
        return Ok((
            Named {
                target,
                text: "RANGE default".into(),
            },
            i + 2,
        ));
    }
    if kw(t.get(i), "database") {
        let (db, n) = name(t, i + 1)?;
        let d = cat.database(&db).ok_or_else(|| {
            Error::Cluster(vouch_cluster::Error::UndefinedObject(format!(
                "database \"{db}\" does not exist"
            )))
        })?;
        return Ok((
            Named {
                target: ZoneTarget::Database(d.id),
                text: format!("DATABASE {db}"),
            },
            n,
        ));
    }
    if kw(t.get(i), "table") {
        let (db, table, n) = qualified(s, t, i + 1)?;
        let d = s.cluster().table(&db, &table)?;
        return Ok((
            Named {
                target: ZoneTarget::Table(d.id),
                text: format!("TABLE {db}.public.{table}"),
            },
            n,
        ));
    }
    if kw(t.get(i), "index") {
        let (d, ix, text, n) = index_ref(s, t, i + 1)?;
        return Ok((
            Named {
                target: ZoneTarget::Index(d.id, ix),
                text: format!("INDEX {text}"),
            },
            n,
        ));
    }
    if kw(t.get(i), "partition") {
        let (p, n) = name(t, i + 1)?;
        if !kw(t.get(n), "of") {
            return Err(t.get(n).map_or_else(
                || Error::Syntax("at end of input: expected OF".into()),
                unexpected,
            ));
        }
        let (d, ix, text, n) = if kw(t.get(n + 1), "index") {
            index_ref(s, t, n + 2)?
        } else if kw(t.get(n + 1), "table") {
            let (db, table, m) = qualified(s, t, n + 2)?;
            let d = s.cluster().table(&db, &table)?;
            let primary = index_named(&d, "primary")?;
            let text = format!("{db}.public.{table}@{}", primary.name);
            let id = primary.id;
            (d, id, text, m)
        } else {
            return Err(t.get(n + 1).map_or_else(
                || Error::Syntax("at end of input: expected INDEX or TABLE".into()),
                unexpected,
            ));
        };
        return Ok((
            Named {
                target: ZoneTarget::Partition(d.id, ix, p.clone()),
                text: format!("PARTITION {p} OF INDEX {text}"),
            },
            n,
        ));
    }
    Err(t.get(i).map_or_else(
        || {
            Error::Syntax(
                "at end of input: expected RANGE, DATABASE, TABLE, INDEX or PARTITION".into(),
            )
        },
        unexpected,
    ))
}

/// Runs one of the statements [`handles`] accepts.
pub(super) fn execute(s: &Session<'_>, stmt: &str) -> Result<Output> {
    let t = tokens(stmt)?;
    if kw(t.first(), "show") {
        return show(s, &t);
    }
    let (named, n) = target(s, &t, 1)?;
    if kw(t.get(n), "partition") && kw(t.get(n + 1), "by") {
        return partition_by(s, &t, &named, n + 2);
    }
    if !(kw(t.get(n), "configure") && kw(t.get(n + 1), "zone")) {
        return Err(t.get(n).map_or_else(
            || Error::Syntax("at end of input: expected CONFIGURE ZONE".into()),
            unexpected,
        ));
    }
    let n = n + 2;
    if kw(t.get(n), "discard") {
        end(&t, n + 1)?;
        s.cluster().discard_zone(&named.target)?;
        return Ok(Output::Tag("CONFIGURE ZONE 1".into()));
    }
    if !kw(t.get(n), "using") {
        return Err(t.get(n).map_or_else(
            || Error::Syntax("at end of input: expected USING or DISCARD".into()),
            unexpected,
        ));
    }
    let change = settings(&t, n + 1)?;
    s.cluster().configure_zone(&named.target, &change)?;
    Ok(Output::Tag("CONFIGURE ZONE 1".into()))
}

/// `var = value, …` from `i` to the end.
fn settings(t: &[Tok], mut i: usize) -> Result<ZoneConfig> {
    let mut z = ZoneConfig::default();
    loop {
        let (mut var, mut n) = name(t, i)?;
        while t.get(n) == Some(&Tok::Period) {
            let (p, m) = name(t, n + 1)?;
            var = format!("{var}.{p}");
            n = m;
        }
        if !matches!(t.get(n), Some(Tok::Other(x)) if x == "=") {
            return Err(t.get(n).map_or_else(
                || Error::Syntax(format!("at end of input: expected = after {var}")),
                unexpected,
            ));
        }
        let value = t.get(n + 1);
        let number = |what: &str| -> Result<u64> {
            match value {
                Some(Tok::Other(x)) => x.parse::<u64>().map_err(|_| {
                    Error::Usage(format!("{what}: \"{x}\" is not a non-negative integer"))
                }),
                Some(x) => Err(unexpected(x)),
                None => Err(Error::Syntax(format!(
                    "at end of input: {what} needs a value"
                ))),
            }
        };
        match var.as_str() {
            "gc.ttlseconds" => z.gc_ttl_seconds = Some(number("gc.ttlseconds")?),
            "num_replicas" => {
                let v = number("num_replicas")?;
                if v == 0 {
                    return Err(Error::Usage("at least one replica is required".into()));
                }
                z.num_replicas = Some(v);
            }
            "constraints" => match value {
                Some(Tok::Str(c)) => z.constraints = Some(c.clone()),
                Some(x) => return Err(unexpected(x)),
                None => {
                    return Err(Error::Syntax(
                        "at end of input: constraints needs a value".into(),
                    ))
                }
            },
            other => return Err(unsupported(&format!("zone configuration variable {other}"))),
        }
        i = n + 2;
        match t.get(i) {
            None => return Ok(z),
            Some(Tok::Comma) => i += 1,
            Some(x) => return Err(unexpected(x)),
        }
    }
}

/// The SQL that sets `z` on `text`, as SHOW ZONE CONFIGURATION prints it.
fn raw_sql(text: &str, z: &ZoneConfig) -> String {
    format!(
        "ALTER {text} CONFIGURE ZONE USING gc.ttlseconds = {}, num_replicas = {}, constraints = '{}'",
        z.gc_ttl_seconds.unwrap_or(vouch_cluster::DEFAULT_GC_TTL_SECS),
        z.num_replicas.unwrap_or(vouch_cluster::DEFAULT_NUM_REPLICAS),
        z.constraints.as_deref().unwrap_or("[]"),
    )
}

fn show(s: &Session<'_>, t: &[Tok]) -> Result<Output> {
    let c = s.cluster();
    let now = c.now();
    let mut out = Table::new(&["target", "raw_config_sql"]);
    if kw(t.get(2), "configurations") {
        end(t, 3)?;
        for (target, text) in c.zone_targets(now)? {
            let z = c.effective_zone(&target, now)?;
            out.rows
                .push(vec![Some(text.clone()), Some(raw_sql(&text, &z))]);
        }
        return Ok(Output::Rows(out));
    }
    if !(kw(t.get(2), "configuration") && kw(t.get(3), "for")) {
        return Err(t.get(2).map_or_else(
            || Error::Syntax("at end of input: expected CONFIGURATION FOR".into()),
            unexpected,
        ));
    }
    let (named, n) = target(s, t, 4)?;
    end(t, n)?;
    // CockroachDB shows the level the configuration comes from: the target's own, else
    // the nearest level above it that has one.
    let mut shown = (named.target.clone(), named.text.clone());
    for (target, text) in c.zone_chain(&named.target, now)? {
        if c.zone_config(&target, now)?.is_some() {
            shown = (target, text);
            break;
        }
        shown = (target, text);
    }
    let z = c.effective_zone(&named.target, now)?;
    out.rows
        .push(vec![Some(shown.1.clone()), Some(raw_sql(&shown.1, &z))]);
    Ok(Output::Rows(out))
}

/// `PARTITION BY LIST (cols) (PARTITION p VALUES IN (v, …), …)` from `i` (after `BY`).
fn partition_by(s: &Session<'_>, t: &[Tok], named: &Named, i: usize) -> Result<Output> {
    let (table_id, index_id) = match &named.target {
        ZoneTarget::Table(id) => {
            let d = s.cluster().descriptor(*id, s.cluster().now())?;
            (*id, index_named(&d, "primary")?.id)
        }
        ZoneTarget::Index(id, ix) => (*id, *ix),
        _ => {
            return Err(unsupported(
                "PARTITION BY on anything but a table or an index",
            ))
        }
    };
    let (columns, partitions, n) = parse_partition_by(s, t, i, table_id, index_id)?;
    end(t, n)?;
    s.cluster()
        .partition_by_list(table_id, index_id, &columns, &partitions)?;
    Ok(Output::Tag("ALTER TABLE".into()))
}

/// Checks that `clause` starts `PARTITION BY LIST (`.
pub(super) fn check_partition_syntax(clause: &str) -> Result<()> {
    let t = tokens(clause)?;
    if !(kw(t.first(), "partition") && kw(t.get(1), "by")) {
        return Err(Error::Syntax("expected PARTITION BY".into()));
    }
    if kw(t.get(2), "range") {
        return Err(unsupported("PARTITION BY RANGE"));
    }
    if !kw(t.get(2), "list") {
        return Err(t.get(2).map_or_else(
            || Error::Syntax("at end of input: expected LIST".into()),
            unexpected,
        ));
    }
    Ok(())
}

/// A CREATE TABLE's trailing `PARTITION BY LIST …` on its primary index.
pub(super) fn partition_table(s: &Session<'_>, table_id: u64, clause: &str) -> Result<()> {
    let t = tokens(clause)?;
    let d = s.cluster().descriptor(table_id, s.cluster().now())?;
    let index_id = index_named(&d, "primary")?.id;
    let (columns, partitions, n) = parse_partition_by(s, &t, 2, table_id, index_id)?;
    end(&t, n)?;
    s.cluster()
        .partition_by_list(table_id, index_id, &columns, &partitions)?;
    Ok(())
}

fn punct(t: &[Tok], i: usize, p: &str) -> Result<()> {
    match t.get(i) {
        Some(Tok::Other(x)) if x == p => Ok(()),
        Some(x) => Err(unexpected(x)),
        None => Err(Error::Syntax(format!("at end of input: expected {p}"))),
    }
}

type Partitions = Vec<(String, Vec<Vec<Datum>>)>;

/// `LIST (cols) (PARTITION p VALUES IN (v, …), …)` from `i`; returns the position after.
pub(super) fn parse_partition_by(
    s: &Session<'_>,
    t: &[Tok],
    i: usize,
    table_id: u64,
    index_id: u32,
) -> Result<(Vec<String>, Partitions, usize)> {
    if !kw(t.get(i), "list") {
        return Err(match t.get(i) {
            Some(Tok::Word { text, .. }) if text == "range" => unsupported("PARTITION BY RANGE"),
            Some(x) => unexpected(x),
            None => Error::Syntax("at end of input: expected LIST".into()),
        });
    }
    punct(t, i + 1, "(")?;
    let mut columns = Vec::new();
    let mut n = i + 2;
    loop {
        let (c, m) = name(t, n)?;
        columns.push(c);
        n = m;
        match t.get(n) {
            Some(Tok::Comma) => n += 1,
            _ => break,
        }
    }
    punct(t, n, ")")?;
    punct(t, n + 1, "(")?;
    n += 2;
    let d = s.cluster().descriptor(table_id, s.cluster().now())?;
    let layouts = schema::index_layouts(&d)?;
    let layout = layouts
        .iter()
        .find(|l| l.id == index_id)
        .ok_or_else(|| Error::Usage(format!("index {index_id} does not exist")))?;
    let types: Vec<vouch_format::keys::ColumnType> =
        layout.key_columns.iter().map(|(_, ty, _)| *ty).collect();
    let mut partitions = Vec::new();
    loop {
        if !kw(t.get(n), "partition") {
            return Err(t.get(n).map_or_else(
                || Error::Syntax("at end of input: expected PARTITION".into()),
                unexpected,
            ));
        }
        let (p, m) = name(t, n + 1)?;
        if !(kw(t.get(m), "values") && kw(t.get(m + 1), "in")) {
            return Err(t.get(m).map_or_else(
                || Error::Syntax("at end of input: expected VALUES IN".into()),
                unexpected,
            ));
        }
        punct(t, m + 2, "(")?;
        n = m + 3;
        let mut values = Vec::new();
        loop {
            // A value is one literal, or a tuple (a, b) for several columns.
            let mut tuple = Vec::new();
            let tupled = matches!(t.get(n), Some(Tok::Other(x)) if x == "(");
            if tupled {
                n += 1;
            }
            loop {
                let ty = types.get(tuple.len()).copied();
                tuple.push(literal(t.get(n), ty, &p)?);
                n += 1;
                if tupled && t.get(n) == Some(&Tok::Comma) {
                    n += 1;
                    continue;
                }
                break;
            }
            if tupled {
                punct(t, n, ")")?;
                n += 1;
            }
            values.push(tuple);
            match t.get(n) {
                Some(Tok::Comma) => n += 1,
                _ => break,
            }
        }
        punct(t, n, ")")?;
        partitions.push((p, values));
        n += 1;
        match t.get(n) {
            Some(Tok::Comma) => n += 1,
            _ => break,
        }
    }
    punct(t, n, ")")?;
    Ok((columns, partitions, n + 1))
}

fn literal(t: Option<&Tok>, ty: Option<vouch_format::keys::ColumnType>, p: &str) -> Result<Datum> {
    use vouch_format::keys::ColumnType as C;
    match (t, ty) {
        (
            Some(Tok::Word {
                text,
                quoted: false,
            }),
            _,
        ) if text == "default" => Err(unsupported("DEFAULT partitions")),
        (Some(Tok::Str(v)), Some(C::String)) => Ok(Datum::String(v.clone())),
        (Some(Tok::Other(v)), Some(C::Int)) => v
            .parse::<i64>()
            .map(Datum::Int)
            .map_err(|_| Error::Usage(format!("PARTITION {p}: \"{v}\" is not an INT"))),
        (
            Some(Tok::Word {
                text,
                quoted: false,
            }),
            Some(C::Bool),
        ) if text == "true" || text == "false" => Ok(Datum::Bool(text == "true")),
        (Some(x), Some(C::String | C::Int | C::Bool)) => Err(Error::Usage(format!(
            "PARTITION {p}: {} does not fit the partitioning column's type",
            match x {
                Tok::Str(v) => format!("'{v}'"),
                Tok::Word { text, .. } | Tok::Other(text) => text.clone(),
                Tok::Period => ".".into(),
                Tok::Comma => ",".into(),
            }
        ))),
        (Some(_), Some(other)) => Err(unsupported(&format!("partitioning on a {other:?} column"))),
        (Some(_), None) => Err(Error::Usage(format!(
            "PARTITION {p}: more values than partitioning columns"
        ))),
        (None, _) => Err(Error::Syntax("at end of input: expected a value".into())),
    }
}
