//! The `schema` level: descriptors decode, references resolve, versions only increase,
//! spans cover every table index, and restore's own planning succeeds (dry) for the whole
//! chain and for `--as-of`.

use std::collections::BTreeMap;
use std::path::Path;

use vouch_chain::{plan, Collection, ErrorKind, RestoreOptions, Source, Targets};
use vouch_format::keys;
use vouch_format::layout;
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;
use vouch_format::schema::{self, index_layouts, Catalog, Kind};
use vouch_keys::KeySource;

use crate::finding::Finding;
use crate::report::CheckResult;
use crate::state::{ChainState, Ctx};

fn kind_name(d: &pb::Descriptor) -> &'static str {
    Kind::of(d).map_or("descriptor", Kind::name)
}

/// `descriptor_decode` problems of one descriptor (none when it is usable).
fn decode_problems(d: &pb::Descriptor) -> Vec<String> {
    let mut out = Vec::new();
    if Kind::of(d).is_none() {
        out.push(format!("descriptor {} ({:?}) has no kind", d.id, d.name));
        return out;
    }
    if pb::DescriptorState::try_from(d.state).is_err() {
        out.push(format!(
            "{} {:?} (id {}): unknown state {}",
            kind_name(d),
            d.name,
            d.id,
            d.state
        ));
    }
    if let Some(t) = schema::table(d) {
        for c in &t.columns {
            if let Err(e) = schema::column_type(c.r#type) {
                out.push(format!(
                    "table {:?} (id {}): column {:?}: {e}",
                    d.name, d.id, c.name
                ));
            }
        }
        match &t.primary_index {
            None => out.push(format!(
                "table {:?} (id {}): no primary index",
                d.name, d.id
            )),
            Some(p) if p.column_ids.is_empty() => out.push(format!(
                "table {:?} (id {}): the primary index has no columns",
                d.name, d.id
            )),
            Some(_) => {}
        }
        for ix in &t.secondary_indexes {
            if ix.column_ids.is_empty() {
                out.push(format!(
                    "table {:?} (id {}): index {:?} has no columns",
                    d.name, d.id, ix.name
                ));
            }
        }
    }
    out
}

/// `dangling_reference` problems of a public descriptor within `cat` (the layer's
/// descriptors). Foreign keys and view dependencies only count when the backup holds the
/// whole database (else restore needs `skip_missing_foreign_keys` / `skip_missing_views`).
fn reference_problems(
    d: &pb::Descriptor,
    cat: &BTreeMap<u64, &pb::Descriptor>,
    complete_db: bool,
) -> Vec<String> {
    let mut out = Vec::new();
    let Some(kind) = Kind::of(d) else { return out };
    let is = |id: u64, k: Kind| cat.get(&id).is_some_and(|x| Kind::of(x) == Some(k));
    let (db, sc) = schema::parents(d);
    let what = format!("{} {:?} (id {})", kind.name(), d.name, d.id);
    if kind != Kind::Database && !is(db, Kind::Database) {
        out.push(format!("{what}: parent database {db} is not in the backup"));
    }
    if matches!(kind, Kind::Table | Kind::View | Kind::Type) && !is(sc, Kind::Schema) {
        out.push(format!("{what}: parent schema {sc} is not in the backup"));
    }
    if let Some(t) = schema::table(d) {
        let has_col = |t: &pb::Table, id: u32| t.columns.iter().any(|c| c.id == id);
        let mut indexes: Vec<&pb::Index> = t.primary_index.iter().collect();
        indexes.extend(t.secondary_indexes.iter());
        for ix in indexes {
            for id in ix.column_ids.iter().chain(&ix.store_column_ids) {
                if !has_col(t, *id) {
                    out.push(format!(
                        "{what}: index {:?} names column {id}, which the table does not have",
                        ix.name
                    ));
                }
            }
        }
        for c in &t.columns {
            if c.r#type == pb::ColumnType::Enum as i32 && !is(c.enum_type_id, Kind::Type) {
                out.push(format!(
                    "{what}: column {:?} uses enum type {}, which is not in the backup",
                    c.name, c.enum_type_id
                ));
            }
        }
        for fk in &t.foreign_keys {
            for id in &fk.column_ids {
                if !has_col(t, *id) {
                    out.push(format!(
                        "{what}: foreign key {:?} names column {id}, which the table does not have",
                        fk.name
                    ));
                }
            }
            match cat
                .get(&fk.referenced_table_id)
                .and_then(|x| schema::table(x))
            {
                Some(rt) => {
                    for id in &fk.referenced_column_ids {
                        if !has_col(rt, *id) {
                            out.push(format!(
                                "{what}: foreign key {:?} references column {id} of table {}, which it does not have",
                                fk.name, fk.referenced_table_id
                            ));
                        }
                    }
                }
                None if complete_db => out.push(format!(
                    "{what}: foreign key {:?} references table {}, which is not in the backup",
                    fk.name, fk.referenced_table_id
                )),
                None => {}
            }
        }
    }
    if let Some(pb::descriptor::Kind::View(v)) = &d.kind {
        for dep in &v.depends_on {
            if complete_db && !cat.contains_key(dep) {
                out.push(format!(
                    "{what}: depends on {dep}, which is not in the backup"
                ));
            }
        }
    }
    out
}

