//! `bank`: one table; transfers keep the total balance.

use rand::Rng;
use sha2::{Digest, Sha256};
use vouch_format::keys::{ColumnType, Datum};
use vouch_format::manifest::pb;
use vouch_format::mvcc::Timestamp;

use super::common::{
    column_index, descriptor_time, get, has_column, has_index, insert_batched, int, internal,
    missing, next_note_column, payload, primary_keys, random_time, rng_for, row_for, set,
    InitOptions, Summary, Workload, BANK, DEFAULT_PAYLOAD_BYTES,
};
use crate::catalog::{ColumnDef, IndexDef, TableDef};
use crate::{Cluster, Result};

/// Schema changes `bank` runs apply, in order (after these: `ADD COLUMN note_<n> STRING`).
pub const BANK_SCHEMA_CHANGES: &[&str] = &[
    "ALTER TABLE bank ADD COLUMN created_at TIMESTAMP",
    "CREATE INDEX bank_balance_idx ON bank (balance)",
];

// ---------------------------------------------------------------------------------------
// bank

pub(super) fn bank_init(c: &Cluster, o: &InitOptions, s: &mut Summary) -> Result<()> {
    let db = c.create_database(BANK)?;
    s.schema_change(descriptor_time(c, db)?);
    let id = c.create_table(
        BANK,
        &TableDef {
            name: BANK.into(),
            columns: vec![
                ColumnDef::new("id", ColumnType::Int, false),
                ColumnDef::new("balance", ColumnType::Int, false),
                ColumnDef::new("payload", ColumnType::String, true),
            ],
            primary_key: vec!["id".into()],
            indexes: vec![],
            foreign_keys: vec![],
        },
    )?;
    s.schema_change(descriptor_time(c, id)?);
    let t = c.table(BANK, BANK)?;
    let mut rng = rng_for(Workload::Bank, "init", o.seed, &[]);
    insert_batched(c, &t, o.rows, o.batch_rows, s, |i| {
        let id = i64::try_from(i).map_err(|_| internal(format!("account id {i} too large")))?;
        Ok(vec![
            Datum::Int(id),
            Datum::Int(rng.gen_range(0..10_000)),
            Datum::String(payload(&mut rng, o.payload_bytes)),
        ])
    })
}

/// Applies the next bank schema change not yet applied.
fn bank_schema_change(c: &Cluster, t: &pb::Descriptor) -> Result<Timestamp> {
    if !has_column(t, "created_at") {
        return c.add_column(t.id, "created_at", ColumnType::Timestamp);
    }
    if !has_index(t, "bank_balance_idx") {
        return c.create_index(
            t.id,
            &IndexDef {
                name: "bank_balance_idx".into(),
                columns: vec![("balance".into(), false)],
                unique: false,
                storing: vec![],
            },
        );
    }
    c.add_column(t.id, &next_note_column(t), ColumnType::String)
}

pub(super) fn bank_run(c: &Cluster, ops: u64, seed: u64, s: &mut Summary) -> Result<()> {
    let mut t = c.table(BANK, BANK)?;
    let mut digest = Sha256::new();
    let mut ids = primary_keys(c, &t, &mut digest)?
        .iter()
        .map(|pk| int(pk.first().unwrap_or(&Datum::Null), "bank.id"))
        .collect::<Result<Vec<i64>>>()?;
    let mut rng = rng_for(Workload::Bank, "run", seed, &digest.finalize());
    let mut next_id = ids.last().map_or(Ok(0), |m| {
        m.checked_add(1)
            .ok_or_else(|| internal("account ids exhausted".into()))
    })?;
    // New accounts get payloads as long as the first existing one's.
    let payload_len = match ids.first() {
        Some(&id) => match get(
            &t,
            &c.txn().get_row(&t, &[Datum::Int(id)])?.unwrap_or_default(),
            "payload",
        ) {
            Ok(Datum::String(p)) => p.len(),
            _ => DEFAULT_PAYLOAD_BYTES,
        },
        None => DEFAULT_PAYLOAD_BYTES,
    };
    for op in 0..ops {
        if op == ops / 2 {
            s.schema_change(bank_schema_change(c, &t)?);
            t = c.table(BANK, BANK)?;
        }
        let r = rng.gen_range(0..100u32);
        if ids.len() < 3 || (80..90).contains(&r) {
            // Open an account.
            let created = random_time(&mut rng);
            let p = payload(&mut rng, payload_len);
            let row = row_for(
                &t,
                &[
                    ("id", Datum::Int(next_id)),
                    ("balance", Datum::Int(0)),
                    ("payload", Datum::String(p)),
                    ("created_at", Datum::Timestamp(created)),
                ],
            )?;
            let mut tx = c.txn();
            tx.insert(&t, &[row])?;
            s.wrote(tx.commit()?);
            s.inserts += 1;
            ids.push(next_id);
            next_id = next_id
                .checked_add(1)
                .ok_or_else(|| internal("account ids exhausted".into()))?;
            continue;
        }
        let a = rng.gen_range(0..ids.len());
        let mut b = rng.gen_range(0..ids.len() - 1);
        if b >= a {
            b += 1;
        }
        let (ida, idb) = (ids[a], ids[b]);
        let mut tx = c.txn();
        let mut ra = tx
            .get_row(&t, &[Datum::Int(ida)])?
            .ok_or_else(|| missing(&t))?;
        let mut rb = tx
            .get_row(&t, &[Datum::Int(idb)])?
            .ok_or_else(|| missing(&t))?;
        let ba = int(&get(&t, &ra, "balance")?, "balance")?;
        let bb = int(&get(&t, &rb, "balance")?, "balance")?;
        let overflow = || internal("balance overflows".into());
        if r < 80 {
            // Transfer.
            let amount = rng.gen_range(1..=100i64);
            set(
                &t,
                &mut ra,
                "balance",
                Datum::Int(ba.checked_sub(amount).ok_or_else(overflow)?),
            )?;
            set(
                &t,
                &mut rb,
                "balance",
                Datum::Int(bb.checked_add(amount).ok_or_else(overflow)?),
            )?;
            tx.upsert(&t, &[ra, rb])?;
            s.updates += 2;
        } else {
            // Close account a: its balance moves to b.
            set(
                &t,
                &mut rb,
                "balance",
                Datum::Int(bb.checked_add(ba).ok_or_else(overflow)?),
            )?;
            tx.upsert(&t, &[rb])?;
            tx.delete(&t, &[Datum::Int(ida)])?;
            s.updates += 1;
            s.deletes += 1;
            ids.swap_remove(a);
        }
        s.wrote(tx.commit()?);
    }
    Ok(())
}

/// The sum of every balance in `bank.bank` at `as_of` (for checks: runs conserve it).
pub fn bank_total_balance(c: &Cluster, as_of: Timestamp) -> Result<i128> {
    let t = c.table(BANK, BANK)?;
    let i = column_index(&t, "balance")?;
    let mut total = 0i128;
    c.scan_rows(&t, as_of, |r| {
        total += i128::from(int(r.get(i).unwrap_or(&Datum::Null), "balance")?);
        Ok(true)
    })?;
    Ok(total)
}
