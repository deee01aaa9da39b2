//! Nodes, zone configurations, partitions and leaseholders (spec/locality.md).

use vouch_cluster::{
    Clock, Cluster, ColumnDef, Error, TableDef, ZoneConfig, ZoneTarget, DEFAULT_GC_TTL_SECS,
    DEMO_NODES,
};
use vouch_format::keys::{self, ColumnType, Datum, Direction};
use vouch_format::locality::{Locality, LocalityError};

fn cluster() -> (tempfile::TempDir, Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::init(
        &dir.path().join("c"),
        Clock::manual(1_700_000_000_000_000_000),
    )
    .unwrap();
    (dir, c)
}

/// `db.rides (city STRING, id INT, PRIMARY KEY (city, id))` partitioned by city.
fn rides(c: &Cluster) -> u64 {
    c.create_database("db").unwrap();
    let id = c
        .create_table(
            "db",
            &TableDef {
                name: "rides".into(),
                columns: vec![
                    ColumnDef::new("city", ColumnType::String, false),
                    ColumnDef::new("id", ColumnType::Int, false),
                ],
                primary_key: vec!["city".into(), "id".into()],
                indexes: vec![],
                foreign_keys: vec![],
            },
        )
        .unwrap();
    let s = |v: &str| vec![Datum::String(v.into())];
    c.partition_by_list(
        id,
        1,
        &["city".into()],
        &[
            ("us_west".into(), vec![s("seattle"), s("los angeles")]),
            ("us_east".into(), vec![s("boston")]),
            ("europe_west".into(), vec![s("rome"), s("paris")]),
        ],
    )
    .unwrap();
    id
}

fn constraints(c: &str) -> ZoneConfig {
    ZoneConfig {
        constraints: Some(c.into()),
        ..Default::default()
    }
}

fn city_key(table: u64, city: &str, id: i64) -> Vec<u8> {
    keys::encode_index_key(
        table,
        1,
        &[
            (Datum::String(city.into()), Direction::Asc),
            (Datum::Int(id), Direction::Asc),
        ],
    )
    .unwrap()
}

#[test]
fn nodes_default_to_the_movr_demo_and_can_be_set() {
    let (_d, c) = cluster();
    let nodes = c.nodes().unwrap();
    assert_eq!(nodes.len(), 9);
    let texts: Vec<String> = nodes.iter().map(|n| n.locality.to_string()).collect();
    assert_eq!(texts, DEMO_NODES);
    assert_eq!(
        nodes.iter().map(|n| n.id).collect::<Vec<_>>(),
        (1..=9).collect::<Vec<_>>()
    );
    assert_eq!(
        c.regions().unwrap(),
        ["us-east1", "us-west1", "europe-west1"]
    );
    let ls = vec![
        Locality::parse("region=us-west1,zone=us-west1-a").unwrap(),
        Locality::parse("region=eu,zone=eu-a").unwrap(),
    ];
    c.set_nodes(&ls).unwrap();
    let nodes = c.nodes().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[1].id, 2);
    assert_eq!(nodes[1].locality, ls[1]);
    assert_eq!(c.regions().unwrap(), ["us-west1", "eu"]);
    assert!(matches!(c.set_nodes(&[]), Err(Error::Usage(_))));
}

#[test]
fn partition_ranges_have_their_leases_in_the_constrained_region() {
    let (_d, c) = cluster();
    let t = rides(&c);
    c.configure_zone(
        &ZoneTarget::Partition(t, 1, "us_west".into()),
        &constraints("[+region=us-west1]"),
    )
    .unwrap();
    c.configure_zone(
        &ZoneTarget::Partition(t, 1, "europe_west".into()),
        &constraints("[+region=europe-west1]"),
    )
    .unwrap();
    let ranges: Vec<_> = c
        .ranges(c.now())
        .unwrap()
        .into_iter()
        .filter(|r| r.table_id == t)
        .collect();
    // The ranges cover the table's span exactly, in order, without gaps.
    let (ts, te) = keys::table_span(t);
    assert_eq!(ranges.first().unwrap().start, ts);
    assert_eq!(ranges.last().unwrap().end, te);
    for w in ranges.windows(2) {
        assert_eq!(w[0].end, w[1].start);
        assert!(w[0].start < w[0].end);
    }
    // One range per listed city, each holding that city's keys.
    for (city, part, region) in [
        ("seattle", "us_west", Some("us-west1")),
        ("los angeles", "us_west", Some("us-west1")),
        ("rome", "europe_west", Some("europe-west1")),
        ("paris", "europe_west", Some("europe-west1")),
        ("boston", "us_east", None),
    ] {
        let k = city_key(t, city, 42);
        let r = ranges.iter().find(|r| r.start <= k && k < r.end).unwrap();
        assert_eq!(r.zone, ZoneTarget::Partition(t, 1, part.into()), "{city}");
        if let Some(region) = region {
            let l = Locality::parse(&r.locality).unwrap();
            assert_eq!(l.get("region"), Some(region), "{city}: {}", r.locality);
        }
    }
    // A city in no partition is in a table-level range.
    let k = city_key(t, "oslo", 1);
    let r = ranges.iter().find(|r| r.start <= k && k < r.end).unwrap();
    assert_eq!(r.zone, ZoneTarget::Table(t));
    // The same inputs give the same placement.
    let again: Vec<_> = c
        .ranges(c.now())
        .unwrap()
        .into_iter()
        .filter(|r| r.table_id == t)
        .collect();
    assert_eq!(ranges, again);
}

