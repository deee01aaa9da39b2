//! Table keys, row values and decimals: order, round trips, truncation, exact bytes.

use std::cmp::Ordering;

use proptest::prelude::*;
use serde_json::json;
use vouch_format::cursor::Cursor;
use vouch_format::decimal::{Decimal, MAX_DIGITS};
use vouch_format::keys::{
    cmp_datum, decode_index_key, decode_key_datum, decode_table_prefix, encode_index_key,
    encode_key_datum, encode_table_prefix, fuzz_decode_key, ColumnType, Datum, Direction,
};
use vouch_format::row::{
    check_row, decode_row, decode_row_checked, encode_row, for_each_column_checked,
    fuzz_decode_row, ColumnSpec, DatumRef, ROW_TAG_INT, ROW_TAG_TRUE,
};
use vouch_format::Error;

const ALL_TYPES: [ColumnType; 11] = [
    ColumnType::Int,
    ColumnType::Float,
    ColumnType::Decimal,
    ColumnType::String,
    ColumnType::Bytes,
    ColumnType::Bool,
    ColumnType::Date,
    ColumnType::Timestamp,
    ColumnType::Uuid,
    ColumnType::Enum,
    ColumnType::Json,
];

/// Every type that can be a key column (JSON cannot).
fn key_types() -> Vec<ColumnType> {
    ALL_TYPES
        .into_iter()
        .filter(|t| *t != ColumnType::Json)
        .collect()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn key_of(d: &Datum, dir: Direction) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key_datum(d, dir, &mut out).unwrap();
    out
}

// ---- strategies -----------------------------------------------------------------------

fn decimal_strategy() -> BoxedStrategy<Decimal> {
    prop_oneof![
        // Small values that often collide, to exercise equal and adjacent cases.
        (any::<bool>(), "[0-9]{1,5}", -6i64..6)
            .prop_map(|(neg, m, e)| dec(&format!("{}{m}e{e}", if neg { "-" } else { "" }))),
        (any::<bool>(), "[1-9][0-9]{0,45}", -16300i64..16300)
            .prop_map(|(neg, m, e)| dec(&format!("{}{m}e{e}", if neg { "-" } else { "" }))),
        Just(Decimal::zero()),
        Just(dec("9.99999e16383")),
        Just(dec("-1e-16383")),
        Just(dec(&"9".repeat(MAX_DIGITS))),
    ]
    .boxed()
}

fn float_strategy() -> BoxedStrategy<f64> {
    prop_oneof![
        any::<f64>(),
        any::<u64>().prop_map(f64::from_bits),
        prop::sample::select(vec![
            f64::NAN,
            -f64::NAN,
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MIN_POSITIVE,
            -f64::MIN_POSITIVE,
            f64::MAX,
            f64::MIN,
            1.0,
            -1.0,
        ]),
        (-3i32..3).prop_map(f64::from),
    ]
    .boxed()
}

fn byte_strategy() -> BoxedStrategy<u8> {
    prop_oneof![
        Just(0u8),
        Just(1u8),
        Just(0xfeu8),
        Just(0xffu8),
        any::<u8>()
    ]
    .boxed()
}

fn string_strategy() -> BoxedStrategy<String> {
    prop::collection::vec(
        prop_oneof![
            Just('\0'),
            Just('\u{1}'),
            Just('a'),
            Just('b'),
            Just('\u{ff}'),
            Just('\u{10ffff}'),
            any::<char>()
        ],
        0..6,
    )
    .prop_map(String::from_iter)
    .boxed()
}

fn json_strategy() -> BoxedStrategy<serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(serde_json::Value::from),
        string_strategy().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(string_strategy(), inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
    .boxed()
}

/// A non-NULL datum of type `ty`.
fn value_of(ty: ColumnType) -> BoxedStrategy<Datum> {
    match ty {
        ColumnType::Int => prop_oneof![any::<i64>(), -3i64..3, Just(i64::MIN), Just(i64::MAX)]
            .prop_map(Datum::Int)
            .boxed(),
        ColumnType::Float => float_strategy().prop_map(Datum::Float).boxed(),
        ColumnType::Decimal => decimal_strategy().prop_map(Datum::Decimal).boxed(),
        ColumnType::String => string_strategy().prop_map(Datum::String).boxed(),
        ColumnType::Bytes => prop::collection::vec(byte_strategy(), 0..6)
            .prop_map(Datum::Bytes)
            .boxed(),
        ColumnType::Bool => any::<bool>().prop_map(Datum::Bool).boxed(),
        ColumnType::Date => prop_oneof![any::<i32>(), -3i32..3]
            .prop_map(Datum::Date)
            .boxed(),
        ColumnType::Timestamp => prop_oneof![any::<i64>(), -3i64..3]
            .prop_map(Datum::Timestamp)
            .boxed(),
        ColumnType::Uuid => prop_oneof![
            any::<[u8; 16]>(),
            prop::sample::select(vec![[0u8; 16], [0xff; 16], [1; 16]])
        ]
        .prop_map(Datum::Uuid)
        .boxed(),
        ColumnType::Enum => prop::collection::vec(byte_strategy(), 0..4)
            .prop_map(Datum::Enum)
            .boxed(),
        ColumnType::Json => json_strategy().prop_map(Datum::Json).boxed(),
    }
}

