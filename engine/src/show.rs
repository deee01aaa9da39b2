//! SHOW BACKUPS and SHOW BACKUP [SCHEMAS], with CockroachDB's columns, as
//! [`Table`]s (printed by [`crate::output`]).

use vouch_format::layout;
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{self, parents, Catalog, Kind};
use vouch_format::time::format_sql;

use crate::output::{Cell, Table};
use crate::{Error, Result};
use vouch_chain::{Collection, OpenChain};

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

/// A file `SHOW BACKUP … WITH check_files` found missing or damaged (CockroachDB's
/// check_files error names each such file: its store's URI, without query, and its path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// `<store URI>/<layer directory>/<path>` (the URI as messages show it); for
    /// [`Problem::NoStore`], which has no store, `<layer directory>/<path>`.
    pub file: String,
    /// The file's locality (`""`: the layer's own store).
    pub locality: String,
    /// What is wrong.
    pub problem: Problem,
}

/// What [`FileProblem`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The store holding the file's locality does not have it.
    Missing,
    /// The store has it with another size.
    Size {
        /// What the store reports.
        stored: u64,
        /// What the manifest records.
        manifest: u64,
    },
    /// None of the URIs given holds the file's locality (no `BACKUP_PART_<n>_<locality>` of
    /// the layer in any of them): the file was not looked for.
    NoStore,
}

impl std::fmt::Display for FileProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        let l = &self.locality;
        match self.problem {
            Problem::Missing if l.is_empty() => Ok(()),
            Problem::Missing => write!(f, " (locality {l})"),
            Problem::Size { stored, manifest } if l.is_empty() => {
                write!(f, " (size {stored}, manifest says {manifest})")
            }
            Problem::Size { stored, manifest } => {
                write!(
                    f,
                    " (locality {l}, size {stored}, manifest says {manifest})"
                )
            }
            Problem::NoStore => write!(
                f,
                " (locality {l}: none of the URIs given holds its BACKUP_PART_<n>_{})",
                vouch_format::locality::sanitize(l)
            ),
        }
    }
}

/// The problems as one text: each [`FileProblem`], `, ` between them.
pub(crate) fn list_problems(problems: &[FileProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
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

/// `WITH check_files`: the size every file of layer `i` has in the store of its locality
/// (`None`: not there, or no store), and the files missing or damaged.
fn check_layer_files(chain: &OpenChain, i: usize) -> Result<(Vec<Option<u64>>, Vec<FileProblem>)> {
    let Some(layer) = chain.chain.layers.get(i) else {
        return Ok((Vec::new(), Vec::new()));
    };
    let mut sizes = Vec::with_capacity(layer.manifest.files.len());
    let mut problems = Vec::new();
    for f in &layer.manifest.files {
        let path = vouch_chain::join(&layer.dir, &f.path);
        let store = chain.store_for(i, &f.locality);
        // Named in its store; a file whose locality has no store by its layer path.
        let problem = |problem| FileProblem {
            file: store.map_or_else(
                || path.clone(),
                |s| vouch_chain::join(s.uri().trim_end_matches('/'), &path),
            ),
            locality: f.locality.clone(),
            problem,
        };
        let size = match store {
            Some(s) => s.size(&path)?,
            None => None,
        };
        match (store, size) {
            // A locality no store holds (OpenChain::missing_localities).
            (None, _) => problems.push(problem(Problem::NoStore)),
            (Some(_), None) => problems.push(problem(Problem::Missing)),
            (Some(_), Some(n)) if n != f.size => problems.push(problem(Problem::Size {
                stored: n,
                manifest: f.size,
            })),
            (Some(_), Some(_)) => {}
        }
        sizes.push(size);
    }
    Ok((sizes, problems))
}

/// `SHOW BACKUP [SCHEMAS] FROM subdir IN uri`: one row per object per layer. With
/// `check_files`, every file of every layer is looked for (its size, nothing read) in the
/// store of its locality ([`OpenChain::store_for`]: the layer's own store, or the one whose
/// `BACKUP_PART` names the locality); the first layer with files missing or damaged, or of a
/// locality no store holds, fails the statement with [`Error::FilesMissing`] naming each.
pub fn show_backup(chain: &OpenChain, opts: ShowOptions) -> Result<Table> {
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
    for (i, layer) in chain.chain.layers.iter().enumerate() {
        let m = &layer.manifest;
        // file_bytes: what is actually stored, per file (stat only).
        let mut actual: Vec<Option<u64>> = Vec::new();
        if opts.check_files {
            let (sizes, problems) = check_layer_files(chain, i)?;
            if !problems.is_empty() {
                return Err(Error::FilesMissing(problems));
            }
            actual = sizes;
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
