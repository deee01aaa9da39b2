//! The verifier's per-entry checks allocate nothing per entry: checking a table's rows
//! (key columns decoded into one reused vector, values checked borrowed) costs the same
//! number of heap allocations for 10 entries as for 1,000, and gives the answers the
//! allocating calls give. (This test binary counts allocations: `allocation-counter`
//! replaces its allocator.) A JSONB string holding an escape is the exception: the JSON
//! parser unescapes it into a buffer of its own.

use vouch_format::decimal::Decimal;
use vouch_format::entry::TableCheck;
use vouch_format::keys::{self, Datum, Direction};
use vouch_format::manifest::pb;
use vouch_format::row;

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
/// NULL, ext JSONB NULL): bank's, and a DECIMAL and a JSONB as movr's.
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
            ..Default::default()
        })),
        ..Default::default()
    }
}

/// `n` entries: good rows, and every seventh a row the check refuses (a FLOAT balance).
fn entries(n: i64) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let key =
                keys::encode_index_key(104, 1, &[(Datum::Int(i), Direction::Asc)]).expect("key");
            let balance = if i % 7 == 3 {
                Datum::Float(1.5)
            } else {
                Datum::Int(i * 10)
            };
            let rate: Decimal = format!("{}.{:02}", i % 97, i % 89 + 1)
                .parse()
                .expect("decimal");
            let value = row::encode_row(&[
                (2, balance),
                (3, Datum::String("x".repeat(200))),
                (4, Datum::Decimal(rate)),
                (
                    5,
                    Datum::Json(serde_json::json!({
                        "color": "red",
                        "brand": format!("b{i}"),
                        "seats": [1, 2.5, null, true, {"x": "é"}],
                    })),
                ),
            ])
            .expect("row");
            (key, value)
        })
        .collect()
}

/// Heap allocations made checking `es` with one reused key vector (made beforehand).
fn allocations_checking(check: &TableCheck, es: &[(Vec<u8>, Vec<u8>)]) -> u64 {
    let mut key: Vec<Datum> = Vec::with_capacity(4);
    let mut refused = 0u32;
    let info = allocation_counter::measure(|| {
        for (k, v) in es {
            if check.check_with(k, v, true, &mut key).is_err() {
                refused += 1;
            }
        }
    });
    assert!(refused > 0);
    info.count_total
}

#[test]
fn checking_rows_allocates_nothing_per_entry() {
    let check = TableCheck::new(&accounts(), |_| None).expect("check");
    let (few, many) = (entries(10), entries(1_000));
    // The errors' messages allocate: only the accepted rows are counted here.
    let good = |es: &[(Vec<u8>, Vec<u8>)]| -> Vec<(Vec<u8>, Vec<u8>)> {
        es.iter()
            .filter(|(k, v)| check.check(k, v, true).is_ok())
            .cloned()
            .collect()
    };
    let many_good = good(&many);
    assert!(many_good.len() > 800);
    let mut key: Vec<Datum> = Vec::with_capacity(4);
    let info = allocation_counter::measure(|| {
        for (k, v) in &many_good {
            assert!(check.check_with(k, v, true, &mut key).is_ok());
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    let info = allocation_counter::measure(|| {
        for (k, _) in &many_good {
            assert!(keys::decode_index_key_into(
                k,
                &[(keys::ColumnType::Int, Direction::Asc)],
                &mut key
            )
            .is_ok());
        }
    });
    assert_eq!(info.count_total, 0, "{info:?}");
    // With refused rows among them, allocations grow with the refused rows only.
    let a = allocations_checking(&check, &few);
    let b = allocations_checking(&check, &many);
    let refused = |es: &[(Vec<u8>, Vec<u8>)]| (es.len() - good(es).len()) as u64;
    assert_eq!(
        a / refused(&few),
        b / refused(&many),
        "{a} for 10, {b} for 1000"
    );
}

#[test]
fn the_reused_vector_gives_the_answers_of_the_allocating_calls() {
    let check = TableCheck::new(&accounts(), |_| None).expect("check");
    let mut key: Vec<Datum> = vec![Datum::String("left over".into()); 3];
    let types = [(keys::ColumnType::Int, Direction::Asc)];
    for (k, v) in entries(50) {
        assert_eq!(
            check.check_with(&k, &v, true, &mut key),
            check.check(&k, &v, true)
        );
        let got =
            keys::decode_index_key_into(&k, &types, &mut key).map(|(t, i)| (t, i, key.clone()));
        assert_eq!(got, keys::decode_index_key(&k, &types));
        // Truncated keys: the same error either way.
        for n in 0..k.len() {
            let short = &k[..n];
            assert_eq!(
                keys::decode_index_key_into(short, &types, &mut key).map(|_| ()),
                keys::decode_index_key(short, &types).map(|_| ())
            );
        }
    }
}
