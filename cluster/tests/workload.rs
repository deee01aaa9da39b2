//! The `bank` and `movr` workloads: determinism (same seed → same fingerprints, whatever
//! the clock says), invariants (total balance, index entries, foreign keys) and the schema
//! changes runs apply.

use vouch_cluster::workload::{self, InitOptions, Summary, Workload};
use vouch_cluster::IndexFingerprint;
use vouch_cluster::{Clock, Cluster, Error};
use vouch_format::keys::Datum;
use vouch_format::manifest::pb;
use vouch_format::schema::{index_layouts, Kind};

const SEC: u64 = 1_000_000_000;

/// A cluster in a temporary directory whose manual clock starts at `wall_secs`.
fn cluster(wall_secs: u64) -> (tempfile::TempDir, Cluster) {
    let d = tempfile::tempdir().unwrap();
    let c = Cluster::init(d.path(), Clock::manual(wall_secs * SEC)).unwrap();
    (d, c)
}

/// What must match between two clusters: everything but times.
fn fp(c: &Cluster) -> Vec<(String, String, String, u64, u64)> {
    c.fingerprints(c.now())
        .unwrap()
        .into_iter()
        .map(|f: IndexFingerprint| (f.database, f.table, f.index, f.fingerprint, f.entries))
        .collect()
}

fn fp_of<'a>(
    fps: &'a [(String, String, String, u64, u64)],
    table: &str,
) -> Vec<&'a (String, String, String, u64, u64)> {
    fps.iter()
        .filter(|f| f.0 != "system" && f.1 == table)
        .collect()
}

#[test]
fn names_parse_and_print() {
    for w in [Workload::Bank, Workload::Movr] {
        assert_eq!(w.to_string().parse::<Workload>().unwrap(), w);
    }
    assert_eq!("bank".parse::<Workload>().unwrap(), Workload::Bank);
    assert!(matches!("tpcc".parse::<Workload>(), Err(Error::Usage(_))));
}

fn same_data_for_same_seed(w: Workload) {
    // Different clocks, batch sizes and descriptor ids: only timestamps and ids differ.
    let (_a, a) = cluster(1_000);
    let (_b, b) = cluster(9_000_000);
    b.create_database("shifts_the_ids").unwrap();
    let sa = workload::init(&a, w, 300, 7).unwrap();
    let mut o = InitOptions::new(300, 7);
    o.batch_rows = 7;
    let sb = workload::init_with(&b, w, &o).unwrap();
    assert_eq!(sa.inserts, sb.inserts);
    assert_eq!(fp(&a), fp(&b));
    let ids = |c: &Cluster| -> Vec<u64> {
        c.fingerprints(c.now())
            .unwrap()
            .iter()
            .map(|f| f.table_id)
            .collect()
    };
    assert_ne!(ids(&a), ids(&b));
    for round in 0..3 {
        let ra = workload::run(&a, w, 120, 3).unwrap();
        b.kv().clock().advance(77 * SEC);
        let rb = workload::run(&b, w, 120, 3).unwrap();
        assert_eq!(
            (ra.inserts, ra.updates, ra.deletes, ra.schema_changes),
            (rb.inserts, rb.updates, rb.deletes, rb.schema_changes),
            "{w} round {round}"
        );
        assert_eq!(fp(&a), fp(&b), "{w} after run {round}");
    }

    // Another seed gives other data, in init and in run.
    let (_c, c) = cluster(1_000);
    workload::init(&c, w, 300, 8).unwrap();
    let user_fps = |x: &Cluster| -> Vec<_> {
        fp(x)
            .into_iter()
            .filter(|f| f.0 != "system")
            .collect::<Vec<_>>()
    };
    let (_d, d) = cluster(1_000);
    workload::init(&d, w, 300, 7).unwrap();
    let init_7 = user_fps(&d);
    assert_ne!(user_fps(&c), init_7);
    let (_e, e) = cluster(1_000);
    workload::init(&e, w, 300, 7).unwrap();
    workload::run(&d, w, 50, 1).unwrap();
    workload::run(&e, w, 50, 2).unwrap();
    assert_ne!(user_fps(&d), user_fps(&e));
    assert_ne!(user_fps(&d), init_7);
}

