//! Zone configurations and partitions through `vouch sql` (spec/sql.md, spec/locality.md).

use vouch_cluster::{Clock, Cluster, ZoneTarget};
use vouch_sql::{Error, Output, Session};

fn cluster() -> (tempfile::TempDir, Cluster) {
    let dir = tempfile::tempdir().unwrap();
    let c = Cluster::init(
        &dir.path().join("c"),
        Clock::manual(1_700_000_000_000_000_000),
    )
    .unwrap();
    (dir, c)
}

const RIDES: &str = "CREATE DATABASE movr;
    CREATE TABLE movr.rides (city STRING NOT NULL, id INT NOT NULL, PRIMARY KEY (city, id))
      PARTITION BY LIST (city) (
        PARTITION us_west VALUES IN ('seattle', 'san francisco'),
        PARTITION europe_west VALUES IN ('rome'))";

fn run(c: &Cluster, sql: &str) -> Vec<Output> {
    Session::new(c)
        .execute_all(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn render(c: &Cluster, sql: &str) -> String {
    run(c, sql).iter().map(Output::render).collect()
}

fn err(c: &Cluster, sql: &str) -> Error {
    match Session::new(c).execute_all(sql) {
        Ok(o) => panic!("{sql}: succeeded with {o:?}"),
        Err(e) => e,
    }
}

/// SHOW ZONE CONFIGURATION's table as `cockroach sql` prints it (an independent rendering).
fn rendered(targets: &[&str], sql: &[&str]) -> String {
    let w1 = targets.iter().map(|t| t.len()).max().unwrap().max(6);
    let w2 = sql.iter().map(|t| t.len()).max().unwrap().max(14);
    let center = |h: &str, w: usize| {
        let pad = w - h.len();
        format!("{}{}{}", " ".repeat(pad / 2), h, " ".repeat(pad - pad / 2))
    };
    let mut out = format!(
        "{}\n{}+{}\n",
        format!(
            " {} | {} ",
            center("target", w1),
            center("raw_config_sql", w2)
        )
        .trim_end(),
        "-".repeat(w1 + 2),
        "-".repeat(w2 + 2)
    );
    for (t, q) in targets.iter().zip(sql) {
        out += &format!(" {t:<w1$} | {q}\n");
    }
    out += &format!(
        "({} row{})\n",
        targets.len(),
        if targets.len() == 1 { "" } else { "s" }
    );
    out
}

#[test]
fn configure_show_and_discard() {
    let (_d, c) = cluster();
    assert_eq!(render(&c, RIDES), "CREATE DATABASE\nCREATE TABLE\n");
    assert_eq!(
        render(
            &c,
            "ALTER PARTITION us_west OF INDEX movr.public.rides@primary CONFIGURE ZONE USING constraints = '[+region=us-west1]';
             ALTER TABLE movr.rides CONFIGURE ZONE USING gc.ttlseconds = 600, num_replicas = 5;
             ALTER DATABASE movr CONFIGURE ZONE USING constraints = '[-region=us-east1]'"
        ),
        "CONFIGURE ZONE 1\nCONFIGURE ZONE 1\nCONFIGURE ZONE 1\n"
    );
    assert_eq!(
        render(
            &c,
            "SHOW ZONE CONFIGURATION FOR PARTITION us_west OF TABLE movr.rides"
        ),
        rendered(
            &["PARTITION us_west OF INDEX movr.public.rides@rides_pkey"],
            &["ALTER PARTITION us_west OF INDEX movr.public.rides@rides_pkey CONFIGURE ZONE USING gc.ttlseconds = 600, num_replicas = 5, constraints = '[+region=us-west1]'"]
        )
    );
    // A level without its own configuration shows the one it inherits.
    let out = run(
        &c,
        "SHOW ZONE CONFIGURATION FOR PARTITION europe_west OF INDEX movr.rides@rides_pkey",
    );
    let t = out[0].table().unwrap();
    assert_eq!(t.rows.len(), 1);
    assert_eq!(t.rows[0][0].as_deref(), Some("TABLE movr.public.rides"));
    assert_eq!(
        t.rows[0][1].as_deref(),
        Some("ALTER TABLE movr.public.rides CONFIGURE ZONE USING gc.ttlseconds = 600, num_replicas = 5, constraints = '[-region=us-east1]'")
    );
    let out = run(&c, "SHOW ZONE CONFIGURATIONS");
    let targets: Vec<&str> = out[0]
        .table()
        .unwrap()
        .rows
        .iter()
        .map(|r| r[0].as_deref().unwrap())
        .collect();
    assert_eq!(
        targets,
        [
            "RANGE default",
            "DATABASE movr",
            "TABLE movr.public.rides",
            "PARTITION us_west OF INDEX movr.public.rides@rides_pkey"
        ]
    );
    assert_eq!(
        render(
            &c,
            "ALTER PARTITION us_west OF INDEX movr.public.rides@primary CONFIGURE ZONE DISCARD"
        ),
        "CONFIGURE ZONE 1\n"
    );
    let d = c.table("movr", "rides").unwrap();
    assert_eq!(
        c.zone_config(&ZoneTarget::Partition(d.id, 1, "us_west".into()), c.now())
            .unwrap(),
        None
    );
    assert_eq!(
        render(
            &c,
            "ALTER RANGE default CONFIGURE ZONE USING gc.ttlseconds = 100; SHOW ZONE CONFIGURATION FOR RANGE default"
        ),
        format!(
            "CONFIGURE ZONE 1\n{}",
            rendered(
                &["RANGE default"],
                &["ALTER RANGE default CONFIGURE ZONE USING gc.ttlseconds = 100, num_replicas = 3, constraints = '[]'"]
            )
        )
    );
}

#[test]
fn alter_table_partition_by_and_index_zones() {
    let (_d, c) = cluster();
    run(
        &c,
        "CREATE DATABASE d; CREATE TABLE d.t (k INT NOT NULL, v STRING, PRIMARY KEY (k));
         CREATE INDEX t_v_idx ON d.t (v);
         ALTER TABLE d.t PARTITION BY LIST (k) (PARTITION small VALUES IN (1, 2, 3), PARTITION big VALUES IN (100));
         ALTER INDEX d.t@t_v_idx PARTITION BY LIST (v) (PARTITION a VALUES IN ('a'));
         ALTER INDEX d.t@t_v_idx CONFIGURE ZONE USING constraints = '[+region=europe-west1]';
         ALTER PARTITION a OF INDEX d.t@t_v_idx CONFIGURE ZONE USING constraints = '[+region=us-west1]'",
    );
    let d = c.table("d", "t").unwrap();
    let ranges: Vec<_> = c
        .ranges(c.now())
        .unwrap()
        .into_iter()
        .filter(|r| r.table_id == d.id)
        .collect();
    let zones: Vec<&ZoneTarget> = ranges.iter().map(|r| &r.zone).collect();
    // The primary index's partitions have no zone of their own but are still ranges; the
    // index t_v_idx (id 2) has its own zone around its partition a.
    assert!(zones.contains(&&ZoneTarget::Partition(d.id, 1, "small".into())));
    assert!(zones.contains(&&ZoneTarget::Partition(d.id, 2, "a".into())));
    assert!(zones.contains(&&ZoneTarget::Index(d.id, 2)));
    for r in &ranges {
        match &r.zone {
            ZoneTarget::Partition(_, 2, _) => assert!(r.locality.starts_with("region=us-west1,")),
            ZoneTarget::Index(_, 2) => assert!(r.locality.starts_with("region=europe-west1,")),
            _ => {}
        }
    }
}

#[test]
fn errors_name_what_is_wrong() {
    let (_d, c) = cluster();
    run(&c, RIDES);
    // CockroachDB's message for a tier that is not key=value.
    let e = err(
        &c,
        "ALTER TABLE movr.rides CONFIGURE ZONE USING constraints = '[+region]'",
    );
    assert!(
        matches!(&e, Error::Cluster(vouch_cluster::Error::Locality(_))),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "tier must be in the form \"key=value\" not \"region\""
    );
    let e = err(
        &c,
        "ALTER PARTITION nope OF INDEX movr.public.rides@primary CONFIGURE ZONE USING num_replicas = 3",
    );
    assert!(
        matches!(&e, Error::Cluster(vouch_cluster::Error::UndefinedObject(_))),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "partition \"nope\" does not exist on index \"rides@rides_pkey\""
    );
    let e = err(
        &c,
        "ALTER TABLE movr.rides CONFIGURE ZONE USING range_max_bytes = 1",
    );
    assert!(matches!(&e, Error::NotSupported(_)), "{e:?}");
    let e = err(
        &c,
        "ALTER TABLE movr.rides CONFIGURE ZONE USING num_replicas = 0",
    );
    assert!(matches!(&e, Error::Usage(_)), "{e:?}");
    let e = err(&c, "ALTER TABLE movr.rides CONFIGURE ZONE");
    assert!(matches!(&e, Error::Syntax(_)), "{e:?}");
    let e = err(
        &c,
        "ALTER INDEX movr.rides@nope CONFIGURE ZONE USING num_replicas = 3",
    );
    assert!(
        matches!(&e, Error::Cluster(vouch_cluster::Error::UndefinedObject(_))),
        "{e:?}"
    );
    // A bad PARTITION BY creates no table.
    let e = err(
        &c,
        "CREATE TABLE movr.x (id INT PRIMARY KEY) PARTITION BY LIST (id) (PARTITION p VALUES IN ('a'))",
    );
    assert!(matches!(&e, Error::Usage(_)), "{e:?}");
    assert!(c.table("movr", "x").is_err());
    let e = err(
        &c,
        "CREATE TABLE movr.y (id INT PRIMARY KEY) PARTITION BY RANGE (id) (PARTITION p VALUES FROM (1) TO (2))",
    );
    assert!(matches!(&e, Error::NotSupported(_)), "{e:?}");
    assert!(c.table("movr", "y").is_err());
}
