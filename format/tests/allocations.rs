//! The verifier's per-entry checks allocate nothing per entry: checking a table's entries
//! (key columns decoded into one reused vector, a STRING key column into the buffer the
//! entry before held there; values checked borrowed; a primary row's implied secondary
//! entries and unique keys encoded into buffers reused entry after entry) costs the same
//! number of heap allocations for 10 entries as for 1,000, and gives the answers the
//! allocating calls give. (This test binary counts allocations: `allocation-counter`
//! replaces its allocator.) A JSONB string holding an escape is the exception: the JSON
//! parser unescapes it into a buffer of its own.

use vouch_format::decimal::Decimal;
use vouch_format::entry::{CheckedEntry, Scratch, TableCheck};
use vouch_format::keys::{self, Datum, Direction};
use vouch_format::manifest::pb;
use vouch_format::row;
use vouch_format::schema::index_layouts;

fn col(id: u32, ty: pb::ColumnType, nullable: bool) -> pb::Column {
    pb::Column {
        id,
        name: format!("c{id}"),
        r#type: ty as i32,
        nullable,
        ..Default::default()
    }
}

/// accounts(id INT PRIMARY KEY, balance INT NOT NULL, payload STRING NULL, rate DECIMAL
/// NULL, ext JSONB NULL): bank's, and a DECIMAL and a JSONB as movr's; with a UNIQUE index
/// on payload (descending) storing rate, and an index on balance.
fn accounts() -> pb::Descriptor {
    pb::Descriptor {
        id: 104,
        name: "accounts".into(),
        kind: Some(pb::descriptor::Kind::Table(pb::Table {
            columns: vec![
                col(1, pb::ColumnType::Int, false),
                col(2, pb::ColumnType::Int, false),
                col(3, pb::ColumnType::String, true),
                col(4, pb::ColumnType::Decimal, true),
                col(5, pb::ColumnType::Json, true),
            ],
            primary_index: Some(pb::Index {
                id: 1,
                name: "pk".into(),
                column_ids: vec![1],
                ..Default::default()
            }),
            secondary_indexes: vec![
                pb::Index {
                    id: 2,
                    name: "by_payload".into(),
                    unique: true,
                    column_ids: vec![3],
                    descending: vec![true],
                    store_column_ids: vec![4],
                    ..Default::default()
                },
                pb::Index {
                    id: 3,
                    name: "by_balance".into(),
                    column_ids: vec![2],
                    ..Default::default()
                },
            ],
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// `n` rows' entries, the primary rows first, then each secondary index's: good entries,
/// and every seventh row one the check refuses (a FLOAT balance in its primary row).
fn entries(n: i64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let t = accounts();
    let layouts = index_layouts(&t).expect("layouts");
    let mut out: Vec<Vec<(Vec<u8>, Vec<u8>)>> = vec![Vec::new(); layouts.len()];
    for i in 0..n {
        let rate: Decimal = format!("{}.{:02}", i % 97, i % 89 + 1)
            .parse()
            .expect("decimal");
        let ext = serde_json::json!({
            "color": "red",
            "brand": format!("b{i}"),
            "seats": [1, 2.5, null, true, {"x": "é"}],
        });
        let row = [
            Datum::Int(i),
            Datum::Int(i * 10),
            Datum::String(format!("{i:0200}")),
            Datum::Decimal(rate),
            Datum::Json(ext),
        ];
        for (l, o) in layouts.iter().zip(out.iter_mut()) {
            let (key, mut value) = l.entry(&t, &row).expect("entry");
            if l.primary && i % 7 == 3 {
                let mut cols: Vec<(u32, Datum)> = (2..=5).zip(row[1..].iter().cloned()).collect();
                cols[0].1 = Datum::Float(1.5);
                value = row::encode_row(&cols).expect("row");
            }
            o.push((key, value));
        }
    }
    out.concat()
}

#[test]
fn checking_entries_allocates_nothing_per_entry() {
    let check = TableCheck::new(&accounts(), |_| None).expect("check");
    let (few, many) = (entries(10), entries(1_000));
    // The errors' messages allocate: only the accepted entries are counted here.
    let good = |es: &[(Vec<u8>, Vec<u8>)]| -> Vec<(Vec<u8>, Vec<u8>)> {
        es.iter()
            .filter(|(k, v)| check.check(k, v, true).is_ok())
            .cloned()
            .collect()
    };
    let many_good = good(&many);
    assert_eq!(many_good.len(), 3 * 1_000 - 143);
    // Once warm (the buffers grown to the largest entry's needs in a first pass), a pass
    // over 2,857 entries allocates what a pass over 29 does: a key column's buffer where
    // the index changes (an INT key column before a STRING one), nothing per entry.
    let (mut scratch, mut out) = (Scratch::default(), CheckedEntry::default());
    for (k, v) in &many_good {
        assert!(check.check_into(k, v, true, &mut scratch, &mut out).is_ok());
    }
    let mut pass = |es: &[(Vec<u8>, Vec<u8>)]| {
        let mut refused = 0;
        let n = allocation_counter::measure(|| {
            for (k, v) in es {
                if check
                    .check_into(k, v, true, &mut scratch, &mut out)
                    .is_err()
                {
                    refused += 1;
                }
            }
        })
        .count_total;
        (n, refused)
    };
    let few_good = good(&few);
    assert_eq!(few_good.len(), 3 * 10 - 1);
    let (a, b) = (pass(&few_good), pass(&many_good));
    assert_eq!(a, b, "{a:?} for 29 entries, {b:?} for 2,857");
    let (base, _) = a;
    assert!(base <= 6, "{base}");
    // With refused rows among them, allocations grow with the refused rows only (their
    // errors' messages), alike for each.
    let ((a, ra), (b, rb)) = (pass(&few), pass(&many));
    assert_eq!((ra, rb), (1, 143));
    let per = a - base;
    assert!(per > 0);
    assert_eq!(b, base + 143 * per, "{a} for 10 rows, {b} for 1,000");
    let mut key: Vec<Datum> = Vec::with_capacity(4);
    let types = check.layouts()[1].key_types();
    assert_eq!(types[0], (keys::ColumnType::String, Direction::Desc));
    let by_payload: Vec<_> = many_good
        .iter()
        .filter(|(k, _)| keys::decode_table_prefix(k).is_ok_and(|(_, i, _)| i == 2))
        .collect();
    assert_eq!(by_payload.len(), 1_000);
    assert!(keys::decode_index_key_into(&by_payload[0].0, &types, &mut key).is_ok());
    let info = allocation_counter::measure(|| {
        for (k, _) in &by_payload {
            assert!(keys::decode_index_key_into(k, &types, &mut key).is_ok());
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
}

#[test]
fn the_reused_buffers_give_the_answers_of_the_allocating_calls() {
    let check = TableCheck::new(&accounts(), |_| None).expect("check");
    let (mut scratch, mut out) = (Scratch::default(), CheckedEntry::default());
    let mut key: Vec<Datum> = vec![Datum::String("left over".into()); 3];
    let layouts = check.layouts().to_vec();
    let mut implied = 0;
    for (k, v) in entries(50) {
        let got = check
            .check_into(&k, &v, true, &mut scratch, &mut out)
            .map(|()| out.clone());
        assert_eq!(got, check.check(&k, &v, true));
        implied += got.map_or(0, |c| c.implied.len());
        let (_, index, _) = keys::decode_table_prefix(&k).expect("prefix");
        let types = layouts
            .iter()
            .find(|l| u64::from(l.id) == index)
            .expect("layout")
            .key_types();
        let got =
            keys::decode_index_key_into(&k, &types, &mut key).map(|(t, i)| (t, i, key.clone()));
        assert_eq!(got, keys::decode_index_key(&k, &types));
        // Truncated keys and values: the same answer either way.
        for n in 0..k.len() {
            let short = &k[..n];
            let got = keys::decode_index_key_into(short, &types, &mut key);
            let want = keys::decode_index_key(short, &types);
            assert_eq!(got.map(|_| key.clone()), want.map(|(_, _, d)| d));
            let got = check
                .check_into(short, &v, true, &mut scratch, &mut out)
                .map(|()| out.clone());
            assert_eq!(got, check.check(short, &v, true));
        }
        for n in 0..v.len() {
            let got = check
                .check_into(&k, &v[..n], true, &mut scratch, &mut out)
                .map(|()| out.clone());
            assert_eq!(got, check.check(&k, &v[..n], true));
        }
    }
    // Every good primary row gave its two implied entries.
    assert_eq!(implied, 2 * (50 - 7));
}