fn in_spans(spans: &[pb::Span], key: &[u8]) -> bool {
    spans
        .iter()
        .any(|s| key >= s.start.as_slice() && key < s.end.as_slice())
}

/// Runs the `descriptors` and `spans` checks on every layer and `restore_plan` on the chain.
pub(crate) fn check_chain(ctx: &Ctx<'_>, c: &mut ChainState) {
    // (time, version, layer index) of every known version of every descriptor.
    let mut versions: BTreeMap<u64, Vec<(Timestamp, u64, usize)>> = BTreeMap::new();
    let mut prev_spans: Option<Vec<pb::Span>> = None;
    for (li, l) in c.layers.iter_mut().enumerate() {
        let Some(m) = l.manifest.clone() else {
            prev_spans = None;
            continue;
        };
        let mpath = l.path(layout::MANIFEST);
        let dir = l.dir.clone();
        let mut dc = CheckResult::new("descriptors");
        let err = |kind: &'static str, msg: String| {
            Finding::error(kind, mpath.clone(), format!("{mpath}: {msg}")).in_layer(dir.clone())
        };
        let cat: BTreeMap<u64, &pb::Descriptor> = m.descriptors.iter().map(|d| (d.id, d)).collect();
        for d in &m.descriptors {
            for p in decode_problems(d) {
                dc.findings.push(err("descriptor_decode", p));
            }
            versions.entry(d.id).or_default().push((
                Timestamp::from_pb(d.modification_time),
                d.version,
                li,
            ));
        }
        for r in &m.descriptor_changes {
            if let Some(d) = &r.descriptor {
                if d.id != r.id {
                    dc.findings.push(err(
                        "descriptor_decode",
                        format!(
                            "the revision of descriptor {} at {} holds descriptor {}",
                            r.id,
                            Timestamp::from_pb(r.time),
                            d.id
                        ),
                    ));
                }
                for p in decode_problems(d) {
                    dc.findings.push(err(
                        "descriptor_decode",
                        format!("revision at {}: {p}", Timestamp::from_pb(r.time)),
                    ));
                }
                versions
                    .entry(r.id)
                    .or_default()
                    .push((Timestamp::from_pb(r.time), d.version, li));
            }
        }
        for d in m
            .descriptors
            .iter()
            .filter(|d| d.state == pb::DescriptorState::Public as i32)
        {
            let db = if Kind::of(d) == Some(Kind::Database) {
                d.id
            } else {
                schema::parents(d).0
            };
            let complete = m.is_full_cluster || m.complete_database_ids.contains(&db);
            for p in reference_problems(d, &cat, complete) {
                dc.findings.push(err("dangling_reference", p));
            }
        }
        l.checks.push(dc);

        // Spans: every index of every public table inside the layer's spans; spans new in an
        // incremental are introduced; introduced spans are spans.
        let mut sc = CheckResult::new("spans");
        for d in m.descriptors.iter().filter(|d| {
            Kind::of(d) == Some(Kind::Table) && d.state == pb::DescriptorState::Public as i32
        }) {
            let Ok(ls) = index_layouts(d) else { continue };
            for ix in ls {
                let mut prefix = Vec::new();
                keys::encode_table_prefix(d.id, u64::from(ix.id), &mut prefix);
                if !in_spans(&m.spans, &prefix) {
                    sc.findings.push(
                        err(
                            "span_coverage",
                            format!(
                                "table {:?} (id {}) index {:?} ({}) is not covered by the layer's spans",
                                d.name, d.id, ix.name, ix.id
                            ),
                        )
                        .with_key(&prefix),
                    );
                }
            }
        }
        for s in &m.introduced_spans {
            if !m.spans.contains(s) {
                sc.findings.push(
                    err(
                        "span_coverage",
                        "an introduced span is not among the layer's spans".into(),
                    )
                    .with_key(&s.start),
                );
            }
        }
        if let (false, Some(prev)) = (l.is_full, &prev_spans) {
            for s in &m.spans {
                if !prev.contains(s) && !m.introduced_spans.contains(s) {
                    sc.findings.push(
                        err(
                            "span_coverage",
                            "a span the previous layer does not cover is not marked introduced (its history before this layer is in no layer)".into(),
                        )
                        .with_key(&s.start),
                    );
                }
            }
        }
        prev_spans = Some(m.spans.clone());
        l.checks.push(sc);
    }

    // Versions only increase with time.
    for (id, mut v) in versions {
        v.sort();
        v.dedup();
        for w in v.windows(2) {
            if let [(t0, v0, _), (t1, v1, li)] = w {
                if v1 < v0 {
                    if let Some(l) = c.layers.get_mut(*li) {
                        let mpath = l.path(layout::MANIFEST);
                        let dir = l.dir.clone();
                        l.check("descriptors").findings.push(
                            Finding::error(
                                "descriptor_version_regression",
                                mpath.clone(),
                                format!(
                                    "{mpath}: descriptor {id} has version {v1} at {t1}, after version {v0} at {t0}"
                                ),
                            )
                            .expected_found(format!("a version >= {v0}"), v1.to_string())
                            .in_layer(dir),
                        );
                    }
                }
            }
        }
    }

    // The keys only for an encrypted chain (given for one that is not, restore refuses).
    let none = KeySource::default();
    let keys = if c.key.is_some() {
        &ctx.opts.keys
    } else {
        &none
    };
    c.checks.push(plan_check(ctx, &c.full, keys));
    if let Some((dir, target)) = &ctx.target {
        c.checks
            .push(cluster_check(ctx, &c.full, dir, target, keys));
    }
}

