//! DDL and DML through `sqlparser` (PostgreSQL dialect): enough to set up and check the
//! seeds' examples and to load what `SHOW BACKUP SCHEMAS` / `vouch dump` print.
//!
//! CockroachDB spellings PostgreSQL lacks are handled before parsing: `USE db` and
//! `SET database = db`; inside `CREATE TABLE`, `[UNIQUE] INDEX name (cols) [STORING (…)]`
//! elements and a trailing `WITH (exclude_data_from_backup = …)`; `STORING` in `CREATE
//! INDEX`; `ALTER TABLE … SET (…)` / `RESET (…)` of storage parameters (`alter`).

mod admin;
mod alter;
mod ddl;
mod dml;
mod names;
mod protected;
mod zones;

use sqlparser::ast::{self, ObjectType, UserDefinedTypeRepresentation};
use vouch_cluster::IndexDef;
use vouch_format::schema::Kind;

use crate::{Error, Output, Result, Session};
use ddl::{create_table, view_relations};
use dml::{delete, insert, query, update};
use names::{
    column_name, folded, ident, name_parts, parse_one, resolve_name, table_of, unsupported,
};

fn first_word_is(stmt: &str, words: &[&str]) -> bool {
    let got: Vec<String> = stmt
        .split_whitespace()
        .take(words.len())
        .map(|w| w.to_ascii_uppercase())
        .collect();
    got.iter().map(String::as_str).eq(words.iter().copied())
}

