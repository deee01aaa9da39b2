//! DDL and DML through `sqlparser` (PostgreSQL dialect): enough to set up and check the
//! seeds' examples and to load what `SHOW BACKUP SCHEMAS` / `vouch dump` print.
//!
//! CockroachDB spellings PostgreSQL lacks are handled before parsing: `USE db` and
//! `SET database = db`; inside `CREATE TABLE`, `[UNIQUE] INDEX name (cols) [STORING (…)]`
//! elements and a trailing `WITH (exclude_data_from_backup = …)`; `STORING` in `CREATE
//! INDEX`.

use sqlparser::ast::{
    self, BinaryOperator, ColumnOption, DataType, Expr, FromTable, ObjectName, ObjectType,
    SelectItem, SetExpr, TableConstraint, TableFactor, TableObject, UnaryOperator,
    UserDefinedTypeRepresentation, Value,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use vouch_cluster::catalog::{cmp_rows, ColumnDef, ForeignKeyDef, IndexDef, Row, TableDef};
use vouch_engine::output::Table;
use vouch_format::keys::{cmp_datum, ColumnType, Datum};
use vouch_format::manifest::pb;
use vouch_format::schema::{self, Kind};

use crate::value::{self, Literal};
use crate::{Error, Output, Result, Session};

fn syntax(e: impl std::fmt::Display) -> Error {
    Error::Syntax(e.to_string())
}

fn unsupported(what: &str) -> Error {
    Error::NotSupported(what.to_string())
}

/// Splits at top-level commas (outside parentheses and quotes).
fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    let mut cur = String::new();
    for c in s.chars() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                cur.push(c);
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    cur.push(c);
                }
                '(' => {
                    depth += 1;
                    cur.push(c);
                }
                ')' => {
                    depth -= 1;
                    cur.push(c);
                }
                ',' if depth == 0 => {
                    out.push(cur.trim().to_string());
                    cur.clear();
                }
                _ => cur.push(c),
            },
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_string());
    }
    out
}

/// The byte index of the parenthesis closing the one at `open`.
fn matching_paren(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0i32;
    let mut quote: Option<char> = None;
    for (i, c) in s.char_indices().skip_while(|(i, _)| *i < open) {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            },
        }
    }
    None
}

fn ident(s: &str) -> String {
    let s = s.trim();
    match s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        Some(q) => q.to_string(),
        None => s.to_ascii_lowercase(),
    }
}

/// `name [ASC|DESC], …` of an index element.
fn index_columns(list: &str) -> Result<Vec<(String, bool)>> {
    split_top(list)
        .iter()
        .map(|c| {
            let w: Vec<&str> = c.split_whitespace().collect();
            match w.as_slice() {
                [n] => Ok((ident(n), false)),
                [n, d] if d.eq_ignore_ascii_case("ASC") => Ok((ident(n), false)),
                [n, d] if d.eq_ignore_ascii_case("DESC") => Ok((ident(n), true)),
                _ => Err(Error::Syntax(format!(
                    "at or near \"{c}\": expected a column name [ASC|DESC]"
                ))),
            }
        })
        .collect()
}

/// Parses `[UNIQUE] INDEX name (cols) [STORING (cols)]`, or returns None for any other
/// table element.
fn inline_index(elem: &str) -> Result<Option<IndexDef>> {
    let upper = elem.to_ascii_uppercase();
    let (unique, rest) = if let Some(r) = upper.strip_prefix("UNIQUE INDEX ") {
        (true, &elem[elem.len() - r.len()..])
    } else if let Some(r) = upper.strip_prefix("INDEX ") {
        (false, &elem[elem.len() - r.len()..])
    } else {
        return Ok(None);
    };
    let open = rest
        .find('(')
        .ok_or_else(|| Error::Syntax(format!("at or near \"{elem}\": expected (columns)")))?;
    let close = matching_paren(rest, open)
        .ok_or_else(|| Error::Syntax(format!("at or near \"{elem}\": unbalanced parentheses")))?;
    let name = ident(&rest[..open]);
    let columns = index_columns(&rest[open + 1..close])?;
    let tail = rest[close + 1..].trim();
    let storing = if tail.is_empty() {
        vec![]
    } else {
        let t = tail.to_ascii_uppercase();
        let Some(r) = t
            .strip_prefix("STORING")
            .or_else(|| t.strip_prefix("INCLUDE"))
        else {
            return Err(Error::Syntax(format!(
                "at or near \"{tail}\": expected STORING (columns)"
            )));
        };
        let r = tail[tail.len() - r.len()..].trim();
        let inner = r
            .strip_prefix('(')
            .and_then(|x| x.strip_suffix(')'))
            .ok_or_else(|| Error::Syntax(format!("at or near \"{tail}\": expected (columns)")))?;
        split_top(inner).iter().map(|c| ident(c)).collect()
    };
    Ok(Some(IndexDef {
        name,
        columns,
        unique,
        storing,
    }))
}