/// A datum of type `ty`, sometimes NULL.
fn datum_of(ty: ColumnType) -> BoxedStrategy<Datum> {
    prop_oneof![1 => Just(Datum::Null), 7 => value_of(ty)].boxed()
}

fn key_type() -> impl Strategy<Value = ColumnType> {
    prop::sample::select(key_types())
}

fn direction() -> impl Strategy<Value = Direction> {
    prop_oneof![Just(Direction::Asc), Just(Direction::Desc)]
}

fn any_key_datum() -> BoxedStrategy<Datum> {
    key_type().prop_flat_map(datum_of).boxed()
}

/// A key schema and two tuples that fit it.
fn schema_and_two_tuples(
) -> impl Strategy<Value = (Vec<(ColumnType, Direction)>, Vec<Datum>, Vec<Datum>)> {
    prop::collection::vec((key_type(), direction()), 0..4).prop_flat_map(|schema| {
        let tuple = schema
            .iter()
            .map(|(ty, _)| datum_of(*ty))
            .collect::<Vec<_>>();
        (Just(schema), tuple.clone(), tuple)
    })
}

fn table_id() -> impl Strategy<Value = u64> {
    prop_oneof![0u64..3, Just(255), Just(256), any::<u64>()]
}

/// Non-NULL-and-NULL row columns with strictly increasing ids, of any type.
fn row_strategy() -> impl Strategy<Value = Vec<(u32, Datum)>> {
    prop::collection::btree_set(prop_oneof![0u32..20, any::<u32>()], 0..8).prop_flat_map(|ids| {
        let datums = ids
            .iter()
            .map(|_| prop::sample::select(ALL_TYPES.to_vec()).prop_flat_map(datum_of))
            .collect::<Vec<_>>();
        (Just(ids.into_iter().collect::<Vec<_>>()), datums)
            .prop_map(|(ids, ds)| ids.into_iter().zip(ds).collect())
    })
}

