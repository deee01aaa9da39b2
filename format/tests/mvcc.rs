//! MVCC encoding properties: bytewise order equals (user key ascending, timestamp
//! descending); round trips; every truncation and corruption is an error.

use proptest::prelude::*;
use vouch_format::mvcc::{self, Timestamp, Value};
use vouch_format::Error;

fn ts() -> impl Strategy<Value = Timestamp> {
    (
        prop_oneof![0u64..4, any::<u64>()],
        prop_oneof![0u32..3, any::<u32>()],
    )
        .prop_map(|(w, l)| Timestamp::new(w, l))
}

fn user_key() -> impl Strategy<Value = Vec<u8>> {
    // Small alphabet with 0x00 and 0xff so escaping and prefixes are exercised.
    prop::collection::vec(prop::sample::select(vec![0u8, 1, 0xfe, 0xff, b'a']), 0..8)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn order_is_key_asc_then_ts_desc(a in user_key(), ta in ts(), b in user_key(), tb in ts()) {
        let ea = mvcc::key(&a, ta);
        let eb = mvcc::key(&b, tb);
        let want = a.cmp(&b).then(tb.cmp(&ta));
        prop_assert_eq!(ea.cmp(&eb), want);
    }

    #[test]
    fn key_round_trip(a in user_key(), t in ts()) {
        let e = mvcc::key(&a, t);
        prop_assert_eq!(mvcc::decode_key(&e).unwrap(), (a, t));
        for n in 0..e.len() {
            prop_assert!(mvcc::decode_key(&e[..n]).is_err());
        }
    }

    #[test]
    fn value_round_trip_and_flips(a in user_key(), t in ts(), p in prop::option::of(prop::collection::vec(any::<u8>(), 0..20))) {
        let k = mvcc::key(&a, t);
        let v = mvcc::value(&k, p.as_deref());
        let want = match &p { Some(p) => Value::Live(p), None => Value::Tombstone };
        prop_assert_eq!(mvcc::decode_value(&k, &v).unwrap(), want);
        for i in 0..v.len() {
            let mut bad = v.clone();
            bad[i] ^= 0x04;
            prop_assert!(mvcc::decode_value(&k, &bad).is_err(), "flip at {} undetected", i);
        }
        for n in 0..v.len() {
            // A shorter value is either too short for the header or fails its checksum.
            prop_assert!(mvcc::decode_value(&k, &v[..n]).is_err());
        }
    }
}

#[test]
fn truncated_key_names_the_field() {
    let e = mvcc::key(b"ab", Timestamp::new(7, 1));
    assert_eq!(
        mvcc::decode_key(&e[..6]),
        Err(Error::Truncated {
            field: "mvcc timestamp wall time",
            offset: 4,
            needed: 8,
            available: 2
        })
    );
    assert_eq!(
        mvcc::decode_key(b"ab"),
        Err(Error::Truncated {
            field: "mvcc user key",
            offset: 2,
            needed: 1,
            available: 0
        })
    );
}

#[test]
fn value_moved_to_another_key_fails() {
    let k1 = mvcc::key(b"k1", Timestamp::new(1, 0));
    let k2 = mvcc::key(b"k2", Timestamp::new(1, 0));
    let v = mvcc::value(&k1, Some(b"x"));
    match mvcc::decode_value(&k2, &v) {
        Err(Error::ValueChecksum {
            stored, computed, ..
        }) => assert_ne!(stored, computed),
        other => panic!("expected ValueChecksum, got {other:?}"),
    }
}
