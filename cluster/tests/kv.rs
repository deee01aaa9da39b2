//! The KV layer against a simple oracle: a list of (key, ts, value) writes.

use proptest::prelude::*;
use vouch_cluster::{Batch, Clock, Error, Kv};
use vouch_format::mvcc::Timestamp;

const SEC: u64 = 1_000_000_000;

fn open() -> (tempfile::TempDir, Kv) {
    let d = tempfile::tempdir().unwrap();
    let kv = Kv::open(&d.path().join("c.redb"), Clock::manual(1_000 * SEC)).unwrap();
    (d, kv)
}

/// One write: key, timestamp, value (`None` = delete).
type Write = (Vec<u8>, Timestamp, Option<Vec<u8>>);

/// Oracle: the newest write of `key` at or before `at`.
fn oracle_get(log: &[Write], key: &[u8], at: Timestamp) -> Option<Vec<u8>> {
    log.iter()
        .filter(|(k, t, _)| k == key && *t <= at)
        .max_by_key(|(_, t, _)| *t)
        .and_then(|(_, _, v)| v.clone())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn reads_match_the_write_log(ops in prop::collection::vec((0u8..6, prop::option::of(prop::collection::vec(any::<u8>(), 0..6)), 0u64..3), 1..40)) {
        let (_d, kv) = open();
        let mut log = Vec::new();
        for (k, v, adv) in &ops {
            kv.clock().advance(adv * SEC);
            let mut b = Batch::default();
            match v { Some(v) => b.put(&[*k], v), None => b.delete(&[*k]) }
            let ts = kv.write(&b).unwrap();
            log.push((vec![*k], ts, v.clone()));
        }
        let times: Vec<Timestamp> = log.iter().map(|(_, t, _)| *t).collect();
        for &at in &times {
            for k in 0u8..6 {
                prop_assert_eq!(kv.get(&[k], at).unwrap(), oracle_get(&log, &[k], at));
            }
            let mut got = Vec::new();
            kv.scan(&[], &[], at, |k, v| { got.push((k.to_vec(), v.to_vec())); Ok(()) }).unwrap();
            let want: Vec<_> = (0u8..6).filter_map(|k| oracle_get(&log, &[k], at).map(|v| (vec![k], v))).collect();
            prop_assert_eq!(got, want);
        }
        // Every version in (t0, t_last], tombstones included.
        let (t0, tn) = (times[0], *times.last().unwrap());
        let mut got = Vec::new();
        kv.versions(&[], &[], t0, tn, |v| { got.push((v.key.clone(), v.ts, v.value.clone())); Ok(()) }).unwrap();
        let mut want: Vec<_> = log.iter().filter(|(_, t, _)| *t > t0).cloned().collect();
        want.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        prop_assert_eq!(got, want);
    }
}

#[test]
fn gc_removes_shadowed_history_and_reads_below_threshold_fail() {
    let (_d, kv) = open();
    kv.set_gc_ttl(b"", 60).unwrap();
    let mut b = Batch::default();
    b.put(b"a", b"1");
    let t1 = kv.write(&b).unwrap();
    kv.clock().advance(10 * SEC);
    let mut b = Batch::default();
    b.put(b"a", b"2");
    b.put(b"gone", b"x");
    let t2 = kv.write(&b).unwrap();
    kv.clock().advance(10 * SEC);
    let mut b = Batch::default();
    b.delete(b"gone");
    let t3 = kv.write(&b).unwrap();
    kv.clock().advance(100 * SEC);
    let now = kv.now();
    // Threshold = now - 60s, after t3: a@t1 shadowed by a@t2; gone's tombstone and its
    // older value are both unneeded.
    assert_eq!(kv.gc(now).unwrap(), 3);
    let threshold = kv.gc_threshold(b"", b"").unwrap();
    assert_eq!(threshold, Timestamp::new(now.wall - 60 * SEC, 0));
    assert_eq!(kv.get(b"a", now).unwrap(), Some(b"2".to_vec()));
    assert_eq!(kv.get(b"gone", now).unwrap(), None);
    match kv.get(b"a", t2) {
        Err(Error::BelowGcThreshold {
            requested,
            threshold: th,
            ..
        }) => {
            assert_eq!(requested, t2);
            assert_eq!(th, threshold);
        }
        other => panic!("expected BelowGcThreshold, got {other:?}"),
    }
    assert!(matches!(
        kv.versions(b"", b"", t1, now, |_| Ok(())),
        Err(Error::BelowGcThreshold { .. })
    ));
    let _ = t3;
}