/// SQL order of a key tuple under its directions.
fn cmp_tuple(a: &[Datum], b: &[Datum], dirs: &[Direction]) -> Ordering {
    for ((x, y), dir) in a.iter().zip(b).zip(dirs) {
        let o = cmp_datum(x, y);
        let o = if *dir == Direction::Desc {
            o.reverse()
        } else {
            o
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Key decoding keeps SQL equality; FLOAT is normalized (NaN, -0.0), all else is exact.
fn same_after_key_round_trip(orig: &Datum, back: &Datum) -> bool {
    match (orig, back) {
        (Datum::Float(_), Datum::Float(_)) => cmp_datum(orig, back) == Ordering::Equal,
        _ => orig == back,
    }
}

/// Decimal oracle: compare `±digits × 10^exp` by scaling to a common exponent and comparing
/// integer digit strings. Only for modest exponent differences.
fn decimal_oracle_cmp(a: &Decimal, b: &Decimal) -> Ordering {
    fn signed_parts(d: &Decimal) -> (i8, String, i64) {
        let s = if d.is_zero() {
            0
        } else if d.is_negative() {
            -1
        } else {
            1
        };
        (
            s,
            String::from_utf8(d.digits().to_vec()).unwrap(),
            i64::from(d.exponent()),
        )
    }
    let (sa, da, ea) = signed_parts(a);
    let (sb, db, eb) = signed_parts(b);
    if sa != sb || sa == 0 {
        return sa.cmp(&sb);
    }
    let e = ea.min(eb);
    let ia = format!("{da}{}", "0".repeat((ea - e) as usize));
    let ib = format!("{db}{}", "0".repeat((eb - e) as usize));
    let mag = ia.len().cmp(&ib.len()).then_with(|| ia.cmp(&ib));
    if sa < 0 {
        mag.reverse()
    } else {
        mag
    }
}

// ---- properties -----------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// enc(a) < enc(b) iff a < b, for every type, ascending and descending.
    #[test]
    fn key_order_matches_sql_order_per_type(
        (a, b) in key_type().prop_flat_map(|t| (datum_of(t), datum_of(t))),
        dir in direction(),
    ) {
        let want = cmp_datum(&a, &b);
        let want = if dir == Direction::Desc { want.reverse() } else { want };
        prop_assert_eq!(key_of(&a, dir).cmp(&key_of(&b, dir)), want, "{:?} vs {:?}", a, b);
    }

    /// The same across types (values of different types order by type).
    #[test]
    fn key_order_matches_sql_order_across_types(a in any_key_datum(), b in any_key_datum()) {
        prop_assert_eq!(
            key_of(&a, Direction::Asc).cmp(&key_of(&b, Direction::Asc)),
            cmp_datum(&a, &b)
        );
    }

    /// Whole keys order as (table, index, tuple) with per-column directions.
    #[test]
    fn index_key_order_matches_tuple_order(
        (schema, a, b) in schema_and_two_tuples(),
        ta in table_id(), tb in table_id(), ia in 0u64..3, ib in 0u64..3,
    ) {
        let dirs: Vec<Direction> = schema.iter().map(|(_, d)| *d).collect();
        let ka: Vec<_> = a.iter().cloned().zip(dirs.iter().copied()).collect();
        let kb: Vec<_> = b.iter().cloned().zip(dirs.iter().copied()).collect();
        let ea = encode_index_key(ta, ia, &ka).unwrap();
        let eb = encode_index_key(tb, ib, &kb).unwrap();
        let want = ta.cmp(&tb).then(ia.cmp(&ib)).then_with(|| cmp_tuple(&a, &b, &dirs));
        prop_assert_eq!(ea.cmp(&eb), want);
        // Same table and index: the tuple order alone.
        let ea = encode_index_key(ta, ia, &ka).unwrap();
        let eb = encode_index_key(ta, ia, &kb).unwrap();
        prop_assert_eq!(ea.cmp(&eb), cmp_tuple(&a, &b, &dirs));
    }

    /// decode(encode(k)) == k; re-encoding gives the same bytes; the fuzz oracle agrees;
    /// every proper prefix is an error.
    #[test]
    fn index_key_round_trip_and_truncation(
        (schema, a, _) in schema_and_two_tuples(), t in table_id(), i in table_id(),
    ) {
        let cols: Vec<_> = a.iter().cloned().zip(schema.iter().map(|(_, d)| *d)).collect();
        let enc = encode_index_key(t, i, &cols).unwrap();
        let (t2, i2, back) = decode_index_key(&enc, &schema).unwrap();
        prop_assert_eq!((t2, i2), (t, i));
        prop_assert_eq!(back.len(), a.len());
        for (x, y) in a.iter().zip(&back) {
            prop_assert!(same_after_key_round_trip(x, y), "{:?} came back as {:?}", x, y);
        }
        let back_cols: Vec<_> = back.into_iter().zip(schema.iter().map(|(_, d)| *d)).collect();
        prop_assert_eq!(encode_index_key(t, i, &back_cols).unwrap(), enc.clone());
        fuzz_decode_key(&enc);
        for n in 0..enc.len() {
            prop_assert!(decode_index_key(&enc[..n], &schema).is_err(), "prefix {} accepted", n);
        }
        let mut longer = enc.clone();
        longer.push(0);
        prop_assert_eq!(
            decode_index_key(&longer, &schema),
            Err(Error::TrailingBytes { field: "index key", offset: enc.len() as u64, extra: 1 })
        );
    }

    /// Rows of every type, NULLs included, round trip exactly (NULLs dropped), and every
    /// proper prefix fails the checked decoder when every column is required.
    #[test]
    fn row_round_trip_and_truncation(row in row_strategy()) {
        let enc = encode_row(&row).unwrap();
        let want: Vec<(u32, Datum)> =
            row.iter().filter(|(_, d)| *d != Datum::Null).cloned().collect();
        prop_assert_eq!(decode_row(&enc).unwrap(), want.clone());
        fuzz_decode_row(&enc);
        let schema: Vec<ColumnSpec> = want
            .iter()
            .map(|(id, d)| ColumnSpec { id: *id, ty: d.column_type().unwrap(), nullable: false })
            .collect();
        prop_assert_eq!(decode_row_checked(&enc, &schema).unwrap(), want);
        for n in 0..enc.len() {
            prop_assert!(decode_row_checked(&enc[..n], &schema).is_err(), "prefix {} accepted", n);
        }
    }

    /// Arbitrary bytes never panic and, when accepted, re-encode to themselves.
    #[test]
    fn fuzz_oracles_hold_on_random_bytes(data in prop::collection::vec(any::<u8>(), 0..40)) {
        fuzz_decode_key(&data);
        fuzz_decode_row(&data);
        let mut keyish = vec![0x80, 0x80];
        keyish.extend_from_slice(&data);
        fuzz_decode_key(&keyish);
        let mut rowish = vec![1];
        rowish.extend_from_slice(&data);
        fuzz_decode_row(&rowish);
    }

    /// Every single-byte change of a valid key or row is rejected or is another canonical
    /// encoding (the fuzz oracles check re-encoding).
    #[test]
    fn byte_flips_keep_the_oracles(
        (schema, a, _) in schema_and_two_tuples(), row in row_strategy(), x in 1u8..=255,
    ) {
        let cols: Vec<_> = a.into_iter().zip(schema.iter().map(|(_, d)| *d)).collect();
        let key = encode_index_key(5, 1, &cols).unwrap();
        for i in 0..key.len() {
            let mut k = key.clone();
            k[i] ^= x;
            fuzz_decode_key(&k);
        }
        let enc = encode_row(&row).unwrap();
        for i in 0..enc.len() {
            let mut r = enc.clone();
            r[i] ^= x;
            fuzz_decode_row(&r);
        }
    }

    /// Decimal order against a digit-string oracle; text round trip.
    #[test]
    fn decimal_order_and_text(
        a in (any::<bool>(), "[0-9]{1,8}", -10i64..10),
        b in (any::<bool>(), "[0-9]{1,8}", -10i64..10),
    ) {
        let a = dec(&format!("{}{}e{}", if a.0 { "-" } else { "" }, a.1, a.2));
        let b = dec(&format!("{}{}e{}", if b.0 { "-" } else { "" }, b.1, b.2));
        prop_assert_eq!(a.cmp(&b), decimal_oracle_cmp(&a, &b));
        prop_assert_eq!(a == b, decimal_oracle_cmp(&a, &b) == Ordering::Equal);
        prop_assert_eq!(dec(&a.to_string()), a.clone());
        prop_assert_eq!(dec(&b.to_string()), b);
    }

    #[test]
    fn decimal_text_round_trip_wide(d in decimal_strategy()) {
        prop_assert_eq!(dec(&d.to_string()), d);
    }
}

// ---- exact bytes ------------------------------------------------------------------------

#[test]
fn golden_table_prefix() {
    let p = |t, i| {
        let mut out = Vec::new();
        encode_table_prefix(t, i, &mut out);
        out
    };
    assert_eq!(p(0, 0), [0x80, 0x80]);
    assert_eq!(p(109, 0), [0x81, 0x6d, 0x80]);
    assert_eq!(p(300, 1), [0x82, 0x01, 0x2c, 0x81, 0x01]);
    assert_eq!(
        p(u64::MAX, 2),
        [0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x02]
    );
    assert_eq!(
        decode_table_prefix(&[0x82, 0x01, 0x2c, 0x81, 0x01, 0x00]),
        Ok((300, 1, 5))
    );
}

#[test]
fn golden_key_datums() {
    use Direction::{Asc, Desc};
    let h = |d: Datum, dir| hex::encode(key_of(&d, dir));
    assert_eq!(h(Datum::Null, Asc), "00");
    assert_eq!(h(Datum::Null, Desc), "ff");
    assert_eq!(h(Datum::Int(-1), Asc), "107fffffffffffffff");
    assert_eq!(h(Datum::Int(0), Asc), "108000000000000000");
    assert_eq!(h(Datum::Int(1), Asc), "108000000000000001");
    assert_eq!(h(Datum::Int(1), Desc), "ef7ffffffffffffffe");
    assert_eq!(h(Datum::Float(0.0), Asc), "208000000000000000");
    assert_eq!(h(Datum::Float(-0.0), Asc), "208000000000000000");
    assert_eq!(h(Datum::Float(1.0), Asc), "20bff0000000000000");
    assert_eq!(h(Datum::Float(-1.0), Asc), "20400fffffffffffff");
    assert_eq!(h(Datum::Float(f64::NAN), Asc), "200000000000000000");
    assert_eq!(h(Datum::Decimal(Decimal::zero()), Asc), "31");
    // 1.5 = 0.15 × 10^1: exponent 1, digit pair 15 stored as 16.
    assert_eq!(h(Datum::Decimal(dec("1.5")), Asc), "32800000011000");
    assert_eq!(h(Datum::Decimal(dec("-1.5")), Asc), "307ffffffeefff");
    // 12.3 = 0.123 × 10^2: pairs 12, 30 stored as 13, 31.
    assert_eq!(h(Datum::Decimal(dec("12.3")), Asc), "32800000020d1f00");
    // 0.001 = 0.1 × 10^-2.
    assert_eq!(h(Datum::Decimal(dec("0.001")), Asc), "327ffffffe0b00");
    assert_eq!(h(Datum::String("a\0b".into()), Asc), "406100ff620001");
    assert_eq!(h(Datum::String("a\0b".into()), Desc), "bf9eff009dfffe");
    assert_eq!(h(Datum::String(String::new()), Asc), "400001");
    assert_eq!(h(Datum::Bytes(vec![0, 0xff]), Asc), "5000ffff0001");
    assert_eq!(h(Datum::Enum(vec![0x40]), Asc), "a0400001");
    assert_eq!(h(Datum::Bool(false), Asc), "6000");
    assert_eq!(h(Datum::Bool(true), Asc), "6001");
    assert_eq!(h(Datum::Date(0), Asc), "7080000000");
    assert_eq!(h(Datum::Date(-1), Asc), "707fffffff");
    assert_eq!(h(Datum::Timestamp(-1), Asc), "807fffffffffffffff");
    assert_eq!(
        h(Datum::Uuid([0x11; 16]), Asc),
        "9011111111111111111111111111111111"
    );
}

#[test]
fn golden_index_key() {
    let k = encode_index_key(
        109,
        1,
        &[
            (Datum::Int(7), Direction::Asc),
            (Datum::String("x".into()), Direction::Desc),
        ],
    )
    .unwrap();
    assert_eq!(hex::encode(&k), "816d8101108000000000000007bf87fffe");
}

#[test]
fn golden_rows() {
    let row = encode_row(&[
        (1, Datum::Int(-1)),
        (3, Datum::String("hi".into())),
        (4, Datum::Null),
        (5, Datum::Bool(true)),
        (10, Datum::Decimal(dec("-12.5"))),
    ])
    .unwrap();
    // version | Δ1 INT zz(-1)=1 | Δ2 STRING len 2 "hi" | Δ2 TRUE | Δ5 DECIMAL neg zz(-1) len 3 "125"
    assert_eq!(hex::encode(&row), "01010101020402686902070503010103313235");
    let row = encode_row(&[
        (0, Datum::Float(1.0)),
        (1, Datum::Json(json!({"b": [1, true], "a": null}))),
        (2, Datum::Date(-2)),
        (3, Datum::Uuid([0xab; 16])),
    ])
    .unwrap();
    let mut want = hex::decode("010002000000000000f03f010b").unwrap();
    let text = br#"{"a":null,"b":[1,true]}"#;
    want.push(text.len() as u8);
    want.extend_from_slice(text);
    want.extend_from_slice(&hex::decode("010803010a").unwrap());
    want.extend_from_slice(&[0xab; 16]);
    assert_eq!(hex::encode(&row), hex::encode(&want));
    assert_eq!(encode_row(&[]).unwrap(), [1]);
    assert_eq!(encode_row(&[(9, Datum::Null)]).unwrap(), [1]);
}

// ---- specific errors ------------------------------------------------------------------

#[test]
fn key_truncations_are_located() {
    let int_schema = [(ColumnType::Int, Direction::Asc)];
    // Table id 300 cut inside its two bytes.
    assert_eq!(
        decode_index_key(&[0x82, 0x01], &[]),
        Err(Error::Truncated {
            field: "table id",
            offset: 1,
            needed: 2,
            available: 1
        })
    );
    // Missing index id.
    assert_eq!(
        decode_index_key(&[0x80], &[]),
        Err(Error::Truncated {
            field: "index id",
            offset: 1,
            needed: 1,
            available: 0
        })
    );
    // Missing column.
    assert_eq!(
        decode_index_key(&[0x80, 0x80], &int_schema),
        Err(Error::Truncated {
            field: "key column tag",
            offset: 2,
            needed: 1,
            available: 0
        })
    );
    // INT payload cut after 5 of 8 bytes.
    let k = encode_index_key(0, 0, &[(Datum::Int(5), Direction::Asc)]).unwrap();
    assert_eq!(
        decode_index_key(&k[..8], &int_schema),
        Err(Error::Truncated {
            field: "key int",
            offset: 3,
            needed: 8,
            available: 5
        })
    );
    // STRING cut before the second terminator byte.
    let k = encode_index_key(0, 0, &[(Datum::String("ab".into()), Direction::Desc)]).unwrap();
    assert_eq!(
        decode_index_key(&k[..6], &[(ColumnType::String, Direction::Desc)]),
        Err(Error::Truncated {
            field: "key string",
            offset: 6,
            needed: 1,
            available: 0
        })
    );
    // DECIMAL cut inside its exponent.
    let k = encode_index_key(0, 0, &[(Datum::Decimal(dec("7")), Direction::Asc)]).unwrap();
    assert_eq!(
        decode_index_key(&k[..5], &[(ColumnType::Decimal, Direction::Asc)]),
        Err(Error::Truncated {
            field: "key decimal exponent",
            offset: 3,
            needed: 4,
            available: 2
        })
    );
}

#[test]
fn key_errors_are_precise() {
    // Tag mismatch names the column and the tag offset.
    let k = encode_index_key(
        1,
        1,
        &[
            (Datum::Int(1), Direction::Asc),
            (Datum::String("s".into()), Direction::Asc),
        ],
    )
    .unwrap();
    assert_eq!(
        decode_index_key(
            &k,
            &[
                (ColumnType::Int, Direction::Asc),
                (ColumnType::Int, Direction::Asc)
            ]
        ),
        Err(Error::KeyColumn {
            column: 1,
            offset: 13,
            reason: "tag 0x40 is STRING but the column is INT".into()
        })
    );
    // Reading an ascending column as descending fails at the tag.
    assert!(matches!(
        decode_index_key(
            &k,
            &[
                (ColumnType::Int, Direction::Desc),
                (ColumnType::String, Direction::Asc)
            ]
        ),
        Err(Error::KeyColumn {
            column: 0,
            offset: 4,
            ..
        })
    ));
    // Non-minimal ids.
    assert!(matches!(
        decode_index_key(&[0x81, 0x00, 0x80], &[]),
        Err(Error::Invalid {
            field: "table id",
            offset: 0,
            ..
        })
    ));
    assert!(matches!(
        decode_index_key(&[0x80, 0x89], &[]),
        Err(Error::Invalid {
            field: "index id",
            offset: 1,
            ..
        })
    ));
    // JSON has no key form.
    assert_eq!(
        encode_index_key(
            1,
            1,
            &[
                (Datum::Int(1), Direction::Asc),
                (Datum::Json(json!(1)), Direction::Asc)
            ]
        ),
        Err(Error::NotKeyEncodable {
            column: 1,
            kind: "JSONB"
        })
    );
    let mut out = Vec::new();
    assert_eq!(
        encode_key_datum(&Datum::Json(json!(null)), Direction::Desc, &mut out),
        Err(Error::NotKeyEncodable {
            column: 0,
            kind: "JSONB"
        })
    );
    assert!(out.is_empty());
    // Bad escape inside a string.
    assert!(matches!(
        decode_index_key(
            &[0x80, 0x80, 0x40, 0x61, 0x00, 0x02],
            &[(ColumnType::String, Direction::Asc)]
        ),
        Err(Error::KeyColumn {
            column: 0,
            offset: 5,
            ..
        })
    ));
    // Non-canonical floats: -0.0 and a non-canonical NaN.
    let neg_zero = (!(-0.0f64).to_bits()).to_be_bytes();
    let mut k = vec![0x80, 0x80, 0x20];
    k.extend_from_slice(&neg_zero);
    assert!(matches!(
        decode_index_key(&k, &[(ColumnType::Float, Direction::Asc)]),
        Err(Error::KeyColumn {
            column: 0,
            offset: 3,
            ..
        })
    ));
    // Non-canonical decimals: leading zero digit, trailing zero pair, positive tag without
    // digits, pair byte over 100.
    for bad in [
        "32800000000200",   // pair 01: leading zero digit
        "32800000010b0100", // pairs 10, 00: trailing zero digits
        "328000000100",     // no digits
        "328000000165",     // pair byte 101
    ] {
        let mut k = vec![0x80, 0x80];
        k.extend_from_slice(&hex::decode(bad).unwrap());
        assert!(
            matches!(
                decode_index_key(&k, &[(ColumnType::Decimal, Direction::Asc)]),
                Err(Error::KeyColumn {
                    column: 0,
                    offset: 3 | 7,
                    ..
                })
            ),
            "{bad} accepted"
        );
        fuzz_decode_key(&k);
    }
    // decode_key_datum on a cursor with a base offset reports absolute offsets.
    let mut c = Cursor::with_base(&[0x10, 0x00], 100);
    assert_eq!(
        decode_key_datum(&mut c, 3, ColumnType::Int, Direction::Asc),
        Err(Error::Truncated {
            field: "key int",
            offset: 101,
            needed: 8,
            available: 1
        })
    );
}

#[test]
fn row_truncations_and_errors_are_located() {
    assert_eq!(
        decode_row(&[]),
        Err(Error::Truncated {
            field: "row encoding version",
            offset: 0,
            needed: 1,
            available: 0
        })
    );
    assert!(matches!(
        decode_row(&[2]),
        Err(Error::Invalid {
            field: "row encoding version",
            offset: 0,
            ..
        })
    ));
    assert_eq!(
        decode_row(&[1, 0x01]),
        Err(Error::Truncated {
            field: "row column tag",
            offset: 2,
            needed: 1,
            available: 0
        })
    );
    assert_eq!(
        decode_row(&[1, 0x01, ROW_TAG_INT]),
        Err(Error::Truncated {
            field: "row int",
            offset: 3,
            needed: 1,
            available: 0
        })
    );
    let row = encode_row(&[(4, Datum::String("hello".into()))]).unwrap();
    assert_eq!(
        decode_row(&row[..6]),
        Err(Error::Truncated {
            field: "row string",
            offset: 4,
            needed: 5,
            available: 2
        })
    );
    let row = encode_row(&[(4, Datum::Uuid([7; 16]))]).unwrap();
    assert_eq!(
        decode_row(&row[..10]),
        Err(Error::Truncated {
            field: "row uuid",
            offset: 3,
            needed: 16,
            available: 7
        })
    );
    // Length over the limit, checked before anything is taken.
    assert!(matches!(
        decode_row(&[1, 0x01, 0x04, 0xff, 0xff, 0xff, 0xff, 0x0f]),
        Err(Error::Limit {
            field: "row string",
            offset: 3,
            ..
        })
    ));
    // Unknown tag.
    assert_eq!(
        decode_row(&[1, 0x02, 0x7e]),
        Err(Error::RowColumn {
            column_id: 2,
            offset: 2,
            reason: "unknown type tag 0x7e".into()
        })
    );
    // Delta 0 after the first column.
    assert!(matches!(
        decode_row(&[1, 0x01, ROW_TAG_TRUE, 0x00, ROW_TAG_TRUE]),
        Err(Error::Invalid {
            field: "row column id delta",
            offset: 3,
            ..
        })
    ));
    // Invalid UTF-8 and non-canonical JSON.
    assert!(matches!(
        decode_row(&[1, 0x01, 0x04, 0x01, 0xff]),
        Err(Error::RowColumn {
            column_id: 1,
            offset: 3,
            ..
        })
    ));
    let mut r = vec![1, 0x01, 0x0b, 4];
    r.extend_from_slice(b"[ 1]");
    assert!(matches!(
        decode_row(&r),
        Err(Error::RowColumn {
            column_id: 1,
            offset: 3,
            ..
        })
    ));
    // Non-canonical decimal: trailing zero digit.
    assert!(matches!(
        decode_row(&[1, 0x01, 0x03, 0x00, 0x00, 0x02, b'1', b'0']),
        Err(Error::RowColumn {
            column_id: 1,
            offset: 3,
            ..
        })
    ));
    // Ids out of order on the encode side.
    assert_eq!(
        encode_row(&[(3, Datum::Int(1)), (3, Datum::Null)]),
        Err(Error::RowColumnOrder {
            position: 1,
            previous: 3,
            column_id: 3
        })
    );
}

#[test]
fn checked_row_decoding() {
    let specs = [
        ColumnSpec {
            id: 1,
            ty: ColumnType::Int,
            nullable: false,
        },
        ColumnSpec {
            id: 2,
            ty: ColumnType::String,
            nullable: true,
        },
        ColumnSpec {
            id: 5,
            ty: ColumnType::Json,
            nullable: false,
        },
    ];
    let good = encode_row(&[
        (1, Datum::Int(3)),
        (2, Datum::Null),
        (5, Datum::Json(json!([]))),
    ])
    .unwrap();
    assert_eq!(
        decode_row_checked(&good, &specs),
        Ok(vec![(1, Datum::Int(3)), (5, Datum::Json(json!([])))])
    );
    let missing = encode_row(&[(1, Datum::Int(3)), (2, Datum::String("x".into()))]).unwrap();
    assert_eq!(
        decode_row_checked(&missing, &specs),
        Err(Error::RowMissingColumn { column_id: 5 })
    );
    let wrong = encode_row(&[(1, Datum::Int(3)), (2, Datum::Int(4))]).unwrap();
    assert_eq!(
        decode_row_checked(&wrong, &specs),
        Err(Error::RowColumn {
            column_id: 2,
            offset: 4,
            reason: "INT value in a STRING column".into()
        })
    );
    let unknown = encode_row(&[(1, Datum::Int(3)), (3, Datum::Int(4))]).unwrap();
    assert_eq!(
        decode_row_checked(&unknown, &specs),
        Err(Error::RowColumn {
            column_id: 3,
            offset: 4,
            reason: "unknown column id".into()
        })
    );
}

/// The allocation-free check (what verify runs on every stored row) gives exactly the
/// decoder's answer, error kind, column and offset included, on good rows, on each wrong
/// row of `checked_row_decoding`, and on every truncation and bit flip of them; the values
/// it shows are the decoder's, borrowed.
#[test]
fn checking_a_row_agrees_with_decoding_it() {
    let col = |id, ty, nullable| ColumnSpec { id, ty, nullable };
    let specs = [
        col(1, ColumnType::Int, false),
        col(2, ColumnType::String, true),
        col(3, ColumnType::Bytes, true),
        col(5, ColumnType::Enum, false),
        col(6, ColumnType::Json, true),
    ];
    let rows = [
        encode_row(&[
            (1, Datum::Int(-7)),
            (2, Datum::String("héllo".into())),
            (3, Datum::Bytes(vec![0, 0xff, 3])),
            (5, Datum::Enum(vec![0x40])),
            (6, Datum::Json(json!({"a": [1, "x"]}))),
        ])
        .unwrap(),
        encode_row(&[(1, Datum::Int(3)), (5, Datum::Enum(vec![]))]).unwrap(),
        // Required column 5 absent; required column 1 absent; a wrong type; an unknown id.
        encode_row(&[(1, Datum::Int(3)), (2, Datum::String("x".into()))]).unwrap(),
        encode_row(&[(5, Datum::Enum(vec![1]))]).unwrap(),
        encode_row(&[(1, Datum::Int(3)), (2, Datum::Int(4))]).unwrap(),
        encode_row(&[(1, Datum::Int(3)), (4, Datum::Int(4))]).unwrap(),
    ];
    assert_eq!(
        check_row(&rows[2], &specs),
        Err(Error::RowMissingColumn { column_id: 5 })
    );
    assert_eq!(
        check_row(&rows[3], &specs),
        Err(Error::RowMissingColumn { column_id: 1 })
    );
    let mut compared = 0;
    for row in &rows {
        let mut variants = vec![row.clone()];
        variants.extend((0..row.len()).map(|n| row[..n].to_vec()));
        for bit in 0..row.len() * 8 {
            let mut v = row.clone();
            v[bit / 8] ^= 1 << (bit % 8);
            variants.push(v);
        }
        for v in variants {
            let decoded = decode_row_checked(&v, &specs);
            assert_eq!(
                check_row(&v, &specs),
                decoded.clone().map(|_| ()),
                "{v:02x?}"
            );
            let mut shown: Vec<(u32, Datum)> = Vec::new();
            let r = for_each_column_checked(&v, &specs, |id, d| {
                if let DatumRef::String(s) = &d {
                    // Borrowed from the row's bytes, not copied.
                    let (lo, hi) = (v.as_ptr() as usize, v.as_ptr() as usize + v.len());
                    assert!((lo..hi).contains(&(s.as_ptr() as usize)));
                }
                shown.push((id, d.into_owned()));
            });
            if let Ok(want) = decoded {
                assert_eq!((r, shown), (Ok(()), want));
            }
            fuzz_decode_row(&v);
            compared += 1;
        }
    }
    assert!(compared > 600, "{compared}");
}

// ---- decimals by hand -------------------------------------------------------------------

#[test]
fn decimal_text_by_hand() {
    let forty_zeros = "0".repeat(40);
    let cases: Vec<(&str, String)> = vec![
        ("-12.3400", "-12.34".into()),
        ("1e10", "10000000000".into()),
        (".5", "0.5".into()),
        ("5.", "5".into()),
        ("+7", "7".into()),
        ("0.000", "0".into()),
        ("-0.0e5", "0".into()),
        ("0e99999999", "0".into()),
        ("123e-2", "1.23".into()),
        ("0.00120", "0.0012".into()),
        ("1E3", "1000".into()),
        ("1e40", format!("1{forty_zeros}")),
        ("1e41", "1e+41".into()),
        ("1.5e-41", format!("0.{forty_zeros}15")),
        ("1e-42", "1e-42".into()),
        ("-123.456e60", "-1.23456e+62".into()),
        ("1e16383", "1e+16383".into()),
        ("1e-16383", "1e-16383".into()),
    ];
    for (input, want) in cases {
        let d = dec(input);
        assert_eq!(d.to_string(), want, "{input}");
        assert_eq!(dec(&want), d, "{want}");
    }
    let d = dec("-12.3400");
    assert!(d.is_negative());
    assert_eq!(
        (d.digits(), d.exponent(), d.adjusted_exponent()),
        (&b"1234"[..], -2, 1)
    );
    assert_eq!(Decimal::from(-1200), dec("-1.2e3"));
    assert_eq!(Decimal::from_parts(false, b"12", -1), Ok(dec("1.2")));
    assert!(Decimal::from_parts(false, b"120", -1).is_err());
    assert!(Decimal::from_parts(true, b"", 0).is_err());
}

#[test]
fn decimal_rejects_junk_precisely() {
    let invalid = |s: &str| match s.parse::<Decimal>() {
        Err(Error::Invalid {
            field: "decimal",
            offset,
            ..
        }) => offset,
        other => panic!("{s:?} gave {other:?}"),
    };
    assert_eq!(invalid(""), 0);
    assert_eq!(invalid("-"), 1);
    assert_eq!(invalid("."), 1);
    assert_eq!(invalid("1x"), 1);
    assert_eq!(invalid("1.2.3"), 3);
    assert_eq!(invalid("1e"), 2);
    assert_eq!(invalid("1e+"), 3);
    assert_eq!(invalid(" 1"), 0);
    assert_eq!(invalid("1 "), 1);
    assert_eq!(invalid("NaN"), 0);
    assert_eq!(invalid("inf"), 0);
    assert_eq!(invalid("1e16384"), 0);
    assert_eq!(invalid("1e-16384"), 0);
    assert_eq!(invalid("1e99999999999999999999"), 2);
    assert_eq!(
        format!("1{}", "1".repeat(MAX_DIGITS)).parse::<Decimal>(),
        Err(Error::Limit {
            field: "decimal digits",
            offset: 0,
            value: MAX_DIGITS as u64 + 1,
            limit: MAX_DIGITS as u64
        })
    );
    // 1000 significant digits with zeros around them are fine.
    let ok = format!("000{}.000", "7".repeat(MAX_DIGITS));
    assert_eq!(ok.parse::<Decimal>().unwrap().digits().len(), MAX_DIGITS);
}

#[test]
fn decimal_order_by_hand() {
    assert_eq!(dec("1.50"), dec("1.5"));
    assert_eq!(dec("1.50").cmp(&dec("1.5")), Ordering::Equal);
    let ascending = [
        "-1e10", "-10", "-2", "-1.5", "-1.05", "-1", "-0.001", "0", "0.001", "0.0011", "1",
        "1.0001", "1.01", "1.1", "10", "10.5", "11", "1e10",
    ];
    for w in ascending.windows(2) {
        assert!(dec(w[0]) < dec(w[1]), "{} < {}", w[0], w[1]);
        let (a, b) = (Datum::Decimal(dec(w[0])), Datum::Decimal(dec(w[1])));
        assert!(
            key_of(&a, Direction::Asc) < key_of(&b, Direction::Asc),
            "{} key",
            w[0]
        );
        assert!(
            key_of(&a, Direction::Desc) > key_of(&b, Direction::Desc),
            "{} desc key",
            w[0]
        );
    }
}

#[test]
fn float_order_by_hand() {
    let ascending = [
        f64::NAN,
        f64::NEG_INFINITY,
        f64::MIN,
        -1.0,
        -f64::MIN_POSITIVE,
        -0.0,
        f64::MIN_POSITIVE,
        1.0,
        f64::MAX,
        f64::INFINITY,
    ];
    for w in ascending.windows(2) {
        let (a, b) = (Datum::Float(w[0]), Datum::Float(w[1]));
        assert!(
            key_of(&a, Direction::Asc) < key_of(&b, Direction::Asc),
            "{:?}",
            w
        );
    }
    assert_eq!(
        key_of(&Datum::Float(-0.0), Direction::Asc),
        key_of(&Datum::Float(0.0), Direction::Asc)
    );
    assert_eq!(
        key_of(&Datum::Float(-f64::NAN), Direction::Asc),
        key_of(&Datum::Float(f64::NAN), Direction::Asc)
    );
}

#[test]
fn json_rows_are_canonical_and_bounded() {
    use vouch_format::row::MAX_JSON_DEPTH;
    let nested = |n: usize| -> serde_json::Value { (0..n).fold(json!(1), |v, _| json!([v])) };
    let ok = encode_row(&[(1, Datum::Json(nested(MAX_JSON_DEPTH)))]).unwrap();
    assert_eq!(
        decode_row(&ok).unwrap(),
        [(1, Datum::Json(nested(MAX_JSON_DEPTH)))]
    );
    assert!(matches!(
        encode_row(&[(1, Datum::Json(nested(MAX_JSON_DEPTH + 1)))]),
        Err(Error::RowColumn { column_id: 1, .. })
    ));
    let text = format!(
        "{}1{}",
        "[".repeat(MAX_JSON_DEPTH + 1),
        "]".repeat(MAX_JSON_DEPTH + 1)
    );
    let mut r = vec![1, 0x01, 0x0b];
    r.push(0x80 | (text.len() & 0x7f) as u8);
    r.push((text.len() >> 7) as u8);
    r.extend_from_slice(text.as_bytes());
    assert!(matches!(
        decode_row(&r),
        Err(Error::RowColumn {
            column_id: 1,
            offset: 3,
            ..
        })
    ));
    // Unsorted or duplicate keys, whitespace, and non-canonical numbers are rejected.
    for bad in [
        r#"{"b":1,"a":2}"#,
        r#"{"a":1,"a":1}"#,
        "[1, 2]",
        "1e2",
        "1.50",
        "\"\\u0061\"",
    ] {
        let mut r = vec![1, 0x01, 0x0b, bad.len() as u8];
        r.extend_from_slice(bad.as_bytes());
        assert!(
            matches!(
                decode_row(&r),
                Err(Error::RowColumn {
                    column_id: 1,
                    offset: 3,
                    ..
                })
            ),
            "{bad} accepted"
        );
    }
    for good in [r#"{"a":2,"b":1}"#, "[1,2]", "100.0", "1.5", "\"a\"", "null"] {
        let mut r = vec![1, 0x01, 0x0b, good.len() as u8];
        r.extend_from_slice(good.as_bytes());
        assert!(decode_row(&r).is_ok(), "{good} rejected");
        fuzz_decode_row(&r);
    }
}
