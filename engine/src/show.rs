//! SHOW BACKUPS and SHOW BACKUP [SCHEMAS], with CockroachDB's columns, as
//! [`Table`]s (printed by [`crate::output`]).

use vouch_format::layout;
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{self, parents, Catalog, Kind};
use vouch_format::time::format_sql;

use crate::output::{Cell, Table};
use crate::{Error, ErrorKind, Result};
use vouch_chain::{Chain, Collection};

/// `SHOW BACKUPS IN uri`: the full backups' paths, oldest first (newest last).
pub fn show_backups(coll: &Collection) -> Result<Table> {
    let mut t = Table::new(&["path"]);
    for f in coll.full_backups()? {
        t.rows.push(vec![Some(layout::display_subdir(&f))]);
    }
    Ok(t)
}

/// Options of SHOW BACKUP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShowOptions {
    /// `SHOW BACKUP SCHEMAS`: add `create_statement`.
    pub schemas: bool,
    /// `WITH check_files`: stat every file, add `file_bytes`.
    pub check_files: bool,
    /// `WITH debug_ids`: add ids.
    pub debug_ids: bool,
}

/// SQL name of a column's type.
pub fn type_name(cat: &Catalog, c: &pb::Column) -> String {
    match schema::column_type(c.r#type) {
        Ok(vouch_format::keys::ColumnType::Int) => "INT8".into(),
        Ok(vouch_format::keys::ColumnType::Float) => "FLOAT8".into(),
        Ok(vouch_format::keys::ColumnType::Enum) => cat
            .get(c.enum_type_id)
            .map_or_else(|| format!("@{}", c.enum_type_id), |d| d.name.clone()),
        Ok(t) => t.name().into(),
        Err(_) => format!("UNKNOWN({})", c.r#type),
    }
}

fn quote_list(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// A `CREATE …` statement for a descriptor, like SHOW CREATE prints it.
pub fn create_statement(cat: &Catalog, d: &pb::Descriptor) -> String {
    use pb::descriptor::Kind as K;
    match &d.kind {
        Some(K::Database(_)) => format!("CREATE DATABASE {}", d.name),
        Some(K::Schema(_)) => format!("CREATE SCHEMA {}", d.name),
        Some(K::EnumType(e)) => format!(
            "CREATE TYPE {}.public.{} AS ENUM ({})",
            cat.qualifiers(d).0,
            d.name,
            quote_list(
                e.members
                    .iter()
                    .map(|m| format!("'{}'", m.label.replace('\'', "''")))
            )
        ),
        Some(K::View(v)) => format!("CREATE VIEW public.{} AS {}", d.name, v.query),
        Some(K::Table(t)) => {
            let col_name = |id: &u32| {
                t.columns
                    .iter()
                    .find(|c| c.id == *id)
                    .map_or_else(|| format!("@{id}"), |c| c.name.clone())
            };
            let mut lines: Vec<String> = t
                .columns
                .iter()
                .map(|c| {
                    format!(
                        "\t{} {}{}",
                        c.name,
                        type_name(cat, c),
                        if c.nullable { " NULL" } else { " NOT NULL" }
                    )
                })
                .collect();
            if let Some(pk) = &t.primary_index {
                lines.push(format!(
                    "\tCONSTRAINT {} PRIMARY KEY ({})",
                    pk.name,
                    quote_list(
                        pk.column_ids
                            .iter()
                            .map(|id| format!("{} ASC", col_name(id)))
                    )
                ));
            }
            for fk in &t.foreign_keys {
                let parent = cat.get(fk.referenced_table_id);
                let pname = parent.map_or_else(
                    || format!("[{}]", fk.referenced_table_id),
                    |p| p.name.clone(),
                );
                let pcols = parent
                    .and_then(schema::table)
                    .map(|pt| {
                        quote_list(fk.referenced_column_ids.iter().map(|id| {
                            pt.columns
                                .iter()
                                .find(|c| c.id == *id)
                                .map_or_else(|| format!("@{id}"), |c| c.name.clone())
                        }))
                    })
                    .unwrap_or_default();
                lines.push(format!(
                    "\tCONSTRAINT {} FOREIGN KEY ({}) REFERENCES public.{}({})",
                    fk.name,
                    quote_list(fk.column_ids.iter().map(col_name)),
                    pname,
                    pcols
                ));
            }
            for ix in &t.secondary_indexes {
                let cols = quote_list(ix.column_ids.iter().enumerate().map(|(i, id)| {
                    let desc = ix.descending.get(i).copied().unwrap_or(false);
                    format!("{} {}", col_name(id), if desc { "DESC" } else { "ASC" })
                }));
                let storing = if ix.store_column_ids.is_empty() {
                    String::new()
                } else {
                    format!(
                        " STORING ({})",
                        quote_list(ix.store_column_ids.iter().map(col_name))
                    )
                };
                lines.push(format!(
                    "\t{}INDEX {} ({cols}){storing}",
                    if ix.unique { "UNIQUE " } else { "" },
                    ix.name
                ));
            }
            let mut s = format!("CREATE TABLE public.{} (\n{}\n)", d.name, lines.join(",\n"));
            if t.exclude_data_from_backup {
                s.push_str(" WITH (exclude_data_from_backup = true)");
            }
            s
        }
        None => String::new(),
    }
}

fn in_span(key: &[u8], start: &[u8], end: &[u8]) -> bool {
    key >= start && (end.is_empty() || key < end)
}

/// `SHOW BACKUP [SCHEMAS] FROM subdir IN uri`: one row per object per layer.
pub fn show_backup(coll: &Collection, chain: &Chain, opts: ShowOptions) -> Result<Table> {
    let mut cols = vec![
        "database_name",
        "parent_schema_name",
        "object_name",
        "object_type",
        "backup_type",
        "start_time",
        "end_time",
        "size_bytes#",
        "rows#",
        "is_full_cluster",
    ];
    if opts.check_files {
        cols.push("file_bytes#");
    }
    if opts.schemas {
        cols.push("create_statement");
    }
    if opts.debug_ids {
        cols.extend(["database_id#", "parent_schema_id#", "object_id#"]);
    }
    let mut t = Table::new(&cols);
    for layer in &chain.layers {
        let m = &layer.manifest;
        let store = if layer.is_full {
            coll.store.as_ref()
        } else {
            coll.incrementals.store.as_ref()
        };
        // file_bytes: what is actually stored, per file (stat only).
        let mut actual: Vec<Option<u64>> = Vec::new();
        if opts.check_files {
            let mut missing = Vec::new();
            for f in &m.files {
                let p = format!("{}/{}", layer.dir, f.path);
                let size = store.size(&p)?;
                match size {
                    None => missing.push(p),
                    Some(n) if n != f.size => {
                        missing.push(format!("{p} (size {n}, manifest says {})", f.size))
                    }
                    Some(_) => {}
                }
                actual.push(size);
            }
            if !missing.is_empty() {
                return Err(Error::refused(
                    ErrorKind::FilesMissing,
                    format!(
                        "The following files are missing or damaged in the backup: {}",
                        missing.join(", ")
                    ),
                ));
            }
        }
        let cat = Catalog::new(m.descriptors.iter().cloned());
        let start = Timestamp::from_pb(m.start_time);
        let end = Timestamp::from_pb(m.end_time);
        let mut descs: Vec<&pb::Descriptor> = cat.iter().collect();
        // Databases, then schemas, then the rest, by id (CockroachDB's order).
        descs.sort_by_key(|d| (Kind::of(d).map_or(9, |k| k as u8), d.id));
        for d in descs {
            let kind = Kind::of(d);
            let (dbid, scid) = parents(d);
            let (db_name, sc_name) = cat.qualifiers(d);
            let (database_name, parent_schema_name): (Cell, Cell) = match kind {
                Some(Kind::Database) => (None, None),
                Some(Kind::Schema) => (Some(db_name), None),
                _ => (Some(db_name), Some(sc_name)),
            };
            let (size, rows, fbytes): (Cell, Cell, Cell) = if kind == Some(Kind::Table) {
                let (s, e) = vouch_format::keys::table_span(d.id);
                let mut size = 0u64;
                let mut rows = 0u64;
                let mut fb = 0u64;
                for (i, f) in m.files.iter().enumerate() {
                    let Some(span) = &f.span else { continue };
                    if in_span(&span.start, &s, &e) {
                        size += f.logical_bytes;
                        rows += f.rows;
                        fb += actual.get(i).copied().flatten().unwrap_or(0);
                    }
                }
                (
                    Some(size.to_string()),
                    Some(rows.to_string()),
                    Some(fb.to_string()),
                )
            } else {
                (None, None, None)
            };
            let mut row: Vec<Cell> = vec![
                database_name,
                parent_schema_name,
                Some(d.name.clone()),
                Some(kind.map_or("unknown", Kind::name).to_string()),
                Some(if layer.is_full { "full" } else { "incremental" }.to_string()),
                if start == vouch_format::mvcc::Timestamp::MIN {
                    None
                } else {
                    Some(format_sql(start))
                },
                Some(format_sql(end)),
                size,
                rows,
                Some(m.is_full_cluster.to_string()),
            ];
            if opts.check_files {
                row.push(fbytes);
            }
            if opts.schemas {
                row.push(Some(create_statement(&cat, d)));
            }
            if opts.debug_ids {
                row.push(if dbid == 0 {
                    None
                } else {
                    Some(dbid.to_string())
                });
                row.push(if scid == 0 {
                    None
                } else {
                    Some(scid.to_string())
                });
                row.push(Some(d.id.to_string()));
            }
            t.rows.push(row);
        }
    }
    Ok(t)
}