/// Runs one DDL/DML statement.
pub fn execute(s: &mut Session<'_>, stmt: &str) -> Result<Output> {
    // CockroachDB spellings PostgreSQL lacks.
    let words: Vec<&str> = stmt.split_whitespace().collect();
    if let [u, db] = words.as_slice() {
        if u.eq_ignore_ascii_case("USE") {
            s.set_database(&ident(db))?;
            return Ok(Output::Tag("SET".into()));
        }
    }
    if first_word_is(stmt, &["SET"]) {
        let rest: String = stmt[3..].chars().filter(|c| !c.is_whitespace()).collect();
        let lower = rest.to_ascii_lowercase();
        if let Some(db) = lower
            .strip_prefix("database=")
            .or_else(|| lower.strip_prefix("databaseto"))
        {
            let db = &rest[rest.len() - db.len()..];
            s.set_database(&ident(db.trim_matches('\'')))?;
            return Ok(Output::Tag("SET".into()));
        }
        return Err(unsupported(&format!("session setting {stmt}")));
    }
    if zones::handles(stmt) {
        return zones::execute(s, stmt);
    }
    if protected::handles(stmt) {
        return protected::execute(s);
    }
    if alter::handles(stmt) {
        return alter::execute(s, stmt);
    }
    if admin::handles(stmt) {
        return admin::execute(s, stmt);
    }
    if first_word_is(stmt, &["CREATE", "TABLE"]) {
        return create_table(s, stmt);
    }
    let stmt_owned;
    let stmt = if first_word_is(stmt, &["CREATE", "INDEX"])
        || first_word_is(stmt, &["CREATE", "UNIQUE", "INDEX"])
    {
        stmt_owned = stmt
            .replace(" STORING ", " INCLUDE ")
            .replace(" storing ", " INCLUDE ");
        stmt_owned.as_str()
    } else {
        stmt
    };
    let parsed = parse_one(stmt)?;
    match &parsed {
        ast::Statement::CreateDatabase {
            db_name,
            if_not_exists,
            ..
        } => {
            let name = name_parts(db_name).join(".");
            let cat = s.cluster().catalog(s.cluster().now())?;
            if !(*if_not_exists && cat.database(&name).is_some()) {
                s.cluster().create_database(&name)?;
            }
            Ok(Output::Tag("CREATE DATABASE".into()))
        }
        ast::Statement::CreateType {
            name,
            representation,
        } => {
            let Some(UserDefinedTypeRepresentation::Enum { labels }) = representation else {
                return Err(unsupported("CREATE TYPE other than AS ENUM"));
            };
            let (db, t) = resolve_name(s, name)?;
            let labels: Vec<&str> = labels.iter().map(|l| l.value.as_str()).collect();
            s.cluster().create_enum(&db, &t, &labels)?;
            Ok(Output::Tag("CREATE TYPE".into()))
        }
        ast::Statement::CreateView(v) => {
            if v.materialized {
                return Err(unsupported("materialized views"));
            }
            let (db, name) = resolve_name(s, &v.name)?;
            let mut rel = Vec::new();
            view_relations(&v.query, &mut rel);
            let rel: Vec<&str> = rel.iter().map(String::as_str).collect();
            s.cluster()
                .create_view(&db, &name, &v.query.to_string(), &rel)?;
            Ok(Output::Tag("CREATE VIEW".into()))
        }
        ast::Statement::CreateIndex(ci) => {
            let (_, d) = table_of(s, &ci.table_name)?;
            let name = match &ci.name {
                Some(n) => name_parts(n).last().cloned().unwrap_or_default(),
                None => return Err(Error::Usage("CREATE INDEX needs a name".into())),
            };
            let def = IndexDef {
                name,
                columns: ci
                    .columns
                    .iter()
                    .map(|c| {
                        column_name(&c.column.expr)
                            .map(|n| (n, c.column.options.sort == Some(ast::OrderBySort::Desc)))
                            .ok_or_else(|| unsupported(&format!("index on {}", c.column.expr)))
                    })
                    .collect::<Result<_>>()?,
                unique: ci.unique,
                storing: ci.include.iter().map(folded).collect(),
            };
            s.cluster().create_index(d.id, &def)?;
            Ok(Output::Tag("CREATE INDEX".into()))
        }
        ast::Statement::Drop {
            object_type: ObjectType::Database,
            if_exists,
            names,
            restrict,
            ..
        } => admin::drop_database(s, names, *if_exists, *restrict),
        ast::Statement::Drop {
            object_type,
            if_exists,
            names,
            ..
        } => {
            let (tag, kind) = match object_type {
                ObjectType::Table => ("DROP TABLE", Kind::Table),
                ObjectType::View => ("DROP VIEW", Kind::View),
                other => return Err(unsupported(&format!("DROP {other}"))),
            };
            for n in names {
                let (db, t) = resolve_name(s, n)?;
                let cat = s.cluster().catalog(s.cluster().now())?;
                let found = cat
                    .database(&db)
                    .and_then(|d| cat.object(d.id, &t))
                    .filter(|o| Kind::of(o) == Some(kind))
                    .map(|o| o.id);
                match found {
                    Some(id) => {
                        s.cluster().drop_object(id)?;
                    }
                    None if *if_exists => {}
                    None => {
                        return Err(Error::Cluster(vouch_cluster::Error::UndefinedObject(
                            format!("relation \"{db}.{t}\" does not exist"),
                        )))
                    }
                }
            }
            Ok(Output::Tag(tag.into()))
        }
        ast::Statement::Insert(ins) => insert(s, ins),
        ast::Statement::Update(u) => update(s, u),
        ast::Statement::Delete(d) => delete(s, d),
        ast::Statement::Query(q) => query(s, q),
        other => Err(unsupported(&format!(
            "statement {}",
            other
                .to_string()
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use crate::{Output, Session};
    use vouch_cluster::{Clock, Cluster};
    use vouch_format::keys::Datum;

    fn cluster() -> (tempfile::TempDir, Cluster) {
        let d = tempfile::tempdir().unwrap();
        let c = Cluster::init(&d.path().join("c"), Clock::manual(1 << 60)).unwrap();
        (d, c)
    }

    fn cells(out: &Output) -> Vec<Vec<Option<String>>> {
        out.table().unwrap().rows.clone()
    }

    #[test]
    fn names_fold_to_lower_case_unless_quoted() {
        let (_d, c) = cluster();
        let mut s = Session::new(&c);
        s.execute_all(
            "CREATE TABLE Shop (ID INT PRIMARY KEY, \"Name\" STRING);
             INSERT INTO SHOP (id, \"Name\") VALUES (1, 'a')",
        )
        .unwrap();
        let out = s
            .execute("SELECT ID, \"Name\" FROM defaultdb.public.shop")
            .unwrap();
        assert_eq!(out.table().unwrap().columns, ["id", "Name"]);
        assert_eq!(cells(&out), [[Some("1".into()), Some("a".into())]]);
        assert_eq!(
            s.execute("SELECT name FROM shop").unwrap_err().to_string(),
            "column \"name\" does not exist"
        );
    }

    #[test]
    fn update_of_a_primary_key_moves_the_row_and_where_filters() {
        let (_d, c) = cluster();
        let mut s = Session::new(&c);
        s.execute_all(
            "CREATE TABLE t (k INT PRIMARY KEY, v STRING, INDEX t_v_idx (v));
             INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, NULL);
             UPDATE t SET k = 10 WHERE k = 1 AND v = 'a'",
        )
        .unwrap();
        let t = c.table("defaultdb", "t").unwrap();
        let tx = c.txn();
        assert_eq!(tx.get_row(&t, &[Datum::Int(1)]).unwrap(), None);
        assert_eq!(
            tx.get_row(&t, &[Datum::Int(10)]).unwrap(),
            Some(vec![Datum::Int(10), Datum::String("a".into())])
        );
        let out = s
            .execute("SELECT k FROM t WHERE v IS NOT NULL AND k >= 2 ORDER BY k DESC LIMIT 1")
            .unwrap();
        assert_eq!(cells(&out), [[Some("10".into())]]);
        assert_eq!(
            s.execute("DELETE FROM t WHERE v IS NULL").unwrap(),
            Output::Tag("DELETE 1".into())
        );
        let out = s.execute("SELECT count(*) FROM t WHERE 2 < k").unwrap();
        assert_eq!(cells(&out), [[Some("1".into())]]);
    }

    #[test]
    fn unsupported_sql_is_refused_by_name() {
        let (_d, c) = cluster();
        let mut s = Session::new(&c);
        s.execute("CREATE TABLE a (k INT PRIMARY KEY)").unwrap();
        for (sql, msg) in [
            (
                "CREATE TABLE t (x INT)",
                "not supported yet: tables without a PRIMARY KEY (CockroachDB's hidden rowid column)",
            ),
            (
                "CREATE TABLE t (x INT PRIMARY KEY DEFAULT 1)",
                "not supported yet: column DEFAULT expressions",
            ),
            ("SELECT * FROM a, a", "not supported yet: joins"),
            (
                "SELECT * FROM a WHERE k = 1 OR k = 2",
                "not supported yet: WHERE k = 1 OR k = 2 (only AND of column comparisons)",
            ),
            ("SET timezone = 'UTC'", "not supported yet: session setting SET timezone = 'UTC'"),
            (
                "CREATE TABLE t (x INT PRIMARY KEY, y INTERVAL)",
                "not supported yet: column type INTERVAL",
            ),
            // Other type names are user-defined (enum) types.
            (
                "CREATE TABLE t (x INT PRIMARY KEY, y POINT)",
                "type \"point\" does not exist",
            ),
            (
                "INSERT INTO a VALUES ('x')",
                "could not parse 'x' as type INT: not an integer in range",
            ),
            ("INSERT INTO a VALUES (1, 2)", "INSERT has 2 expressions but 1 target columns"),
        ] {
            assert_eq!(s.execute(sql).unwrap_err().to_string(), msg, "{sql}");
        }
    }
}