#[test]
fn constraints_inherit_from_index_table_database_and_default() {
    let (_d, c) = cluster();
    let t = rides(&c);
    let db = c.catalog(c.now()).unwrap().database("db").unwrap().id;
    let region_of = |city: &str| {
        let k = city_key(t, city, 1);
        let r = c
            .ranges(c.now())
            .unwrap()
            .into_iter()
            .find(|r| r.start <= k && k < r.end)
            .unwrap();
        Locality::parse(&r.locality)
            .unwrap()
            .get("region")
            .unwrap()
            .to_string()
    };
    c.configure_zone(&ZoneTarget::Default, &constraints("[+region=us-east1]"))
        .unwrap();
    assert_eq!(region_of("rome"), "us-east1");
    assert_eq!(region_of("oslo"), "us-east1");
    c.configure_zone(
        &ZoneTarget::Database(db),
        &constraints("[+region=us-west1]"),
    )
    .unwrap();
    assert_eq!(region_of("rome"), "us-west1");
    c.configure_zone(
        &ZoneTarget::Table(t),
        &constraints("[+region=europe-west1]"),
    )
    .unwrap();
    assert_eq!(region_of("oslo"), "europe-west1");
    c.configure_zone(
        &ZoneTarget::Index(t, 1),
        &constraints("[+region=us-east1, -az=b]"),
    )
    .unwrap();
    let k = city_key(t, "oslo", 1);
    let r = c
        .ranges(c.now())
        .unwrap()
        .into_iter()
        .find(|r| r.start <= k && k < r.end)
        .unwrap();
    assert_eq!(r.zone, ZoneTarget::Index(t, 1));
    assert!(r.locality == "region=us-east1,az=c" || r.locality == "region=us-east1,az=d");
    c.configure_zone(
        &ZoneTarget::Partition(t, 1, "europe_west".into()),
        &constraints("[+region=europe-west1]"),
    )
    .unwrap();
    assert_eq!(region_of("rome"), "europe-west1");
    assert_eq!(region_of("boston"), "us-east1");
    // Discarding the partition's zone falls back to the index's.
    assert!(c
        .discard_zone(&ZoneTarget::Partition(t, 1, "europe_west".into()))
        .unwrap());
    assert_eq!(region_of("rome"), "us-east1");
    assert!(!c
        .discard_zone(&ZoneTarget::Partition(t, 1, "europe_west".into()))
        .unwrap());
    // Effective configuration: fields from the nearest level that sets them.
    let z = c
        .effective_zone(&ZoneTarget::Partition(t, 1, "us_west".into()), c.now())
        .unwrap();
    assert_eq!(z.constraints.as_deref(), Some("[+region=us-east1, -az=b]"));
    assert_eq!(z.gc_ttl_seconds, None);
}

#[test]
fn a_constraint_no_node_matches_falls_back_to_any_node() {
    let (_d, c) = cluster();
    let t = rides(&c);
    c.configure_zone(
        &ZoneTarget::Partition(t, 1, "us_west".into()),
        &constraints("[+region=us-west1]"),
    )
    .unwrap();
    c.set_nodes(&[
        Locality::parse("region=us-east1,az=b").unwrap(),
        Locality::parse("region=europe-west1,az=b").unwrap(),
    ])
    .unwrap();
    let k = city_key(t, "seattle", 1);
    let r = c
        .ranges(c.now())
        .unwrap()
        .into_iter()
        .find(|r| r.start <= k && k < r.end)
        .unwrap();
    assert!(r.leaseholder == 1 || r.leaseholder == 2);
    // The configuration stays (as CockroachDB keeps it after restoring into such a cluster).
    assert_eq!(
        c.zone_config(&ZoneTarget::Partition(t, 1, "us_west".into()), c.now())
            .unwrap()
            .unwrap()
            .constraints
            .as_deref(),
        Some("[+region=us-west1]")
    );
}

