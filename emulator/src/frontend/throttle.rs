//! `--realtime`: keep the guest's virtual clock from running ahead of the
//! host's wall clock (DESIGN.md, "Time and determinism": wall time paces
//! the guest but never reaches it).

use std::time::{Duration, Instant};

use oxbox_devices::VirtualTime;

/// A guest that falls further behind than this (a slow host, a paused
/// process) is not made to catch up in a burst: the pacing restarts.
const MAX_LAG: Duration = Duration::from_millis(250);

/// Pairs a moment of virtual time with a moment of wall time and sleeps
/// whenever the guest gets ahead of that pairing.
#[derive(Debug)]
pub struct Throttle {
    wall: Instant,
    virt: VirtualTime,
}

impl Throttle {
    pub fn new(now: VirtualTime) -> Throttle {
        Throttle {
            wall: Instant::now(),
            virt: now,
        }
    }

    /// Pair `now` with this instant (after the guest waited for input, say).
    pub fn rebase(&mut self, now: VirtualTime) {
        *self = Throttle::new(now);
    }

    /// How long to wait before the guest may go on from `now`.
    pub fn delay(&mut self, now: VirtualTime) -> Duration {
        let guest = Duration::from_nanos(now.nanos_since(self.virt));
        let host = self.wall.elapsed();
        if host > guest + MAX_LAG {
            self.rebase(now);
            return Duration::ZERO;
        }
        guest.saturating_sub(host)
    }

    /// Sleep until the wall clock reaches `now`.
    pub fn pace(&mut self, now: VirtualTime) {
        let d = self.delay(now);
        if !d.is_zero() {
            std::thread::sleep(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_ahead_of_the_wall_clock_waits_the_difference() {
        let mut t = Throttle::new(VirtualTime::from_secs(10));
        let d = t.delay(VirtualTime::from_millis(10_200));
        assert!(
            d > Duration::from_millis(150) && d <= Duration::from_millis(200),
            "{d:?}"
        );
    }

    #[test]
    fn a_guest_behind_the_wall_clock_runs_on_and_is_not_made_to_catch_up() {
        let mut t = Throttle::new(VirtualTime::ZERO);
        std::thread::sleep(MAX_LAG + Duration::from_millis(20));
        // Far behind: no wait, and the pairing restarts from here ...
        assert_eq!(t.delay(VirtualTime::from_millis(1)), Duration::ZERO);
        // ... so 100 ms more of guest time is 100 ms more of waiting.
        let d = t.delay(VirtualTime::from_millis(101));
        assert!(d > Duration::from_millis(80), "{d:?}");
    }
}