/// The CockroachDB extras of a CREATE TABLE: what is left for sqlparser, the inline
/// indexes, and `exclude_data_from_backup`.
fn preprocess_create_table(stmt: &str) -> Result<(String, Vec<IndexDef>, bool)> {
    let Some(open) = stmt.find('(') else {
        return Ok((stmt.to_string(), vec![], false));
    };
    let close = matching_paren(stmt, open)
        .ok_or_else(|| Error::Syntax("CREATE TABLE: unbalanced parentheses".into()))?;
    let mut kept = Vec::new();
    let mut indexes = Vec::new();
    for e in split_top(&stmt[open + 1..close]) {
        match inline_index(&e)? {
            Some(ix) => indexes.push(ix),
            None => kept.push(e),
        }
    }
    let tail = stmt[close + 1..].trim();
    let exclude = if tail.is_empty() {
        false
    } else {
        let t: String = tail
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        match t.as_str() {
            "with(exclude_data_from_backup=true)" => true,
            "with(exclude_data_from_backup=false)" => false,
            _ => {
                return Err(Error::Syntax(format!(
                    "at or near \"{tail}\": only WITH (exclude_data_from_backup = true|false) may follow CREATE TABLE (…)"
                )))
            }
        }
    };
    Ok((
        format!("{} ({})", &stmt[..open], kept.join(", ")),
        indexes,
        exclude,
    ))
}

fn parse_one(sql: &str) -> Result<ast::Statement> {
    let mut v = Parser::parse_sql(&PostgreSqlDialect {}, sql).map_err(syntax)?;
    match v.len() {
        1 => Ok(v.remove(0)),
        n => Err(Error::Syntax(format!("expected one statement, found {n}"))),
    }
}

/// An identifier as CockroachDB reads it: unquoted ones folded to lower case.
fn folded(i: &ast::Ident) -> String {
    match i.quote_style {
        None => i.value.to_lowercase(),
        Some(_) => i.value.clone(),
    }
}

fn name_parts(n: &ObjectName) -> Vec<String> {
    n.0.iter()
        .map(|p| p.as_ident().map_or_else(|| p.to_string(), folded))
        .collect()
}