#[test]
fn bank_is_deterministic() {
    same_data_for_same_seed(Workload::Bank);
}

#[test]
fn movr_is_deterministic() {
    same_data_for_same_seed(Workload::Movr);
}

#[test]
fn bank_init_writes_the_schema_and_rows() {
    let (_d, c) = cluster(1_000);
    let mut o = InitOptions::new(2_500, 1);
    o.payload_bytes = 1024;
    let s = workload::init_with(&c, Workload::Bank, &o).unwrap();
    assert_eq!(s.inserts, 2_500);
    assert_eq!(s.schema_changes, 2);
    assert_eq!((s.updates, s.deletes), (0, 0));
    assert!(s.last_write.unwrap() < c.now());
    let t = c.table("bank", "bank").unwrap();
    let mut n = 0;
    c.scan_rows(&t, c.now(), |r| {
        assert_eq!(r[0], Datum::Int(n));
        assert!(matches!(&r[1], Datum::Int(b) if (0..10_000).contains(b)));
        assert!(matches!(&r[2], Datum::String(p) if p.len() == 1024 && p.is_ascii()));
        n += 1;
        Ok(true)
    })
    .unwrap();
    assert_eq!(n, 2_500);
    // A second init on the same cluster refuses.
    assert!(matches!(
        workload::init(&c, Workload::Bank, 10, 1),
        Err(Error::DuplicateObject(_))
    ));
}

#[test]
fn bank_run_conserves_the_total_balance() {
    let (_d, c) = cluster(1_000);
    workload::init(&c, Workload::Bank, 200, 5).unwrap();
    let before = c.now();
    let total = workload::bank_total_balance(&c, before).unwrap();
    let mut all = Summary::default();
    for seed in 0..3 {
        let s = workload::run(&c, Workload::Bank, 400, seed).unwrap();
        assert_eq!(workload::bank_total_balance(&c, c.now()).unwrap(), total);
        all.inserts += s.inserts;
        all.updates += s.updates;
        all.deletes += s.deletes;
    }
    // At every commit timestamp too: each transfer and each closing is one transaction.
    let (start, end) = vouch_format::keys::table_span(c.table("bank", "bank").unwrap().id);
    let mut times = std::collections::BTreeSet::new();
    c.kv()
        .versions(&start, &end, before, c.now(), |v| {
            times.insert(v.ts);
            Ok(())
        })
        .unwrap();
    assert!(times.len() > 1_000, "{}", times.len());
    for ts in times.iter().step_by(7) {
        assert_eq!(
            workload::bank_total_balance(&c, *ts).unwrap(),
            total,
            "at {ts}"
        );
    }
    assert!(
        all.inserts > 0 && all.updates > 0 && all.deletes > 0,
        "{all:?}"
    );
    // Accounts opened during the runs have the existing payload length.
    let t = c.table("bank", "bank").unwrap();
    c.scan_rows(&t, c.now(), |r| {
        assert!(matches!(&r[2], Datum::String(p) if p.len() == workload::DEFAULT_PAYLOAD_BYTES));
        Ok(true)
    })
    .unwrap();
}

