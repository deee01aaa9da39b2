//! What the DDL and the DML share: errors, parsing one statement, names (folded, qualified
//! in the current database), column types, the table a name refers to.

use sqlparser::ast::{self, DataType, Expr, ObjectName};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use vouch_format::keys::ColumnType;
use vouch_format::manifest::pb;

use crate::{Error, Result, Session};

pub(super) fn syntax(e: impl std::fmt::Display) -> Error {
    Error::Syntax(e.to_string())
}

pub(super) fn unsupported(what: &str) -> Error {
    Error::NotSupported(what.to_string())
}

pub(super) fn ident(s: &str) -> String {
    let s = s.trim();
    match s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(q) => q.to_string(),
        None => s.to_ascii_lowercase(),
    }
}

pub(super) fn parse_one(sql: &str) -> Result<ast::Statement> {
    let mut v = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(syntax)?;
    match v.len() {
        1 => Ok(v.remove(0)),
        n => Err(Error::Syntax(format!("expected one statement, found {n}"))),
    }
}

/// An identifier as CockroachDB reads it: unquoted ones folded to lower case.
pub(super) fn folded(i: &ast::Ident) -> String {
    match i.quote_style {
        None => i.value.to_lowercase(),
        Some(_) => i.value.clone(),
    }
}

pub(super) fn name_parts(n: &ObjectName) -> Vec<String> {
    n.0.iter()
        .map(|p| p.as_ident().map_or_else(|| p.to_string(), folded))
        .collect()
}

/// `t`, `db.t` or `db.public.t` → (database, name).
pub(super) fn resolve_name(s: &Session<'_>, n: &ObjectName) -> Result<(String, String)> {
    let p = name_parts(n);
    match p.as_slice() {
        [t] => Ok((s.database().to_string(), t.clone())),
        // `public.t` (as SHOW BACKUP SCHEMAS prints it) is in the current database.
        [sc, t] if sc == "public" => Ok((s.database().to_string(), t.clone())),
        [db, t] => Ok((db.clone(), t.clone())),
        [db, sc, t] if sc == "public" => Ok((db.clone(), t.clone())),
        _ => Err(Error::Usage(format!(
            "name \"{n}\": expected table, database.table or database.public.table"
        ))),
    }
}

pub(super) fn column_type(dt: &DataType) -> Result<(ColumnType, Option<String>)> {
    let name = dt.to_string().to_ascii_uppercase();
    let base = name
        .split('(')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    Ok((
        match base.as_str() {
            "INT" | "INT8" | "INTEGER" | "BIGINT" | "INT4" | "INT2" | "SMALLINT" => ColumnType::Int,
            "FLOAT" | "FLOAT8" | "REAL" | "DOUBLE PRECISION" | "DOUBLE" | "FLOAT4" => {
                ColumnType::Float
            }
            "DECIMAL" | "NUMERIC" => ColumnType::Decimal,
            "STRING" | "TEXT" | "VARCHAR" | "CHARACTER VARYING" | "CHAR" => ColumnType::String,
            "BYTES" | "BYTEA" => ColumnType::Bytes,
            "BOOL" | "BOOLEAN" => ColumnType::Bool,
            "DATE" => ColumnType::Date,
            "TIMESTAMP"
            | "TIMESTAMPTZ"
            | "TIMESTAMP WITH TIME ZONE"
            | "TIMESTAMP WITHOUT TIME ZONE" => ColumnType::Timestamp,
            "UUID" => ColumnType::Uuid,
            "JSONB" | "JSON" => ColumnType::Json,
            _ => match dt {
                DataType::Custom(n, _) => {
                    let parts = name_parts(n);
                    let t = parts.last().cloned().unwrap_or_default();
                    return Ok((ColumnType::Enum, Some(t)));
                }
                _ => return Err(unsupported(&format!("column type {dt}"))),
            },
        },
        None,
    ))
}

pub(super) fn table_of(s: &Session<'_>, n: &ObjectName) -> Result<(String, pb::Descriptor)> {
    let (db, t) = resolve_name(s, n)?;
    Ok((db.clone(), s.cluster().table(&db, &t)?))
}

pub(super) fn column_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(folded(i)),
        Expr::CompoundIdentifier(v) => v.last().map(folded),
        _ => None,
    }
}