/// `t`, `db.t` or `db.public.t` → (database, name).
fn resolve_name(s: &Session<'_>, n: &ObjectName) -> Result<(String, String)> {
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

fn column_type(dt: &DataType) -> Result<(ColumnType, Option<String>)> {
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

fn create_table(s: &Session<'_>, stmt: &str) -> Result<Output> {
    let (rest, indexes, exclude) = preprocess_create_table(stmt)?;
    let ast::Statement::CreateTable(ct) = parse_one(&rest)? else {
        return Err(Error::Syntax("expected CREATE TABLE".into()));
    };
    let (db, name) = resolve_name(s, &ct.name)?;
    if ct.if_not_exists && s.cluster().table(&db, &name).is_ok() {
        return Ok(Output::Tag("CREATE TABLE".into()));
    }
    let mut def = TableDef {
        name: name.clone(),
        columns: Vec::new(),
        primary_key: Vec::new(),
        indexes,
        foreign_keys: Vec::new(),
    };
    let fk_name = |cols: &[String]| format!("{name}_{}_fkey", cols.join("_"));
    for c in &ct.columns {
        let (ty, enum_type) = column_type(&c.data_type)?;
        let cname = folded(&c.name);
        let mut nullable = true;
        for o in &c.options {
            match &o.option {
                ColumnOption::Null => nullable = true,
                ColumnOption::NotNull => nullable = false,
                ColumnOption::PrimaryKey(_) => {
                    nullable = false;
                    def.primary_key = vec![cname.clone()];
                }
                ColumnOption::Unique(_) => def.indexes.push(IndexDef {
                    name: format!("{name}_{cname}_key"),
                    columns: vec![(cname.clone(), false)],
                    unique: true,
                    storing: vec![],
                }),
                ColumnOption::ForeignKey(fk) => {
                    let (_, table) = resolve_name(s, &fk.foreign_table)?;
                    def.foreign_keys.push(ForeignKeyDef {
                        name: fk
                            .name
                            .as_ref()
                            .map_or_else(|| fk_name(std::slice::from_ref(&cname)), folded),
                        columns: vec![cname.clone()],
                        table,
                    });
                }
                ColumnOption::Default(_) => return Err(unsupported("column DEFAULT expressions")),
                other => return Err(unsupported(&format!("column option {other}"))),
            }
        }
        def.columns.push(ColumnDef {
            name: cname,
            ty,
            nullable,
            enum_type,
        });
    }
    for tc in &ct.constraints {
        match tc {
            TableConstraint::PrimaryKey(pk) => {
                def.primary_key = pk
                    .columns
                    .iter()
                    .map(|c| {
                        if c.column.options.sort == Some(ast::OrderBySort::Desc) {
                            return Err(unsupported("descending primary-key columns"));
                        }
                        Ok(match &c.column.expr {
                            Expr::Identifier(i) => folded(i),
                            e => e.to_string(),
                        })
                    })
                    .collect::<Result<_>>()?;
            }
            TableConstraint::ForeignKey(fk) => {
                let cols: Vec<String> = fk.columns.iter().map(folded).collect();
                let (_, table) = resolve_name(s, &fk.foreign_table)?;
                def.foreign_keys.push(ForeignKeyDef {
                    name: fk.name.as_ref().map_or_else(|| fk_name(&cols), folded),
                    columns: cols,
                    table,
                });
            }
            TableConstraint::Unique(u) => def.indexes.push(IndexDef {
                name: u
                    .name
                    .as_ref()
                    .map_or_else(|| format!("{name}_key{}", def.indexes.len()), folded),
                columns: u
                    .columns
                    .iter()
                    .map(|c| {
                        (
                            column_name(&c.column.expr)
                                .unwrap_or_else(|| c.column.expr.to_string()),
                            c.column.options.sort == Some(ast::OrderBySort::Desc),
                        )
                    })
                    .collect(),
                unique: true,
                storing: vec![],
            }),
            other => return Err(unsupported(&format!("table constraint {other}"))),
        }
    }
    if def.primary_key.is_empty() {
        return Err(unsupported(
            "tables without a PRIMARY KEY (CockroachDB's hidden rowid column)",
        ));
    }
    for c in &mut def.columns {
        if def.primary_key.contains(&c.name) {
            c.nullable = false;
        }
    }
    let id = s.cluster().create_table(&db, &def)?;
    if exclude {
        s.cluster().set_exclude_data_from_backup(id, true)?;
    }
    Ok(Output::Tag("CREATE TABLE".into()))
}

fn table_of(s: &Session<'_>, n: &ObjectName) -> Result<(String, pb::Descriptor)> {
    let (db, t) = resolve_name(s, n)?;
    if db == "system" && t == "zones" {
        return Err(unsupported("zone configurations (system.zones)"));
    }
    Ok((db.clone(), s.cluster().table(&db, &t)?))
}

/// Column names, types and enum members of a table.
struct Columns {
    names: Vec<String>,
    types: Vec<ColumnType>,
    members: Vec<Option<Vec<pb::EnumMember>>>,
}

fn columns(s: &Session<'_>, d: &pb::Descriptor) -> Result<Columns> {
    let t = schema::table(d).ok_or_else(|| Error::Usage(format!("{} is not a table", d.name)))?;
    let cat = s.cluster().catalog(s.cluster().now())?;
    let mut c = Columns {
        names: vec![],
        types: vec![],
        members: vec![],
    };
    for col in &t.columns {
        c.names.push(col.name.clone());
        c.types.push(schema::column_type(col.r#type)?);
        c.members
            .push(match cat.get(col.enum_type_id).map(|d| &d.kind) {
                Some(Some(pb::descriptor::Kind::EnumType(e))) if col.enum_type_id != 0 => {
                    Some(e.members.clone())
                }
                _ => None,
            });
    }
    Ok(c)
}

impl Columns {
    fn index(&self, name: &str) -> Result<usize> {
        self.names.iter().position(|n| n == name).ok_or_else(|| {
            Error::Cluster(vouch_cluster::Error::UndefinedObject(format!(
                "column \"{name}\" does not exist"
            )))
        })
    }

    fn datum(&self, i: usize, e: &Expr) -> Result<Datum> {
        let ty = self.types.get(i).copied().unwrap_or(ColumnType::String);
        let members = self.members.get(i).and_then(|m| m.as_deref());
        value::to_datum(&literal(e)?, ty, members)
    }
}

/// A constant expression as a literal.
fn literal(e: &Expr) -> Result<Literal> {
    Ok(match e {
        Expr::Value(v) => match &v.value {
            Value::Number(n, _) => Literal::Number(n.clone()),
            Value::SingleQuotedString(t)
            | Value::EscapedStringLiteral(t)
            | Value::DoubleQuotedString(t) => Literal::Str(t.clone()),
            Value::Boolean(b) => Literal::Bool(*b),
            Value::Null => Literal::Null,
            other => return Err(unsupported(&format!("literal {other}"))),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => match literal(expr)? {
            Literal::Number(n) => Literal::Number(format!("-{n}")),
            _ => return Err(Error::Usage(format!("cannot negate {expr}"))),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Plus,
            expr,
        } => literal(expr)?,
        Expr::Nested(x) => literal(x)?,
        Expr::Cast { expr, .. } => literal(expr)?,
        Expr::TypedString(t) => literal(&Expr::Value(t.value.clone()))?,
        other => return Err(unsupported(&format!("expression {other} (only constants)"))),
    })
}

/// A row filter: an AND of `column op constant` comparisons.
struct Filter(Vec<(usize, BinaryOperator, Datum)>, Vec<(usize, bool)>);

fn filter(c: &Columns, e: Option<&Expr>) -> Result<Filter> {
    let mut f = Filter(vec![], vec![]);
    if let Some(e) = e {
        add_filter(c, e, &mut f)?;
    }
    Ok(f)
}

fn column_name(e: &Expr) -> Option<String> {
    match e {
        Expr::Identifier(i) => Some(folded(i)),
        Expr::CompoundIdentifier(v) => v.last().map(folded),
        _ => None,
    }
}

fn add_filter(c: &Columns, e: &Expr, f: &mut Filter) -> Result<()> {
    match e {
        Expr::Nested(x) => add_filter(c, x, f),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            add_filter(c, left, f)?;
            add_filter(c, right, f)
        }
        Expr::BinaryOp { left, op, right } => {
            use BinaryOperator as B;
            let flipped = |op: &B| match op {
                B::Lt => B::Gt,
                B::Gt => B::Lt,
                B::LtEq => B::GtEq,
                B::GtEq => B::LtEq,
                o => o.clone(),
            };
            let (col, op, val) = match (column_name(left), column_name(right)) {
                (Some(n), _) => (n, op.clone(), right),
                (None, Some(n)) => (n, flipped(op), left),
                _ => {
                    return Err(unsupported(&format!(
                        "WHERE {e} (only AND of column comparisons)"
                    )))
                }
            };
            if !matches!(op, B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq) {
                return Err(unsupported(&format!("operator {op} in WHERE")));
            }
            let i = c.index(&col)?;
            f.0.push((i, op, c.datum(i, val)?));
            Ok(())
        }
        Expr::IsNull(x) => {
            let n = column_name(x).ok_or_else(|| unsupported(&format!("WHERE {e}")))?;
            f.1.push((c.index(&n)?, true));
            Ok(())
        }
        Expr::IsNotNull(x) => {
            let n = column_name(x).ok_or_else(|| unsupported(&format!("WHERE {e}")))?;
            f.1.push((c.index(&n)?, false));
            Ok(())
        }
        _ => Err(unsupported(&format!(
            "WHERE {e} (only AND of column comparisons)"
        ))),
    }
}

impl Filter {
    fn matches(&self, row: &Row) -> bool {
        use std::cmp::Ordering::*;
        self.0.iter().all(|(i, op, v)| {
            let Some(x) = row.get(*i) else { return false };
            if matches!(x, Datum::Null) || matches!(v, Datum::Null) {
                return false;
            }
            let o = cmp_datum(x, v);
            match op {
                BinaryOperator::Eq => o == Equal,
                BinaryOperator::NotEq => o != Equal,
                BinaryOperator::Lt => o == Less,
                BinaryOperator::LtEq => o != Greater,
                BinaryOperator::Gt => o == Greater,
                BinaryOperator::GtEq => o != Less,
                _ => false,
            }
        }) && self
            .1
            .iter()
            .all(|(i, null)| matches!(row.get(*i), Some(Datum::Null)) == *null)
    }
}

fn matching_rows(s: &Session<'_>, d: &pb::Descriptor, f: &Filter) -> Result<Vec<Row>> {
    let mut v = Vec::new();
    s.cluster().scan_rows(d, s.cluster().now(), |r| {
        if f.matches(&r) {
            v.push(r);
        }
        Ok(true)
    })?;
    Ok(v)
}

fn pk_positions(d: &pb::Descriptor) -> Result<Vec<usize>> {
    let t = schema::table(d).ok_or_else(|| Error::Usage(format!("{} is not a table", d.name)))?;
    let pk = t
        .primary_index
        .as_ref()
        .map(|p| p.column_ids.clone())
        .unwrap_or_default();
    pk.iter()
        .map(|id| {
            t.columns
                .iter()
                .position(|c| c.id == *id)
                .ok_or_else(|| Error::Usage(format!("primary-key column {id} missing")))
        })
        .collect()
}

fn pk_of(pos: &[usize], r: &Row) -> Vec<Datum> {
    pos.iter().filter_map(|i| r.get(*i).cloned()).collect()
}

fn insert(s: &Session<'_>, ins: &ast::Insert) -> Result<Output> {
    let TableObject::TableName(n) = &ins.table else {
        return Err(unsupported("INSERT INTO a table function"));
    };
    let (_, d) = table_of(s, n)?;
    let c = columns(s, &d)?;
    let order: Vec<usize> = if ins.columns.is_empty() {
        (0..c.names.len()).collect()
    } else {
        ins.columns
            .iter()
            .map(|n| c.index(&name_parts(n).last().cloned().unwrap_or_default()))
            .collect::<Result<_>>()?
    };
    let Some(q) = &ins.source else {
        return Err(unsupported("INSERT without VALUES or SELECT"));
    };
    let rows: Vec<Row> = match q.body.as_ref() {
        SetExpr::Values(v) => v
            .rows
            .iter()
            .map(|r| {
                if r.len() != order.len() {
                    return Err(Error::Usage(format!(
                        "INSERT has {} expressions but {} target columns",
                        r.len(),
                        order.len()
                    )));
                }
                let mut row = vec![Datum::Null; c.names.len()];
                for (e, i) in r.iter().zip(&order) {
                    if let Some(slot) = row.get_mut(*i) {
                        *slot = c.datum(*i, e)?;
                    }
                }
                Ok(row)
            })
            .collect::<Result<_>>()?,
        SetExpr::Select(sel) => {
            let from = select_source(sel)?;
            if !matches!(sel.projection.as_slice(), [SelectItem::Wildcard(_)]) {
                return Err(unsupported("INSERT … SELECT other than SELECT * FROM t"));
            }
            let (_, src) = table_of(s, from)?;
            let sc = columns(s, &src)?;
            let f = filter(&sc, sel.selection.as_ref())?;
            let src_rows = matching_rows(s, &src, &f)?;
            let mut out = Vec::new();
            for r in src_rows {
                if r.len() != order.len() {
                    return Err(Error::Usage(format!(
                        "INSERT has {} expressions but {} target columns",
                        r.len(),
                        order.len()
                    )));
                }
                let mut row = vec![Datum::Null; c.names.len()];
                for (v, i) in r.into_iter().zip(&order) {
                    if let Some(slot) = row.get_mut(*i) {
                        *slot = v;
                    }
                }
                out.push(row);
            }
            out
        }
        other => return Err(unsupported(&format!("INSERT source {other}"))),
    };
    let mut tx = s.cluster().txn();
    if ins.on.is_some() {
        return Err(unsupported("INSERT … ON CONFLICT"));
    }
    tx.insert(&d, &rows)?;
    tx.commit()?;
    Ok(Output::Tag(format!("INSERT 0 {}", rows.len())))
}

fn select_source(sel: &ast::Select) -> Result<&ObjectName> {
    match sel.from.as_slice() {
        [twj] if twj.joins.is_empty() => match &twj.relation {
            TableFactor::Table { name, .. } => Ok(name),
            other => Err(unsupported(&format!("FROM {other}"))),
        },
        [] => Err(unsupported("SELECT without FROM")),
        _ => Err(unsupported("joins")),
    }
}

fn update(s: &Session<'_>, u: &ast::Update) -> Result<Output> {
    let TableFactor::Table { name, .. } = &u.table.relation else {
        return Err(unsupported("UPDATE of a non-table"));
    };
    let (_, d) = table_of(s, name)?;
    let c = columns(s, &d)?;
    let f = filter(&c, u.selection.as_ref())?;
    let mut sets = Vec::new();
    for a in &u.assignments {
        let ast::AssignmentTarget::ColumnName(n) = &a.target else {
            return Err(unsupported("tuple assignments"));
        };
        let i = c.index(&name_parts(n).last().cloned().unwrap_or_default())?;
        sets.push((i, c.datum(i, &a.value)?));
    }
    let pk = pk_positions(&d)?;
    let rows = matching_rows(s, &d, &f)?;
    let mut tx = s.cluster().txn();
    for r in &rows {
        let mut new = r.clone();
        for (i, v) in &sets {
            if let Some(slot) = new.get_mut(*i) {
                *slot = v.clone();
            }
        }
        if pk_of(&pk, &new) != pk_of(&pk, r) {
            tx.delete(&d, &pk_of(&pk, r))?;
            tx.insert(&d, &[new])?;
        } else {
            tx.upsert(&d, &[new])?;
        }
    }
    tx.commit()?;
    Ok(Output::Tag(format!("UPDATE {}", rows.len())))
}

fn delete(s: &Session<'_>, del: &ast::Delete) -> Result<Output> {
    let tables = match &del.from {
        FromTable::WithFromKeyword(t) | FromTable::WithoutKeyword(t) => t,
    };
    let [twj] = tables.as_slice() else {
        return Err(unsupported("DELETE from several tables"));
    };
    let TableFactor::Table { name, .. } = &twj.relation else {
        return Err(unsupported("DELETE from a non-table"));
    };
    let (_, d) = table_of(s, name)?;
    let c = columns(s, &d)?;
    let f = filter(&c, del.selection.as_ref())?;
    let pk = pk_positions(&d)?;
    let rows = matching_rows(s, &d, &f)?;
    let mut tx = s.cluster().txn();
    for r in &rows {
        tx.delete(&d, &pk_of(&pk, r))?;
    }
    tx.commit()?;
    Ok(Output::Tag(format!("DELETE {}", rows.len())))
}

fn query(s: &Session<'_>, q: &ast::Query) -> Result<Output> {
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return Err(unsupported(&format!("query {q}")));
    };
    let (_, d) = table_of(s, select_source(sel)?)?;
    let c = columns(s, &d)?;
    let f = filter(&c, sel.selection.as_ref())?;
    let mut rows = matching_rows(s, &d, &f)?;
    // count(*)
    if let [SelectItem::UnnamedExpr(Expr::Function(func))] = sel.projection.as_slice() {
        if name_parts(&func.name)
            .last()
            .is_some_and(|n| n.eq_ignore_ascii_case("count"))
        {
            let mut t = Table::new(&["count#"]);
            t.rows.push(vec![Some(rows.len().to_string())]);
            return Ok(Output::Rows(t));
        }
    }
    let cols: Vec<usize> = match sel.projection.as_slice() {
        [SelectItem::Wildcard(_)] => (0..c.names.len()).collect(),
        items => items
            .iter()
            .map(|it| match it {
                SelectItem::UnnamedExpr(e) => column_name(e)
                    .ok_or_else(|| unsupported(&format!("select item {e}")))
                    .and_then(|n| c.index(&n)),
                other => Err(unsupported(&format!("select item {other}"))),
            })
            .collect::<Result<_>>()?,
    };
    if let Some(ob) = &q.order_by {
        let ast::OrderByKind::Expressions(exprs) = &ob.kind else {
            return Err(unsupported("ORDER BY ALL"));
        };
        let keys: Vec<(usize, bool)> = exprs
            .iter()
            .map(|o| {
                let n = column_name(&o.expr)
                    .ok_or_else(|| unsupported(&format!("ORDER BY {}", o.expr)))?;
                Ok((c.index(&n)?, o.options.sort == Some(ast::OrderBySort::Desc)))
            })
            .collect::<Result<_>>()?;
        rows.sort_by(|a, b| {
            for (i, desc) in &keys {
                let o = match (a.get(*i), b.get(*i)) {
                    (Some(x), Some(y)) => {
                        cmp_rows(std::slice::from_ref(x), std::slice::from_ref(y))
                    }
                    _ => std::cmp::Ordering::Equal,
                };
                let o = if *desc { o.reverse() } else { o };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    if let Some(ast::LimitClause::LimitOffset {
        limit: Some(l),
        offset,
        ..
    }) = &q.limit_clause
    {
        if offset.is_some() {
            return Err(unsupported("OFFSET"));
        }
        let n: usize = match literal(l)? {
            Literal::Number(n) => n
                .parse()
                .map_err(|_| Error::Usage(format!("LIMIT {n}: not a row count")))?,
            other => return Err(Error::Usage(format!("LIMIT {other:?}: not a row count"))),
        };
        rows.truncate(n);
    }
    let heads: Vec<String> = cols
        .iter()
        .map(|i| {
            let n = c.names.get(*i).cloned().unwrap_or_default();
            match c.types.get(*i) {
                Some(ColumnType::Int | ColumnType::Float | ColumnType::Decimal) => {
                    format!("{n}#")
                }
                _ => n,
            }
        })
        .collect();
    let refs: Vec<&str> = heads.iter().map(String::as_str).collect();
    let mut t = Table::new(&refs);
    for r in &rows {
        t.rows.push(
            cols.iter()
                .map(|i| {
                    r.get(*i).and_then(|d| {
                        value::to_text(d, c.members.get(*i).and_then(|m| m.as_deref()))
                    })
                })
                .collect(),
        );
    }
    Ok(Output::Rows(t))
}

/// Relations a view's query reads (FROM and JOIN tables, by their last name part).
fn view_relations(q: &ast::Query, out: &mut Vec<String>) {
    if let SetExpr::Select(sel) = q.body.as_ref() {
        for twj in &sel.from {
            for f in std::iter::once(&twj.relation).chain(twj.joins.iter().map(|j| &j.relation)) {
                match f {
                    TableFactor::Table { name, .. } => {
                        if let Some(n) = name_parts(name).last() {
                            if !out.contains(n) {
                                out.push(n.clone());
                            }
                        }
                    }
                    TableFactor::Derived { subquery, .. } => view_relations(subquery, out),
                    _ => {}
                }
            }
        }
    }
}

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