#[test]
fn every_run_applies_the_next_schema_change() {
    let (_d, c) = cluster(1_000);
    workload::init(&c, Workload::Bank, 50, 1).unwrap();
    let t0 = c.table("bank", "bank").unwrap();
    assert_eq!(t0.version, 1);
    let before = c.now();
    let s = workload::run(&c, Workload::Bank, 20, 1).unwrap();
    assert_eq!(s.schema_changes, 1);
    let t1 = c.table("bank", "bank").unwrap();
    assert_eq!(t1.version, 2);
    let cols: Vec<String> = vouch_format::schema::table(&t1)
        .unwrap()
        .columns
        .iter()
        .map(|c| c.name.clone())
        .collect();
    assert_eq!(cols, ["id", "balance", "payload", "created_at"]);
    // The change is in the descriptor history, and the old version is still readable.
    let revs = c.descriptor_revisions(before, c.now()).unwrap();
    let mine: Vec<&pb::DescriptorRevision> = revs.iter().filter(|r| r.id == t1.id).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].descriptor.as_ref().unwrap().version, 2);
    assert_eq!(c.descriptor(t1.id, before).unwrap().version, 1);
    // Rows written after the change have created_at, the older ones read NULL.
    let mut with = 0;
    c.scan_rows(&t1, c.now(), |r| {
        if r[3] != Datum::Null {
            with += 1;
        }
        Ok(true)
    })
    .unwrap();
    assert!(with <= s.inserts);

    workload::run(&c, Workload::Bank, 20, 1).unwrap();
    let t2 = c.table("bank", "bank").unwrap();
    assert_eq!(t2.version, 3);
    let ix: Vec<&str> = vouch_format::schema::table(&t2)
        .unwrap()
        .secondary_indexes
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(ix, ["bank_balance_idx"]);
    workload::run(&c, Workload::Bank, 20, 1).unwrap();
    workload::run(&c, Workload::Bank, 1, 1).unwrap();
    let t4 = c.table("bank", "bank").unwrap();
    assert_eq!(t4.version, 5);
    assert!(vouch_format::schema::table(&t4)
        .unwrap()
        .columns
        .iter()
        .any(|c| c.name == "note_2"));
    // No ops, no schema change.
    assert_eq!(
        workload::run(&c, Workload::Bank, 0, 1).unwrap(),
        Summary::default()
    );
    check_indexes(&c);

    // movr: an index first, then a column.
    let (_e, m) = cluster(1_000);
    workload::init(&m, Workload::Movr, 40, 1).unwrap();
    workload::run(&m, Workload::Movr, 30, 1).unwrap();
    let rides = m.table("movr", "rides").unwrap();
    assert_eq!(rides.version, 2);
    assert!(vouch_format::schema::table(&rides)
        .unwrap()
        .secondary_indexes
        .iter()
        .any(|i| i.name == "rides_city_idx"));
    workload::run(&m, Workload::Movr, 30, 1).unwrap();
    assert_eq!(m.table("movr", "users").unwrap().version, 2);
    workload::run(&m, Workload::Movr, 30, 1).unwrap();
    assert_eq!(m.table("movr", "vehicles").unwrap().version, 2);
    check_indexes(&m);
}

/// Every row of every user table has exactly its entry in every index, and each index
/// has as many entries as the table has rows.
fn check_indexes(c: &Cluster) {
    let now = c.now();
    let fps = c.fingerprints(now).unwrap();
    for t in c.catalog(now).unwrap().tables() {
        let layouts = index_layouts(t).unwrap();
        let mut rows = 0u64;
        c.scan_rows(t, now, |r| {
            for l in &layouts {
                let (k, v) = l.entry(t, &r).unwrap();
                assert_eq!(
                    c.kv().get(&k, now).unwrap().as_deref(),
                    Some(v.as_slice()),
                    "{} index {}",
                    t.name,
                    l.name
                );
            }
            rows += 1;
            Ok(true)
        })
        .unwrap();
        let mine: Vec<&IndexFingerprint> = fps.iter().filter(|f| f.table_id == t.id).collect();
        assert_eq!(mine.len(), layouts.len(), "{}", t.name);
        for f in mine {
            assert_eq!(f.entries, rows, "{}.{}", t.name, f.index);
        }
    }
}

#[test]
fn secondary_indexes_stay_consistent() {
    let (_d, c) = cluster(1_000);
    workload::init(&c, Workload::Movr, 120, 11).unwrap();
    check_indexes(&c);
    let fps = fp(&c);
    assert_eq!(fp_of(&fps, "users").len(), 1);
    assert_eq!(fp_of(&fps, "vehicles").len(), 2);
    assert_eq!(fp_of(&fps, "rides").len(), 3);
    assert_eq!(fp_of(&fps, "users")[0].4, 120);
    assert_eq!(fp_of(&fps, "vehicles")[0].4, 60);
    assert_eq!(fp_of(&fps, "rides")[0].4, 120);
    let s = workload::run(&c, Workload::Movr, 400, 11).unwrap();
    assert!(s.inserts > 0 && s.updates > 0 && s.deletes > 0, "{s:?}");
    check_indexes(&c);
    let fps = fp(&c);
    assert_eq!(fp_of(&fps, "rides").len(), 4, "rides_city_idx was added");
    workload::run(&c, Workload::Movr, 400, 12).unwrap();
    check_indexes(&c);
}