#[test]
fn protected_timestamp_holds_back_gc() {
    let (_d, kv) = open();
    kv.set_gc_ttl(b"", 60).unwrap();
    let mut b = Batch::default();
    b.put(b"k", b"old");
    let t1 = kv.write(&b).unwrap();
    kv.protect(7, t1).unwrap();
    kv.clock().advance(SEC);
    let mut b = Batch::default();
    b.put(b"k", b"new");
    kv.write(&b).unwrap();
    kv.clock().advance(1000 * SEC);
    assert_eq!(kv.gc(kv.now()).unwrap(), 0);
    // History since t1 is still there: t1 is not below the threshold (= t1).
    let mut n = 0;
    kv.versions(b"", b"", t1, kv.now(), |_| {
        n += 1;
        Ok(())
    })
    .unwrap();
    assert_eq!(n, 1);
    kv.release(7).unwrap();
    assert_eq!(kv.gc(kv.now()).unwrap(), 1);
}

#[test]
fn per_zone_ttl_and_clock_survive_reopen() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("c.redb");
    let last = {
        let kv = Kv::open(&p, Clock::manual(5 * SEC)).unwrap();
        kv.set_gc_ttl(b"/t/1", 600).unwrap();
        let mut b = Batch::default();
        b.put(b"/t/1/x", b"v");
        kv.write(&b).unwrap()
    };
    // A clock that went backwards still hands out later timestamps.
    let kv = Kv::open(&p, Clock::manual(SEC)).unwrap();
    assert!(kv.now() > last);
    assert_eq!(kv.gc_ttl(b"/t/1/x").unwrap(), 600);
    assert_eq!(
        kv.gc_ttl(b"/t/2/x").unwrap(),
        vouch_cluster::DEFAULT_GC_TTL_SECS
    );
}

#[test]
fn write_at_ingests_at_a_past_timestamp_and_refuses_the_future() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("c.redb");
    let (at, later) = {
        let kv = Kv::open(&p, Clock::manual(5 * SEC)).unwrap();
        let at = kv.now();
        let mut other = Batch::default();
        other.put(b"/t/1/a", b"newer");
        let later = kv.write(&other).unwrap();
        // Two batches at the one earlier timestamp, as RESTORE ingests.
        for (k, v) in [(b"/t/2/x", b"1"), (b"/t/2/y", b"2")] {
            let mut b = Batch::default();
            b.put(k, v);
            kv.write_at(&b, at).unwrap();
        }
        assert_eq!(kv.get(b"/t/2/x", at).unwrap().as_deref(), Some(&b"1"[..]));
        assert_eq!(
            kv.get(b"/t/2/y", later).unwrap().as_deref(),
            Some(&b"2"[..])
        );
        assert_eq!(
            kv.get(b"/t/2/x", Timestamp::new(at.wall - 1, 0)).unwrap(),
            None
        );
        let future = Timestamp::new(kv.now().wall + 60 * SEC, 0);
        match kv.write_at(&Batch::default(), future) {
            Err(Error::Usage(m)) => assert!(m.contains("in the future"), "{m}"),
            other => panic!("{other:?}"),
        }
        (at, later)
    };
    // Ingesting at an older timestamp does not move the recorded clock back.
    let kv = Kv::open(&p, Clock::manual(SEC)).unwrap();
    assert!(kv.now() > later && later > at);
}

#[test]
fn a_manual_clock_is_kept_by_the_cluster_and_a_second_open_is_busy() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("kv.redb");
    // 2100-01-01, after any system time a test runs at.
    let wall = 4_102_444_800_000_000_000;
    {
        let kv = Kv::open(&path, Clock::system()).unwrap();
        assert_eq!(kv.manual_clock().unwrap(), None);
        kv.set_manual_clock(Some(wall)).unwrap();
        assert!(matches!(
            kv.set_setting("clock.manual", b"x"),
            Err(Error::Usage(_))
        ));
        // One process at a time: a second open of the same store is refused as busy.
        assert!(matches!(
            Kv::open(&path, Clock::system()),
            Err(Error::Busy(_))
        ));
    }
    let kv = Kv::open(&path, Clock::system()).unwrap();
    assert_eq!(kv.manual_clock().unwrap(), Some(wall));
    assert_eq!(kv.now(), Timestamp::new(wall, 0));
    assert_eq!(kv.now(), Timestamp::new(wall, 1));
    kv.set_manual_clock(Some(wall + 5)).unwrap();
    drop(kv);
    let kv = Kv::open(&path, Clock::system()).unwrap();
    assert_eq!(kv.now(), Timestamp::new(wall + 5, 0));
    kv.set_manual_clock(None).unwrap();
    drop(kv);
    let kv = Kv::open(&path, Clock::system()).unwrap();
    assert_eq!(kv.manual_clock().unwrap(), None);
}
