//! Virtual time.
//!
//! Guest time is a count of nanoseconds since the machine was powered on,
//! [`VirtualTime`]. The machine derives it from the CPU's cycle counter (a
//! [`ClockRate`] for the CPU's clock turns cycles into time and back), and
//! every device derives its own clock from it: the 8254 counts at
//! 1 193 181.8 Hz, the MC146818's divider chain at 32 768 Hz.
//!
//! Conversions are always done on *absolute* values with integer arithmetic:
//! "how many PIT clocks have elapsed by time `t`" is computed from `t` itself,
//! never by adding up rounded per-step deltas. A device clock therefore never
//! drifts from the CPU clock however the run loop slices time, and the same
//! run always produces the same times (see "Time and determinism" in
//! DESIGN.md).

use serde::{Deserialize, Serialize};

/// Nanoseconds: the unit of a length of guest time.
pub type Nanos = u64;

pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// A point in guest time: nanoseconds since power-on.
///
/// 2^64 ns is 584 years, so arithmetic saturates rather than wraps.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct VirtualTime(u64);

impl VirtualTime {
    pub const ZERO: VirtualTime = VirtualTime(0);
    /// Later than any time a run reaches; "never".
    pub const MAX: VirtualTime = VirtualTime(u64::MAX);

    pub const fn from_nanos(ns: u64) -> VirtualTime {
        VirtualTime(ns)
    }

    pub const fn from_micros(us: u64) -> VirtualTime {
        VirtualTime(us.saturating_mul(1_000))
    }

    pub const fn from_millis(ms: u64) -> VirtualTime {
        VirtualTime(ms.saturating_mul(1_000_000))
    }

    pub const fn from_secs(s: u64) -> VirtualTime {
        VirtualTime(s.saturating_mul(NANOS_PER_SEC))
    }

    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// This time plus `ns` nanoseconds, saturating at [`VirtualTime::MAX`].
    #[must_use]
    pub const fn add_nanos(self, ns: Nanos) -> VirtualTime {
        VirtualTime(self.0.saturating_add(ns))
    }

    /// Nanoseconds from `earlier` to `self`; zero if `earlier` is later.
    pub const fn nanos_since(self, earlier: VirtualTime) -> Nanos {
        self.0.saturating_sub(earlier.0)
    }
}

impl std::fmt::Display for VirtualTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}.{:09}s",
            self.0 / NANOS_PER_SEC,
            self.0 % NANOS_PER_SEC
        )
    }
}

/// The earliest of a set of optional deadlines (`None` = no event pending).
pub fn earliest(deadlines: impl IntoIterator<Item = Option<VirtualTime>>) -> Option<VirtualTime> {
    deadlines.into_iter().flatten().min()
}

/// A clock frequency as an exact fraction of hertz: `num / den` Hz.
///
/// Tick `n` of a clock happens at the instant `n / f` seconds after time
/// zero. Both directions of conversion round so that they agree exactly:
/// `ticks_at(tick_time(n)) == n` for every `n` when the clock runs at
/// 1 GHz or slower.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClockRate {
    num: u64,
    den: u64,
}

/// The 8254's input clock on the PC: the 14.31818 MHz NTSC colour-burst
/// crystal divided by 12, i.e. exactly 105/88 MHz (1 193 181.8 Hz).
pub const PIT_CLOCK: ClockRate = ClockRate::ratio(105_000_000, 88);

/// The MC146818's 32.768 kHz time base.
pub const RTC_CLOCK: ClockRate = ClockRate::hz(32_768);

const fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        let t = a % b;
        a = b;
        b = t;
    }
    a
}

impl ClockRate {
    /// A whole number of hertz. A rate of 0 is taken as 1 Hz.
    pub const fn hz(hz: u64) -> ClockRate {
        ClockRate::ratio(hz, 1)
    }

    /// `num / den` hertz, reduced. Zero terms are taken as 1 (a clock must
    /// tick), so no rate can make a conversion divide by zero.
    pub const fn ratio(num: u64, den: u64) -> ClockRate {
        let num = if num == 0 { 1 } else { num };
        let den = if den == 0 { 1 } else { den };
        let g = gcd(num, den);
        ClockRate {
            num: num / g,
            den: den / g,
        }
    }

    /// The rate in hertz, rounded down (for display).
    pub const fn whole_hz(self) -> u64 {
        self.num / self.den
    }