#[test]
fn movr_foreign_keys_are_enforced() {
    let (_d, c) = cluster(1_000);
    workload::init(&c, Workload::Movr, 20, 2).unwrap();
    let rides = c.table("movr", "rides").unwrap();
    let users = c.table("movr", "users").unwrap();
    let vehicles = c.table("movr", "vehicles").unwrap();
    let mut some_user = None;
    c.scan_rows(&users, c.now(), |r| {
        some_user = Some(r[0].clone());
        Ok(false)
    })
    .unwrap();
    let mut some_vehicle = None;
    c.scan_rows(&vehicles, c.now(), |r| {
        some_vehicle = Some(r[0].clone());
        Ok(false)
    })
    .unwrap();
    let (user, vehicle) = (some_user.unwrap(), some_vehicle.unwrap());
    let ride = |vehicle: Datum, rider: Datum| {
        vec![
            Datum::Uuid([7; 16]),
            Datum::String("rome".into()),
            vehicle,
            rider,
            Datum::Null,
            Datum::Null,
            Datum::Null,
            Datum::Null,
            Datum::Null,
        ]
    };
    let mut tx = c.txn();
    let err = tx
        .insert(&rides, &[ride(Datum::Uuid([9; 16]), user.clone())])
        .unwrap_err();
    assert!(
        matches!(&err, Error::Constraint(m) if m.contains("fk_vehicle_id_ref_vehicles")),
        "{err}"
    );
    let err = tx
        .insert(&rides, &[ride(vehicle.clone(), Datum::Uuid([9; 16]))])
        .unwrap_err();
    assert!(
        matches!(&err, Error::Constraint(m) if m.contains("fk_rider_id_ref_users")),
        "{err}"
    );
    // Known parents: accepted.
    tx.insert(&rides, &[ride(vehicle.clone(), user.clone())])
        .unwrap();
    tx.commit().unwrap();
    // A referenced vehicle cannot be deleted.
    let mut tx = c.txn();
    assert!(matches!(
        tx.delete(&vehicles, &[vehicle]),
        Err(Error::Constraint(_))
    ));
}

#[test]
fn movr_has_its_enum_and_view() {
    let (_d, c) = cluster(1_000);
    let s = workload::init(&c, Workload::Movr, 10, 3).unwrap();
    assert_eq!(s.schema_changes, 6);
    assert_eq!(s.inserts, 10 + 5 + 10);
    let descs = c.descriptors(c.now()).unwrap();
    let by_name = |n: &str| descs.iter().find(|d| d.name == n).unwrap();
    let ty = by_name("vehicle_type");
    assert_eq!(Kind::of(ty), Some(Kind::Type));
    let Some(pb::descriptor::Kind::EnumType(e)) = &ty.kind else {
        panic!("{ty:?}")
    };
    let labels: Vec<&str> = e.members.iter().map(|m| m.label.as_str()).collect();
    assert_eq!(labels, ["bike", "scooter", "skateboard"]);
    let view = by_name("active_rides");
    let Some(pb::descriptor::Kind::View(v)) = &view.kind else {
        panic!("{view:?}")
    };
    assert_eq!(v.depends_on, [by_name("rides").id]);
    assert!(v.query.contains("end_time IS NULL"));
    // The vehicles' type column uses the enum.
    let vehicles = c.table("movr", "vehicles").unwrap();
    let col = vouch_format::schema::table(&vehicles)
        .unwrap()
        .columns
        .iter()
        .find(|c| c.name == "type")
        .unwrap()
        .clone();
    assert_eq!(col.enum_type_id, ty.id);
    // The view keeps rides from being dropped.
    assert!(matches!(
        c.drop_object(by_name("rides").id),
        Err(Error::Constraint(_))
    ));
}

