//! The statements people type while following the pages' setup steps (issue 14): SELECT
//! from a view, CREATE USER / DROP USER (the password stored hashed), DROP DATABASE
//! [CASCADE|RESTRICT], SHOW DATABASES, SHOW TABLES [FROM db], SHOW CREATE TABLE|VIEW. Each
//! result is checked byte for byte as `vouch sql` prints it; errors by their typed variant.

use vouch_cluster::{Clock, Cluster};
use vouch_sql::{Error, Output, Session};

const T0: u64 = 1_767_225_600_000_000_000;

fn cluster(dir: &std::path::Path) -> Cluster {
    Cluster::init(&dir.join("c"), Clock::manual(T0)).unwrap()
}

/// Every output of `sql`, rendered and joined, as `vouch sql` prints them.
fn printed(s: &mut Session<'_>, sql: &str) -> String {
    s.execute_all(sql)
        .unwrap_or_else(|e| panic!("{e}\n--- script -\n{sql}"))
        .iter()
        .map(Output::render)
        .collect()
}

fn shop(s: &mut Session<'_>) {
    printed(
        s,
        "CREATE DATABASE d;
         CREATE TABLE d.c (id INT PRIMARY KEY, v STRING);
         INSERT INTO d.c VALUES (1, 'a'), (2, 'b'), (3, 'c');
         CREATE VIEW d.w AS SELECT id, v FROM d.c WHERE id >= 2;
         CREATE VIEW d.ww AS SELECT v FROM w WHERE id = 3",
    );
}

#[test]
fn select_from_views() {
    let d = tempfile::tempdir().unwrap();
    let c = cluster(d.path());
    let mut s = Session::new(&c);
    shop(&mut s);
    assert_eq!(
        printed(&mut s, "SELECT * FROM d.w"),
        " id | v\n----+---\n  2 | b\n  3 | c\n(2 rows)\n"
    );
    assert_eq!(
        printed(
            &mut s,
            "SELECT v FROM d.w WHERE id > 2 ORDER BY v DESC LIMIT 1"
        ),
        " v\n---\n c\n(1 row)\n"
    );
    assert_eq!(
        printed(&mut s, "SELECT count(*) FROM d.w"),
        " count\n-------\n     2\n(1 row)\n"
    );
    // A view over a view, its names resolved in its own database (`w` is d.w).
    assert_eq!(
        printed(&mut s, "SELECT * FROM d.ww"),
        " v\n---\n c\n(1 row)\n"
    );
}

#[test]
fn create_and_drop_users() {
    let d = tempfile::tempdir().unwrap();
    let c = cluster(d.path());
    let mut s = Session::new(&c);
    assert_eq!(
        printed(&mut s, "CREATE USER alice WITH PASSWORD 's3cret'"),
        "CREATE ROLE\n"
    );
    // The hash is stored, never the password.
    let users = printed(
        &mut s,
        "SELECT * FROM system.users WHERE username = 'alice'",
    );
    assert!(!users.contains("s3cret"), "{users}");
    let row = c
        .txn()
        .get_row(
            &c.table("system", "users").unwrap(),
            &[vouch_format::keys::Datum::String("alice".into())],
        )
        .unwrap()
        .unwrap();
    let vouch_format::keys::Datum::Bytes(hash) = &row[1] else {
        panic!("{row:?}")
    };
    assert!(vouch_cluster::check_password("s3cret", hash));
    assert!(!vouch_cluster::check_password("other", hash));
    assert!(!hash.windows(6).any(|w| w == b"s3cret"));
    // Again: refused; IF NOT EXISTS: accepted. Without a password: NULL.
    assert!(matches!(
        s.execute("CREATE USER alice"),
        Err(Error::Cluster(vouch_cluster::Error::DuplicateObject(_)))
    ));
    assert_eq!(
        printed(&mut s, "CREATE USER IF NOT EXISTS alice"),
        "CREATE ROLE\n"
    );
    assert_eq!(printed(&mut s, "CREATE USER bob"), "CREATE ROLE\n");
    assert_eq!(
        printed(
            &mut s,
            "SELECT username, \"hashedPassword\" FROM system.users WHERE username = 'bob'"
        ),
        " username | hashedPassword\n----------+----------------\n bob      | NULL\n(1 row)\n"
    );
    assert_eq!(printed(&mut s, "DROP USER alice, bob"), "DROP ROLE\n");
    assert_eq!(
        printed(
            &mut s,
            "SELECT username FROM system.users ORDER BY username"
        ),
        " username\n----------\n admin\n root\n(2 rows)\n"
    );
    assert!(matches!(
        s.execute("DROP USER alice"),
        Err(Error::Cluster(vouch_cluster::Error::UndefinedObject(_)))
    ));
    assert_eq!(printed(&mut s, "DROP USER IF EXISTS alice"), "DROP ROLE\n");
    assert!(matches!(s.execute("DROP USER root"), Err(Error::Usage(_))));
}

