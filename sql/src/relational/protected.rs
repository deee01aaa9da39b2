//! `SELECT * FROM system.protected_ts_records`: the cluster's protected timestamp records
//! (`Kv::protected`), as CockroachDB's table shows them: the id, the protected time (a
//! decimal HLC), who holds it (`meta_type` `jobs` or `schedules`, `meta` that job's or
//! schedule's id) and what it covers (every record of vouch covers the whole cluster).
//! spec/schedules.md §5.

use vouch_cluster::RecordOwner;
use vouch_engine::output::Table;

use crate::grammar::{tokenize, Token};
use crate::{Output, Result, Session};

/// True for `SELECT * FROM system.protected_ts_records` (an optional `;` after it).
pub(super) fn handles(stmt: &str) -> bool {
    let Ok(t) = tokenize(stmt) else {
        return false;
    };
    let t = match t.as_slice() {
        [rest @ .., Token::Punct(';')] => rest,
        all => all,
    };
    let word = |tok: &Token, w: &str| matches!(tok, Token::Word(x) if x.eq_ignore_ascii_case(w));
    matches!(t, [a, star, b, c]
        if word(a, "SELECT") && word(star, "*") && word(b, "FROM")
            && word(c, "system.protected_ts_records"))
}

/// The records, by id.
pub(super) fn execute(s: &Session<'_>) -> Result<Output> {
    let mut t = Table::new(&["id#", "ts", "meta_type", "meta", "target"]);
    for (id, ts) in s.cluster().kv().protected()? {
        let (kind, owner) = match RecordOwner::of(id) {
            RecordOwner::Job(j) => ("jobs", j),
            RecordOwner::Schedule(sc) => ("schedules", sc),
        };
        t.rows.push(vec![
            Some(id.to_string()),
            Some(ts.to_string()),
            Some(kind.into()),
            Some(owner.to_string()),
            Some("cluster".into()),
        ]);
    }
    Ok(Output::Rows(t))
}