/// Restore's planning, run dry: the whole chain, and `--as-of` when given.
fn plan_check(ctx: &Ctx<'_>, full: &str, keys: &KeySource) -> CheckResult {
    let mut c = CheckResult::new("restore_plan");
    let mut times: Vec<(Option<Timestamp>, String)> = vec![(None, "the newest layer's end".into())];
    if let Some(t) = ctx.as_of {
        times.push((Some(t), format!("--as-of {t}")));
    }
    for (t, what) in times {
        let r = Collection::open(ctx.uri, ctx.incremental_location, ctx.store_opts)
            .and_then(|coll| coll.open_chain_keyed(full, keys))
            .and_then(|chain| plan(chain, t));
        if let Err(e) = r {
            c.findings.push(Finding::error(
                "restore_plan",
                full,
                format!(
                    "a restore of {} at {what} cannot be planned: {e}",
                    layout::display_subdir(full)
                ),
            ));
        }
    }
    c
}

/// Restore options a dry run may add, by the name `expected` gives them.
fn with_options(
    base: &RestoreOptions,
    names: &[&str],
    target: &Catalog,
    backup_db: &str,
) -> RestoreOptions {
    let mut o = base.clone();
    for n in names {
        match *n {
            "skip_missing_foreign_keys" => o.skip_missing_foreign_keys = true,
            "skip_missing_views" => o.skip_missing_views = true,
            "new_db_name" => {
                // A name free in the target.
                let mut name = format!("{backup_db}_restored");
                let mut i = 2;
                while target.database(&name).is_some() {
                    name = format!("{backup_db}_restored_{i}");
                    i += 1;
                }
                o.new_db_name = Some(name);
            }
            "into_db" => {
                // An existing user database of the target (defaultdb first).
                let mut dbs: Vec<&pb::Descriptor> = target
                    .iter()
                    .filter(|d| {
                        Kind::of(d) == Some(Kind::Database)
                            && d.id != schema::SYSTEM_DATABASE_ID
                            && d.name != backup_db
                    })
                    .collect();
                dbs.sort_by_key(|d| (d.name != "defaultdb", d.name.clone()));
                o.into_db = dbs.first().map(|d| d.name.clone());
            }
            _ => {}
        }
    }
    o
}