#[test]
fn show_databases_tables_and_create() {
    let d = tempfile::tempdir().unwrap();
    let c = cluster(d.path());
    let mut s = Session::new(&c);
    shop(&mut s);
    assert_eq!(
        printed(&mut s, "SHOW DATABASES"),
        " database_name | owner | primary_region | secondary_region | regions | survival_goal\n\
         ---------------+-------+----------------+------------------+---------+---------------\n\
         \x20d             | root  | NULL           | NULL             | {}      | NULL\n\
         \x20defaultdb     | root  | NULL           | NULL             | {}      | NULL\n\
         \x20postgres      | root  | NULL           | NULL             | {}      | NULL\n\
         \x20system        | node  | NULL           | NULL             | {}      | NULL\n\
         (4 rows)\n"
    );
    let tables = " schema_name | table_name | type  | owner | estimated_row_count | locality\n\
         -------------+------------+-------+-------+---------------------+----------\n\
         \x20public      | c          | table | root  |                   3 | NULL\n\
         \x20public      | w          | view  | root  |                NULL | NULL\n\
         \x20public      | ww         | view  | root  |                NULL | NULL\n\
         (3 rows)\n";
    assert_eq!(printed(&mut s, "SHOW TABLES FROM d"), tables);
    assert_eq!(
        printed(&mut s, "USE d; SHOW TABLES").trim_start_matches("SET\n"),
        tables
    );
    assert_eq!(
        printed(&mut s, "SHOW CREATE TABLE c"),
        format!(
            " table_name |{}create_statement\n------------+{}\n c          | CREATE TABLE public.c (\n\
             \tid INT8 NOT NULL,\n\tv STRING NULL,\n\tCONSTRAINT c_pkey PRIMARY KEY (id ASC)\n)\n\
             (1 row)\n",
            " ".repeat(43),
            "-".repeat(102)
        )
    );
    assert_eq!(
        printed(&mut s, "SHOW CREATE VIEW d.public.w"),
        " table_name |                      create_statement\n\
         ------------+-------------------------------------------------------------\n\
         \x20d.public.w | CREATE VIEW public.w AS SELECT id, v FROM d.c WHERE id >= 2\n\
         (1 row)\n"
    );
    assert!(matches!(
        s.execute("SHOW CREATE TABLE nope"),
        Err(Error::Cluster(vouch_cluster::Error::UndefinedObject(_)))
    ));
    assert!(matches!(
        s.execute("SHOW TABLES FROM nope"),
        Err(Error::Cluster(vouch_cluster::Error::UndefinedObject(_)))
    ));
}

#[test]
fn drop_database_cascade_and_restrict() {
    let d = tempfile::tempdir().unwrap();
    let c = cluster(d.path());
    let mut s = Session::new(&c);
    shop(&mut s);
    assert!(matches!(
        s.execute("DROP DATABASE d RESTRICT"),
        Err(Error::Usage(_))
    ));
    assert_eq!(
        printed(&mut s, "DROP DATABASE d CASCADE"),
        "DROP DATABASE\n"
    );
    let cat = c.catalog(c.now()).unwrap();
    assert!(cat.database("d").is_none());
    assert!(cat.iter().all(|o| o.name != "c" && o.name != "w"));
    assert!(matches!(
        s.execute("DROP DATABASE d"),
        Err(Error::Cluster(vouch_cluster::Error::UndefinedObject(_)))
    ));
    assert_eq!(
        printed(&mut s, "DROP DATABASE IF EXISTS d"),
        "DROP DATABASE\n"
    );
    // An empty database goes with RESTRICT too; the name is free again.
    assert_eq!(
        printed(
            &mut s,
            "CREATE DATABASE d; DROP DATABASE d RESTRICT; CREATE DATABASE d"
        ),
        "CREATE DATABASE\nDROP DATABASE\nCREATE DATABASE\n"
    );
    assert!(matches!(
        s.execute("DROP DATABASE system"),
        Err(Error::Usage(_))
    ));
}
