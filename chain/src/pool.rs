//! The one worker pool of the read side: a fixed number of scoped threads taking items from
//! a shared index, results handed back to the calling thread as they finish (so progress can
//! be reported there). Used by every parallel pass of the verifier.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

/// Runs `work` over `items` on `jobs` threads (at least one, at most one per item); `done`
/// gets each result with its item's index on the calling thread, in the order they finish.
pub fn for_each<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> R + Sync,
    done: impl FnMut(usize, R),
) {
    for_each_ticking(items, jobs, work, done, None, || {});
}

/// [`for_each`], with `tick` also called on the calling thread whenever `every` passes
/// without a result (`None`: never), so progress can be told while long items run.
pub fn for_each_ticking<T: Sync, R: Send>(
    items: &[T],
    jobs: usize,
    work: impl Fn(&T) -> R + Sync,
    mut done: impl FnMut(usize, R),
    every: Option<std::time::Duration>,
    mut tick: impl FnMut(),
) {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel::<(usize, R)>();
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            let tx = tx.clone();
            let (next, work) = (&next, &work);
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                if tx.send((i, work(item))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        loop {
            let got = match every {
                Some(d) => rx.recv_timeout(d),
                None => rx.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            };
            match got {
                Ok((i, r)) => done(i, r),
                Err(mpsc::RecvTimeoutError::Timeout) => tick(),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
    });
}

/// Runs `work` over `items` on `jobs` threads; the results in input order.
pub fn map<T: Sync, R: Send>(items: &[T], jobs: usize, work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let mut out: Vec<(usize, R)> = Vec::with_capacity(items.len());
    for_each(items, jobs, work, |i, r| out.push((i, r)));
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_keeps_input_order_with_any_number_of_workers() {
        let items: Vec<u64> = (0..257).collect();
        for jobs in [0, 1, 2, 7, 1000] {
            let out = map(&items, jobs, |x| x * 3);
            assert_eq!(
                out,
                items.iter().map(|x| x * 3).collect::<Vec<_>>(),
                "{jobs}"
            );
        }
        assert!(map(&[] as &[u8], 4, |x| *x).is_empty());
    }

    #[test]
    fn ticks_come_while_an_item_runs_and_every_result_still_comes_once() {
        let items: Vec<u64> = vec![0, 1, 2];
        let (mut ticks, mut seen) = (0u32, Vec::new());
        for_each_ticking(
            &items,
            2,
            |&x| {
                if x == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(300));
                }
                x * 2
            },
            |i, r| seen.push((i, r)),
            Some(std::time::Duration::from_millis(20)),
            || ticks += 1,
        );
        seen.sort_unstable();
        assert_eq!(seen, vec![(0, 0), (1, 2), (2, 4)]);
        // 300 ms of one item with ticks every 20 ms: several came (the bound is loose:
        // a loaded machine delays them, it does not remove them all).
        assert!(ticks >= 2, "{ticks} ticks");
    }

    #[test]
    fn for_each_hands_every_result_to_the_caller_once() {
        let items: Vec<usize> = (0..100).collect();
        let mut seen = vec![0u32; items.len()];
        for_each(
            &items,
            3,
            |x| x + 1,
            |i, r| {
                assert_eq!(r, i + 1);
                if let Some(s) = seen.get_mut(i) {
                    *s += 1;
                }
            },
        );
        assert!(seen.iter().all(|&n| n == 1));
    }
}