/// The option (or `name = value`) as `expected` names it.
fn option_text(o: &RestoreOptions, names: &[&str]) -> String {
    names
        .iter()
        .map(|n| match *n {
            "new_db_name" => format!("new_db_name = {:?}", o.new_db_name.as_deref().unwrap_or("")),
            "into_db" => format!("into_db = {:?}", o.into_db.as_deref().unwrap_or("")),
            n => n.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// With `--restore-into`: what a restore of the chain into that cluster would refuse, as restore
/// itself decides it (`vouch_chain::dry_run`, no writes): the whole cluster (full-cluster
/// backups), and each database of the backup that holds objects (a `RESTORE DATABASE` when
/// the backup holds it completely, else a `RESTORE TABLE` of its tables and views). A refusal that an option lifts names
/// the option in `expected`.
fn cluster_check(
    ctx: &Ctx<'_>,
    full: &str,
    dir: &Path,
    target: &Catalog,
    keys: &KeySource,
) -> CheckResult {
    let mut c = CheckResult::new("cluster");
    let shown = layout::display_subdir(full);
    let plan = match Collection::open(ctx.uri, ctx.incremental_location, ctx.store_opts)
        .and_then(|coll| coll.open_chain_keyed(full, keys))
        .and_then(|chain| plan(chain, ctx.as_of))
    {
        Ok(p) => p,
        // Reported by the restore_plan check.
        Err(_) => return c,
    };
    let source = Source::Collection {
        uri: ctx.uri.to_string(),
        subdir: shown.clone(),
        incremental_location: ctx.incremental_location.map(str::to_string),
    };
    let bcat = plan.catalog();
    let newest = plan.used_layers().last().map(|l| &l.manifest);
    let full_cluster = newest.is_some_and(|m| m.is_full_cluster);
    let mut requests: Vec<(String, Targets, String)> = Vec::new();
    if full_cluster {
        requests.push(("RESTORE".into(), Targets::Cluster, String::new()));
    }
    for db in bcat
        .iter()
        .filter(|d| Kind::of(d) == Some(Kind::Database) && d.id != schema::SYSTEM_DATABASE_ID)
    {
        // Databases holding no object (defaultdb and postgres as bootstrapped) are nobody's
        // restore target: every cluster has them.
        if bcat
            .children(db.id)
            .iter()
            .all(|d| Kind::of(d) == Some(Kind::Schema))
        {
            continue;
        }
        let complete =
            newest.is_some_and(|m| m.is_full_cluster || m.complete_database_ids.contains(&db.id));
        if complete {
            requests.push((
                format!("RESTORE DATABASE {}", db.name),
                Targets::Databases(vec![db.name.clone()]),
                db.name.clone(),
            ));
        } else {
            let tables: Vec<(String, String)> = bcat
                .children(db.id)
                .iter()
                .filter(|d| matches!(Kind::of(d), Some(Kind::Table | Kind::View)))
                .map(|d| (db.name.clone(), d.name.clone()))
                .collect();
            if tables.is_empty() {
                continue;
            }
            let list = tables
                .iter()
                .map(|(d, t)| format!("{d}.{t}"))
                .collect::<Vec<_>>()
                .join(", ");
            requests.push((
                format!("RESTORE TABLE {list}"),
                Targets::Tables(tables),
                db.name.clone(),
            ));
        }
    }
    for (stmt, targets, dbname) in requests {
        let what = format!(
            "{stmt} FROM '{shown}' IN '{}' into the cluster in {}",
            ctx.uri,
            dir.display()
        );
        let fixes: &[&[&str]] = match targets {
            Targets::Cluster => &[],
            Targets::Databases(_) => &[
                &["new_db_name"],
                &["skip_missing_foreign_keys"],
                &["skip_missing_views"],
                &["skip_missing_foreign_keys", "skip_missing_views"],
                &[
                    "new_db_name",
                    "skip_missing_foreign_keys",
                    "skip_missing_views",
                ],
            ],
            Targets::Tables(_) => &[
                &["skip_missing_foreign_keys"],
                &["skip_missing_views"],
                &["skip_missing_foreign_keys", "skip_missing_views"],
                &["into_db"],
                &["into_db", "skip_missing_foreign_keys"],
                &["into_db", "skip_missing_views"],
                &["into_db", "skip_missing_foreign_keys", "skip_missing_views"],
            ],
        };
        let mut base = RestoreOptions::new(targets, source.clone());
        base.as_of = ctx.opts.as_of.clone();
        let Err(refusal) = vouch_chain::dry_run(&plan, target, &base) else {
            continue;
        };
        let collision = refusal.kind() == ErrorKind::NameCollision;
        let refusal = refusal.to_string();
        let lifted = fixes.iter().find_map(|names| {
            let o = with_options(&base, names, target, &dbname);
            vouch_chain::dry_run(&plan, target, &o)
                .ok()
                .map(|_| option_text(&o, names))
        });
        let f = if collision {
            let mut f = Finding::error(
                "restore_collision",
                full,
                format!(
                    "{what} would be refused: {refusal}{}",
                    lifted
                        .as_deref()
                        .map(|o| format!(" (WITH {o} would be accepted)"))
                        .unwrap_or_default()
                ),
            );
            f.found = Some(refusal);
            f.expected = lifted;
            f
        } else if let Some(o) = lifted {
            Finding::warning(
                "restore_needs_option",
                full,
                format!("{what} needs WITH {o}: without it, {refusal}"),
            )
            .expected_found(o, refusal)
        } else {
            Finding::error(
                "restore_refused",
                full,
                format!("{what} would be refused, with any option: {refusal}"),
            )
            .expected_found("an accepted restore", refusal)
        };
        c.findings.push(f);
    }
    c
}