#[test]
fn gc_ttlseconds_drives_the_gc_ttl_of_each_span() {
    let (_d, c) = cluster();
    let t = rides(&c);
    let seattle = city_key(t, "seattle", 1);
    let oslo = city_key(t, "oslo", 1);
    assert_eq!(c.kv().gc_ttl(&oslo).unwrap(), DEFAULT_GC_TTL_SECS);
    c.configure_zone(
        &ZoneTarget::Table(t),
        &ZoneConfig {
            gc_ttl_seconds: Some(600),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.kv().gc_ttl(&oslo).unwrap(), 600);
    c.configure_zone(
        &ZoneTarget::Partition(t, 1, "us_west".into()),
        &ZoneConfig {
            gc_ttl_seconds: Some(30),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.kv().gc_ttl(&seattle).unwrap(), 30);
    assert_eq!(c.kv().gc_ttl(&oslo).unwrap(), 600);
    // Setting constraints keeps the TTL set before.
    c.configure_zone(&ZoneTarget::Table(t), &constraints("[+region=us-west1]"))
        .unwrap();
    assert_eq!(c.kv().gc_ttl(&oslo).unwrap(), 600);
    c.discard_zone(&ZoneTarget::Table(t)).unwrap();
    assert_eq!(c.kv().gc_ttl(&oslo).unwrap(), DEFAULT_GC_TTL_SECS);
    assert_eq!(c.kv().gc_ttl(&seattle).unwrap(), 30);
    // The default zone applies to everything else.
    c.configure_zone(
        &ZoneTarget::Default,
        &ZoneConfig {
            gc_ttl_seconds: Some(1000),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.kv().gc_ttl(&oslo).unwrap(), 1000);
    assert_eq!(c.kv().gc_ttl(b"\x99").unwrap(), 1000);
}

#[test]
fn zone_configurations_are_rows_of_system_zones() {
    let (_d, c) = cluster();
    let t = rides(&c);
    let before = c.now();
    c.configure_zone(
        &ZoneTarget::Partition(t, 1, "us_west".into()),
        &constraints("[ +region=us-west1 ]"),
    )
    .unwrap();
    let zones = c.table("system", "zones").unwrap();
    let mut rows = Vec::new();
    c.scan_rows(&zones, c.now(), |r| {
        rows.push(r);
        Ok(true)
    })
    .unwrap();
    assert_eq!(
        rows,
        [vec![
            Datum::Int(t as i64),
            Datum::Int(1),
            Datum::String("us_west".into()),
            Datum::Null,
            Datum::Null,
            Datum::String("[+region=us-west1]".into()),
        ]]
    );
    // MVCC rows: the configuration at an earlier time is absent.
    assert_eq!(
        c.zone_config(&ZoneTarget::Partition(t, 1, "us_west".into()), before)
            .unwrap(),
        None
    );
}

#[test]
fn bad_inputs_are_typed_errors() {
    let (_d, c) = cluster();
    let t = rides(&c);
    assert!(matches!(
        c.configure_zone(&ZoneTarget::Table(t), &constraints("[region=x]")),
        Err(Error::Locality(LocalityError::Constraints { .. }))
    ));
    assert!(matches!(
        c.configure_zone(&ZoneTarget::Table(t), &constraints("[+region]")),
        Err(Error::Locality(LocalityError::Tier(_)))
    ));
    assert!(matches!(
        c.configure_zone(
            &ZoneTarget::Partition(t, 1, "nope".into()),
            &constraints("[]")
        ),
        Err(Error::UndefinedObject(_))
    ));
    assert!(matches!(
        c.configure_zone(&ZoneTarget::Index(t, 9), &constraints("[]")),
        Err(Error::UndefinedObject(_))
    ));
    // Partition columns must be the index's first key columns.
    assert!(matches!(
        c.partition_by_list(
            t,
            1,
            &["id".into()],
            &[("p".into(), vec![vec![Datum::Int(1)]])]
        ),
        Err(Error::Usage(_))
    ));
    // A value listed twice.
    let s = |v: &str| vec![Datum::String(v.into())];
    assert!(matches!(
        c.partition_by_list(
            t,
            1,
            &["city".into()],
            &[("a".into(), vec![s("x")]), ("b".into(), vec![s("x")])]
        ),
        Err(Error::Usage(_))
    ));
    // A value of the wrong type.
    assert!(matches!(
        c.partition_by_list(
            t,
            1,
            &["city".into()],
            &[("a".into(), vec![vec![Datum::Int(3)]])]
        ),
        Err(Error::Constraint(_))
    ));
}

#[test]
fn a_tables_own_ttl_and_its_zones_feed_the_effective_gc_ttl() {
    let (_d, c) = cluster();
    let t = rides(&c);
    let db = c.catalog(c.now()).unwrap().database("db").unwrap().id;
    c.configure_zone(
        &ZoneTarget::Database(db),
        &ZoneConfig {
            gc_ttl_seconds: Some(500),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.effective_gc_ttl(t).unwrap(), 500);
    // The table's own TTL wins over its zones, and RESET gives it back to them.
    c.set_table_gc_ttl(t, 60).unwrap();
    assert_eq!(c.effective_gc_ttl(t).unwrap(), 60);
    c.configure_zone(
        &ZoneTarget::Table(t),
        &ZoneConfig {
            gc_ttl_seconds: Some(700),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(c.effective_gc_ttl(t).unwrap(), 60);
    c.reset_table_gc_ttl(t).unwrap();
    assert_eq!(c.effective_gc_ttl(t).unwrap(), 700);
    c.discard_zone(&ZoneTarget::Table(t)).unwrap();
    assert_eq!(c.effective_gc_ttl(t).unwrap(), 500);
}