#[test]
fn empty_workloads() {
    for w in [Workload::Bank, Workload::Movr] {
        let (_d, c) = cluster(1_000);
        let s = workload::init(&c, w, 0, 1).unwrap();
        assert_eq!(s.inserts, 0);
        assert!(s.last_write.is_some());
        // A run on an empty database starts by adding rows.
        let r = workload::run(&c, w, 30, 1).unwrap();
        assert!(r.inserts > 0, "{w}: {r:?}");
        check_indexes(&c);
    }
}

#[test]
fn run_before_init_says_what_is_missing() {
    let (_d, c) = cluster(1_000);
    let err = workload::run(&c, Workload::Bank, 10, 1).unwrap_err();
    assert!(matches!(err, Error::UndefinedObject(_)), "{err}");
}

/// `cargo test --release -p vouch-cluster --test workload -- --ignored --nocapture`
#[test]
#[ignore = "timing; run by hand in release mode"]
fn bank_init_100k_rows_timing() {
    let d = tempfile::tempdir().unwrap();
    let c = Cluster::init(d.path(), Clock::system()).unwrap();
    let t = std::time::Instant::now();
    let s = workload::init(&c, Workload::Bank, 100_000, 1).unwrap();
    let init = t.elapsed();
    let t = std::time::Instant::now();
    let r = workload::run(&c, Workload::Bank, 1_000, 1).unwrap();
    let run = t.elapsed();
    let size = std::fs::metadata(d.path().join("cluster.redb"))
        .unwrap()
        .len();
    eprintln!(
        "bank init 100000 rows: {init:?} ({} inserts, {size} bytes); run 1000 ops: {run:?} ({r})",
        s.inserts
    );
    let t = std::time::Instant::now();
    let (_m, m) = cluster(1_000);
    workload::init(&m, Workload::Movr, 20_000, 1).unwrap();
    eprintln!("movr init 20000 rows: {:?}", t.elapsed());
}

/// Live rows of `movr.<table>`, and the cities they hold.
fn movr_rows(c: &Cluster, table: &str) -> (u64, std::collections::BTreeSet<String>) {
    let t = c.table("movr", table).unwrap();
    let city = schema_column(&t, "city");
    let (mut n, mut cities) = (0, std::collections::BTreeSet::new());
    c.scan_rows(&t, c.now(), |r| {
        n += 1;
        match &r[city] {
            Datum::String(s) => cities.insert(s.clone()),
            other => panic!("{table}.city {other:?}"),
        };
        Ok(true)
    })
    .unwrap();
    (n, cities)
}

fn schema_column(t: &pb::Descriptor, name: &str) -> usize {
    vouch_format::schema::table(t)
        .unwrap()
        .columns
        .iter()
        .position(|c| c.name == name)
        .unwrap()
}

/// Names of the primary key columns of `t`.
fn pk_columns(t: &pb::Descriptor) -> Vec<String> {
    let tt = vouch_format::schema::table(t).unwrap();
    tt.primary_index
        .as_ref()
        .unwrap()
        .column_ids
        .iter()
        .map(|id| {
            tt.columns
                .iter()
                .find(|c| c.id == *id)
                .unwrap()
                .name
                .clone()
        })
        .collect()
}

