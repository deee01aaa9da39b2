//! The hybrid logical clock: wall-clock nanoseconds, with a logical counter so that
//! timestamps handed out strictly increase even when the wall clock stalls or steps back.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use vouch_format::mvcc::Timestamp;

/// Where wall time comes from.
#[derive(Debug)]
enum Source {
    System,
    /// Tests: a wall time that only moves when told to.
    Manual(Mutex<u64>),
}

/// An HLC. `now()` never returns the same or an earlier timestamp twice.
#[derive(Debug)]
pub struct Clock {
    source: Source,
    last: Mutex<Timestamp>,
}

impl Clock {
    /// A clock reading the system time.
    pub fn system() -> Self {
        Clock {
            source: Source::System,
            last: Mutex::new(Timestamp::MIN),
        }
    }

    /// A clock whose wall time is `wall` until [`Clock::advance`] is called.
    pub fn manual(wall: u64) -> Self {
        Clock {
            source: Source::Manual(Mutex::new(wall)),
            last: Mutex::new(Timestamp::MIN),
        }
    }

    /// Moves a manual clock forward by `nanos` (no effect on a system clock).
    pub fn advance(&self, nanos: u64) {
        if let Source::Manual(w) = &self.source {
            let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
            *w = w.saturating_add(nanos);
        }
    }

    fn wall(&self) -> u64 {
        match &self.source {
            Source::System => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
                .unwrap_or(0),
            Source::Manual(w) => *w.lock().unwrap_or_else(|p| p.into_inner()),
        }
    }

    /// Makes sure later timestamps are above `ts` (e.g. the last one persisted).
    pub fn observe(&self, ts: Timestamp) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if ts > *last {
            *last = ts;
        }
    }

    /// A new timestamp, greater than every one handed out or observed before.
    pub fn now(&self) -> Timestamp {
        let wall = self.wall();
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let ts = if wall > last.wall {
            Timestamp::new(wall, 0)
        } else {
            last.next()
        };
        *last = ts;
        ts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strictly_increasing_when_wall_stalls() {
        let c = Clock::manual(100);
        let a = c.now();
        let b = c.now();
        assert_eq!(a, Timestamp::new(100, 0));
        assert_eq!(b, Timestamp::new(100, 1));
        c.advance(5);
        assert_eq!(c.now(), Timestamp::new(105, 0));
        c.observe(Timestamp::new(200, 7));
        assert_eq!(c.now(), Timestamp::new(200, 8));
    }
}
