//! INSERT, UPDATE, DELETE and SELECT over one table: columns, literals, WHERE filters on
//! columns, primary keys.

use sqlparser::ast::{
    self, BinaryOperator, Expr, FromTable, ObjectName, SelectItem, SetExpr, TableFactor,
    TableObject, UnaryOperator, Value,
};
use vouch_cluster::{cmp_rows, Row};
use vouch_engine::output::Table;
use vouch_format::keys::{cmp_datum, ColumnType, Datum};
use vouch_format::manifest::pb;
use vouch_format::schema::{self};

use super::names::{column_name, name_parts, parse_one, resolve_name, table_of, unsupported};
use crate::value::{self, Literal};
use crate::{Error, Output, Result, Session};

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

pub(super) fn insert(s: &Session<'_>, ins: &ast::Insert) -> Result<Output> {
    let TableObject::TableName(n) = &ins.table else {
        return Err(unsupported("INSERT INTO a table function"));
    };
    // system.zones exists once a zone is configured; writing zone rows (the pages'
    // manual zone restore) creates it, and the GC TTLs follow the rows written.
    let zones = resolve_name(s, n)? == ("system".to_string(), "zones".to_string());
    if zones {
        s.cluster().ensure_zones_table()?;
    }
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
    if zones {
        s.cluster().zones_changed()?;
    }
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

pub(super) fn update(s: &Session<'_>, u: &ast::Update) -> Result<Output> {
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

pub(super) fn delete(s: &Session<'_>, del: &ast::Delete) -> Result<Output> {
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

/// Views nest at most this deep (a view over a view over …).
const MAX_VIEW_DEPTH: usize = 16;

/// The columns and every row of relation `n`: a table's rows, or the rows of a view's
/// stored query run in the view's database.
fn relation(s: &Session<'_>, n: &ObjectName, depth: usize) -> Result<(Columns, Vec<Row>)> {
    let (db, name) = resolve_name(s, n)?;
    let cat = s.cluster().catalog(s.cluster().now())?;
    let view = cat
        .database(&db)
        .and_then(|d| cat.object(d.id, &name))
        .and_then(|o| match &o.kind {
            Some(pb::descriptor::Kind::View(v)) => Some(v.query.clone()),
            _ => None,
        });
    if let Some(text) = view {
        if depth >= MAX_VIEW_DEPTH {
            return Err(Error::Usage(format!(
                "view \"{db}.{name}\": views nest more than {MAX_VIEW_DEPTH} deep"
            )));
        }
        let ast::Statement::Query(q) = parse_one(&text)? else {
            return Err(Error::Usage(format!(
                "view \"{db}.{name}\": its query is not a SELECT"
            )));
        };
        let inner = Session {
            cluster: s.cluster(),
            database: db,
        };
        return select_rows(&inner, &q, depth + 1);
    }
    let (_, d) = table_of(s, n)?;
    let c = columns(s, &d)?;
    let mut rows = Vec::new();
    s.cluster().scan_rows(&d, s.cluster().now(), |r| {
        rows.push(r);
        Ok(true)
    })?;
    Ok((c, rows))
}

/// The columns and rows of a SELECT's source after its WHERE.
fn source_rows(s: &Session<'_>, sel: &ast::Select, depth: usize) -> Result<(Columns, Vec<Row>)> {
    let (c, rows) = relation(s, select_source(sel)?, depth)?;
    let f = filter(&c, sel.selection.as_ref())?;
    Ok((c, rows.into_iter().filter(|r| f.matches(r)).collect()))
}

/// Whether the SELECT is `count(*)`.
fn is_count(sel: &ast::Select) -> bool {
    matches!(sel.projection.as_slice(), [SelectItem::UnnamedExpr(Expr::Function(func))]
        if name_parts(&func.name)
            .last()
            .is_some_and(|n| n.eq_ignore_ascii_case("count")))
}

/// A query's result columns and rows: WHERE, ORDER BY, LIMIT, then the projection.
fn select_rows(s: &Session<'_>, q: &ast::Query, depth: usize) -> Result<(Columns, Vec<Row>)> {
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return Err(unsupported(&format!("query {q}")));
    };
    if is_count(sel) {
        return Err(unsupported("count(*) inside a view"));
    }
    let (c, mut rows) = source_rows(s, sel, depth)?;
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
    let pick = |v: &[Datum]| -> Row {
        cols.iter()
            .map(|i| v.get(*i).cloned().unwrap_or(Datum::Null))
            .collect()
    };
    let out = Columns {
        names: cols
            .iter()
            .map(|i| c.names.get(*i).cloned().unwrap_or_default())
            .collect(),
        types: cols
            .iter()
            .map(|i| c.types.get(*i).copied().unwrap_or(ColumnType::String))
            .collect(),
        members: cols
            .iter()
            .map(|i| c.members.get(*i).cloned().unwrap_or_default())
            .collect(),
    };
    Ok((out, rows.iter().map(|r| pick(r)).collect()))
}

pub(super) fn query(s: &Session<'_>, q: &ast::Query) -> Result<Output> {
    let SetExpr::Select(sel) = q.body.as_ref() else {
        return Err(unsupported(&format!("query {q}")));
    };
    if is_count(sel) {
        let (_, rows) = source_rows(s, sel, 0)?;
        let mut t = Table::new(&["count#"]);
        t.rows.push(vec![Some(rows.len().to_string())]);
        return Ok(Output::Rows(t));
    }
    let (c, rows) = select_rows(s, q, 0)?;
    let heads: Vec<String> = c
        .names
        .iter()
        .zip(&c.types)
        .map(|(n, ty)| match ty {
            ColumnType::Int | ColumnType::Float | ColumnType::Decimal => format!("{n}#"),
            _ => n.clone(),
        })
        .collect();
    let refs: Vec<&str> = heads.iter().map(String::as_str).collect();
    let mut t = Table::new(&refs);
    for r in &rows {
        t.rows.push(
            r.iter()
                .enumerate()
                .map(|(i, d)| value::to_text(d, c.members.get(i).and_then(|m| m.as_deref())))
                .collect(),
        );
    }
    Ok(Output::Rows(t))
}