#[test]
fn geo_partitioned_movr_places_each_partition_in_its_region() {
    use vouch_cluster::{ZoneConfig, ZoneTarget};
    use vouch_format::locality::Locality;
    let (_a, plain) = cluster(1_000);
    workload::init(&plain, Workload::Movr, 300, 7).unwrap();
    let (_b, geo) = cluster(1_000);
    let mut o = InitOptions::new(300, 7);
    o.geo_partitioned = true;
    let s = workload::init_with(&geo, Workload::Movr, &o).unwrap();
    // Schema changes: database, enum, three tables, view; then per table one PARTITION BY
    // and three zone configurations.
    assert_eq!(s.schema_changes, 6 + 3 * 4);
    assert_eq!(
        workload::MOVR_PARTITIONS
            .iter()
            .map(|p| (p.0, p.1))
            .collect::<Vec<_>>(),
        [
            ("us_west", "us-west1"),
            ("us_east", "us-east1"),
            ("europe_west", "europe-west1")
        ]
    );
    let all_cities: std::collections::BTreeSet<String> = workload::MOVR_PARTITIONS
        .iter()
        .flat_map(|p| p.2.iter().map(|c| c.to_string()))
        .collect();
    assert_eq!(all_cities.len(), 9);
    let nodes = geo.nodes().unwrap();
    let region_of = |id: u32| {
        let n = nodes.iter().find(|n| n.id == id).unwrap();
        n.locality.get("region").unwrap().to_string()
    };
    let zone_names: Vec<String> = geo
        .zone_targets(geo.now())
        .unwrap()
        .into_iter()
        .map(|z| z.1)
        .collect();
    let ranges = geo.ranges(geo.now()).unwrap();
    for table in ["users", "vehicles", "rides"] {
        // Same rows as without the flag, in every one of the nine cities.
        let (n_plain, cities_plain) = movr_rows(&plain, table);
        let (n_geo, cities_geo) = movr_rows(&geo, table);
        assert_eq!(n_geo, n_plain, "{table}");
        assert_eq!(n_geo, if table == "vehicles" { 150 } else { 300 });
        assert_eq!(cities_plain, all_cities, "{table}");
        assert_eq!(cities_geo, all_cities, "{table}");
        let p = plain.table("movr", table).unwrap();
        let t = geo.table("movr", table).unwrap();
        assert_eq!(pk_columns(&p), ["id"]);
        assert_eq!(pk_columns(&t), ["city", "id"]);
        let primary = vouch_format::schema::table(&t)
            .unwrap()
            .primary_index
            .clone()
            .unwrap();
        let parts: Vec<&str> = primary.partitions.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(parts, ["us_west", "us_east", "europe_west"], "{table}");
        for (part, region, cities) in workload::MOVR_PARTITIONS {
            let target = ZoneTarget::Partition(t.id, primary.id, part.to_string());
            assert_eq!(
                geo.zone_config(&target, geo.now()).unwrap(),
                Some(ZoneConfig {
                    constraints: Some(format!("[+region={region}]")),
                    ..ZoneConfig::default()
                }),
                "{table} {part}"
            );
            let name = format!(
                "PARTITION {part} OF INDEX movr.public.{table}@{}",
                primary.name
            );
            assert!(zone_names.contains(&name), "{name} in {zone_names:?}");
            // One range per city, each led by a node of the partition's region.
            let mine: Vec<_> = ranges.iter().filter(|r| r.zone == target).collect();
            assert_eq!(mine.len(), cities.len(), "{table} {part}");
            for r in mine {
                assert_eq!(&region_of(r.leaseholder), region, "{table} {part}");
                let l = Locality::parse(&r.locality).unwrap();
                assert_eq!(l.get("region"), Some(*region));
            }
        }
    }
    // Without the flag: no zone configuration besides the default, no partitions.
    assert_eq!(plain.zone_targets(plain.now()).unwrap().len(), 1);
    assert!(plain
        .ranges(plain.now())
        .unwrap()
        .iter()
        .all(|r| !matches!(r.zone, ZoneTarget::Partition(..))));
    // Runs keep every row in its city's partition and stay deterministic.
    let (_c, again) = cluster(5_000);
    workload::init_with(&again, Workload::Movr, &o).unwrap();
    for round in 0..2 {
        let ra = workload::run(&geo, Workload::Movr, 150, 3).unwrap();
        let rb = workload::run(&again, Workload::Movr, 150, 3).unwrap();
        assert_eq!(
            (ra.inserts, ra.updates, ra.deletes, ra.schema_changes),
            (rb.inserts, rb.updates, rb.deletes, rb.schema_changes),
            "round {round}"
        );
        assert!(ra.inserts > 0 && ra.updates > 0 && ra.deletes > 0, "{ra}");
        assert_eq!(fp(&geo), fp(&again), "round {round}");
    }
    for table in ["users", "vehicles", "rides"] {
        assert_eq!(movr_rows(&geo, table).1, all_cities, "{table}");
    }
    // bank has no geo-partitioned form.
    let (_d, bank) = cluster(1_000);
    let mut ob = InitOptions::new(10, 1);
    ob.geo_partitioned = true;
    assert!(matches!(
        workload::init_with(&bank, Workload::Bank, &ob),
        Err(Error::Usage(_))
    ));
}
