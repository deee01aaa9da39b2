//! CREATE TABLE (with CockroachDB's inline `INDEX` elements and `WITH
//! (exclude_data_from_backup)`, handled before `sqlparser` reads the rest) and the
//! relations a view reads.

use sqlparser::ast::{self, ColumnOption, Expr, SetExpr, TableConstraint, TableFactor};
use vouch_cluster::{ColumnDef, ForeignKeyDef, IndexDef, TableDef};

use super::names::{
    column_name, column_type, folded, ident, name_parts, parse_one, resolve_name, unsupported,
};
use crate::{Error, Output, Result, Session};

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

/// A trailing `PARTITION BY …` of a CREATE TABLE, split off.
fn split_partition_by(stmt: &str) -> Result<(&str, Option<&str>)> {
    let Some(open) = stmt.find('(') else {
        return Ok((stmt, None));
    };
    let close = matching_paren(stmt, open)
        .ok_or_else(|| Error::Syntax("CREATE TABLE: unbalanced parentheses".into()))?;
    let tail = stmt[close + 1..].trim_start();
    let words: Vec<String> = tail
        .split_whitespace()
        .take(2)
        .map(str::to_ascii_lowercase)
        .collect();
    if words == ["partition", "by"] {
        Ok((&stmt[..=close], Some(tail)))
    } else {
        Ok((stmt, None))
    }
}

pub(super) fn create_table(s: &Session<'_>, stmt: &str) -> Result<Output> {
    let (stmt, partition_by) = split_partition_by(stmt)?;
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
    if let Some(clause) = partition_by {
        // Checked before the table exists, so a bad clause creates nothing.
        super::zones::check_partition_syntax(clause)?;
    }
    let id = s.cluster().create_table(&db, &def)?;
    if exclude {
        s.cluster().set_exclude_data_from_backup(id, true)?;
    }
    if let Some(clause) = partition_by {
        if let Err(e) = super::zones::partition_table(s, id, clause) {
            s.cluster().drop_object(id)?;
            return Err(e);
        }
    }
    Ok(Output::Tag("CREATE TABLE".into()))
}

/// Relations a view's query reads (FROM and JOIN tables, by their last name part).
pub(super) fn view_relations(q: &ast::Query, out: &mut Vec<String>) {
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