    /// How many ticks have happened by time `t` (tick `n` happens at
    /// `n / f`; tick 0 at time zero is not counted): `floor(t * f)`.
    pub fn ticks_at(self, t: VirtualTime) -> u64 {
        let v = t.0 as u128 * self.num as u128 / (self.den as u128 * NANOS_PER_SEC as u128);
        u64::try_from(v).unwrap_or(u64::MAX)
    }

    /// The time of tick `n`: the first nanosecond at which
    /// [`ticks_at`](Self::ticks_at) reaches `n`, i.e. `ceil(n / f)`.
    /// Saturates at [`VirtualTime::MAX`].
    pub fn tick_time(self, n: u64) -> VirtualTime {
        let scaled = n as u128 * self.den as u128 * NANOS_PER_SEC as u128;
        let v = scaled.div_ceil(self.num as u128);
        VirtualTime(u64::try_from(v).unwrap_or(u64::MAX))
    }

    /// The first tick count `n` with `tick_time(n) >= t`: how far a CPU must
    /// run (in cycles) to reach a deadline `t`.
    pub fn ticks_to_reach(self, t: VirtualTime) -> u64 {
        if t.0 == 0 {
            0
        } else {
            self.ticks_at(VirtualTime(t.0 - 1)).saturating_add(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pit_clock_is_105_88_mhz() {
        assert_eq!(PIT_CLOCK.whole_hz(), 1_193_181);
        // 1 193 182 ticks take one second plus a fraction of a tick.
        assert_eq!(PIT_CLOCK.ticks_at(VirtualTime::from_secs(1)), 1_193_181);
        // 65536 ticks (the BIOS's 18.2 Hz timer) = 54.925 ms.
        assert_eq!(PIT_CLOCK.tick_time(65536).as_nanos(), 54_925_410);
    }

    #[test]
    fn conversions_agree_and_do_not_drift() {
        for rate in [
            PIT_CLOCK,
            RTC_CLOCK,
            ClockRate::hz(4_772_727),
            ClockRate::hz(1_000_000_000),
        ] {
            for n in [0u64, 1, 2, 3, 17, 65535, 65536, 1 << 40] {
                let t = rate.tick_time(n);
                assert_eq!(rate.ticks_at(t), n, "{rate:?} tick {n}");
                if t.as_nanos() > 0 {
                    assert_eq!(rate.ticks_at(VirtualTime(t.as_nanos() - 1)), n - 1);
                }
            }
        }
        // A day of PIT ticks computed in one step and in 1 ms steps agree.
        let day = VirtualTime::from_secs(86_400);
        let mut t = VirtualTime::ZERO;
        let mut last = 0;
        while t < day {
            t = t.add_nanos(1_000_000);
            let now = PIT_CLOCK.ticks_at(t);
            assert!(now >= last);
            last = now;
        }
        assert_eq!(last, PIT_CLOCK.ticks_at(day));
        assert_eq!(last, 86_400 * 105_000_000 / 88);
    }

    #[test]
    fn ticks_to_reach_is_the_first_tick_at_or_after() {
        let cpu = ClockRate::hz(33_000_000);
        for t in [0u64, 1, 30, 31, 1_000, 999_999_999, 1 << 50] {
            let t = VirtualTime(t);
            let n = cpu.ticks_to_reach(t);
            assert!(cpu.tick_time(n) >= t);
            if n > 0 {
                assert!(cpu.tick_time(n - 1) < t);
            }
        }
    }

    #[test]
    fn extreme_values_saturate() {
        assert_eq!(PIT_CLOCK.tick_time(u64::MAX), VirtualTime::MAX);
        assert_eq!(ClockRate::hz(0), ClockRate::hz(1));
        assert_eq!(ClockRate::ratio(10, 0), ClockRate::hz(10));
        let fast = ClockRate::hz(u64::MAX);
        assert_eq!(fast.ticks_at(VirtualTime::MAX), u64::MAX);
        assert_eq!(VirtualTime::MAX.add_nanos(5), VirtualTime::MAX);
        assert_eq!(VirtualTime::ZERO.nanos_since(VirtualTime::MAX), 0);
    }

    #[test]
    fn earliest_ignores_none() {
        let a = Some(VirtualTime(5));
        assert_eq!(earliest([None, a, Some(VirtualTime(9))]), a);
        assert_eq!(earliest([None, None]), None);
    }
}
