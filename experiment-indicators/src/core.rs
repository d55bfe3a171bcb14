//! What every indicator shares: the bar it reads, the streaming trait, batch over slices.

/// One bar, in f64 (indicators compute in f64; prices stay exact decimals everywhere else).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bar {
    /// Open.
    pub open: f64,
    /// High.
    pub high: f64,
    /// Low.
    pub low: f64,
    /// Close.
    pub close: f64,
    /// Volume.
    pub volume: f64,
}

impl Bar {
    /// Typical price (H+L+C)/3.
    pub fn typical(&self) -> f64 {
        (self.high + self.low + self.close) / 3.0
    }
}

/// A streaming indicator: O(1) (amortised) per closed bar, `None` until defined (never 0).
///
/// `peek` gives the value a forming bar would produce without committing it; the default
/// clones the state, which is O(window) for windowed indicators.
pub trait Indicator: Clone {
    /// What one update yields (`f64`, or a struct for multi-output indicators).
    type Output: Copy;

    /// Adds a closed bar.
    fn update(&mut self, bar: &Bar) -> Option<Self::Output>;

    /// The value `bar` would give, without committing it.
    fn peek(&self, bar: &Bar) -> Option<Self::Output> {
        self.clone().update(bar)
    }

    /// Forgets every bar.
    fn reset(&mut self);

    /// Bars consumed before the first value (TA-Lib's "lookback").
    fn warm_up(&self) -> usize;
}

/// Runs `indicator` over `bars`: one output per bar, bit-identical to streaming.
pub fn batch<I: Indicator>(mut indicator: I, bars: &[Bar]) -> Vec<Option<I::Output>> {
    bars.iter().map(|b| indicator.update(b)).collect()
}

/// TA-Lib's notion of zero (`TA_IS_ZERO`): |v| < 1e-8.
pub(crate) fn is_zero(v: f64) -> bool {
    v.abs() < 1e-8
}

/// A fixed-length window of the last values, as a ring buffer allocated once (nothing in an
/// update can allocate, which also lets the batch loops keep their state in registers).
#[derive(Debug, Clone)]
pub(crate) struct Window {
    buf: Vec<f64>,
    /// Values pushed so far, up to the length.
    count: usize,
    /// Where the next value goes; once full, also the oldest value.
    next: usize,
}

impl Window {
    pub(crate) fn new(len: usize) -> Self {
        Window {
            buf: vec![0.0; len],
            count: 0,
            next: 0,
        }
    }

    /// Pushes `v`; returns the value that fell out, if the window was full.
    #[inline(always)]
    pub(crate) fn push(&mut self, v: f64) -> Option<f64> {
        let old = std::mem::replace(&mut self.buf[self.next], v);
        self.next += 1;
        if self.next == self.buf.len() {
            self.next = 0;
        }
        if self.count < self.buf.len() {
            self.count += 1;
            None
        } else {
            Some(old)
        }
    }

    #[inline(always)]
    pub(crate) fn full(&self) -> bool {
        self.count == self.buf.len()
    }

    /// The values and the index of the oldest (what [`ring_sum`] reads): plain values, so a
    /// closure over them does not hold on to the window.
    #[inline(always)]
    pub(crate) fn ring(&self) -> (&[f64], usize) {
        if self.full() {
            (&self.buf, self.next)
        } else {
            (&self.buf[..self.count], 0)
        }
    }

    /// Oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &f64> {
        let (newer, older) = if self.full() {
            self.buf.split_at(self.next)
        } else {
            (&self.buf[..self.count], &self.buf[..0])
        };
        older.iter().chain(newer)
    }

    /// The oldest value.
    #[inline(always)]
    pub(crate) fn front(&self) -> Option<f64> {
        // Once full, the slot the next value goes to holds the oldest: read it directly
        // rather than through `iter` (ROC and momentum read it every bar).
        match self.count {
            0 => None,
            c if c == self.buf.len() => Some(self.buf[self.next]),
            _ => Some(self.buf[0]),
        }
    }

    // The scans the indicators used before [`Extreme`], kept as its reference in the tests.
    // The order of the values does not change a maximum, so the buffer is scanned as it lies,
    // with plain comparisons (NaN-aware `f64::max` costs several instructions more each).
    #[cfg(test)]
    pub(crate) fn max(&self) -> f64 {
        self.buf[..self.count]
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| if v > m { v } else { m })
    }

    #[cfg(test)]
    pub(crate) fn min(&self) -> f64 {
        self.buf[..self.count]
            .iter()
            .fold(f64::INFINITY, |m, &v| if v < m { v } else { m })
    }

    pub(crate) fn clear(&mut self) {
        self.count = 0;
        self.next = 0;
    }
}

/// The highest (`MAX = true`) or lowest value of the last `len` pushed, in O(1) amortised
/// per push whatever the window, where scanning the window costs `len` comparisons a bar.
///
/// The stream is cut into blocks of `len` values (van Herk / Gil-Werman). A full window
/// ending at position `j` of the current block is the block's first `j + 1` values and the
/// previous block's values from `j + 1` on, so its extreme is the better of a running
/// extreme of the current block and a suffix extreme of the previous one, computed once per
/// block when it completes (`len` comparisons every `len` pushes). A push is then two
/// comparisons and a store, with no data-dependent branch: a monotonic deque, also O(1)
/// amortised, was measured at 50–60 ns a bar for the high/low pair (its pops mispredict on a
/// random walk), three times the 14-value scan it replaced; this is under 5 ns.
///
/// It returns what [`Window::max`]/[`Window::min`] return on the same values, to the bit:
/// NaN is never picked (the scan's plain comparisons skip it too), and an empty set is −∞
/// for the highest and +∞ for the lowest. The one difference is which of `0.0` and `-0.0`
/// is reported when both are the extreme (the scan's answer depends on where they lie in
/// its ring); they compare equal.
#[derive(Debug, Clone)]
pub(crate) struct Extreme<const MAX: bool> {
    /// The current block's values so far (`len` slots).
    block: Vec<f64>,
    /// `suffix[k]`: the extreme of the previous block from position `k` on; `suffix[len]`
    /// is the empty extreme.
    suffix: Vec<f64>,
    /// The extreme of the current block so far.
    prefix: f64,
    /// Position in the current block of the next value.
    at: usize,
    /// Values pushed, up to `len`.
    count: usize,
}

impl<const MAX: bool> Extreme<MAX> {
    const NONE: f64 = if MAX {
        f64::NEG_INFINITY
    } else {
        f64::INFINITY
    };

    pub(crate) fn new(len: usize) -> Self {
        assert!(len > 0, "window length must be positive");
        Extreme {
            block: vec![Self::NONE; len],
            suffix: vec![Self::NONE; len + 1],
            prefix: Self::NONE,
            at: 0,
            count: 0,
        }
    }

    /// `a` if it beats `b`, else `b` (so NaN, which beats nothing, is never picked): one
    /// `maxsd`/`minsd` instruction.
    #[inline(always)]
    fn pick(a: f64, b: f64) -> f64 {
        if (MAX && a > b) || (!MAX && a < b) {
            a
        } else {
            b
        }
    }

    /// Adds `x` to the window (the oldest value leaves it once `len` are held).
    #[inline(always)]
    pub(crate) fn push(&mut self, x: f64) {
        let len = self.block.len();
        self.block[self.at] = x;
        self.prefix = Self::pick(x, self.prefix);
        self.at += 1;
        if self.count < len {
            self.count += 1;
        }
        if self.at == len {
            // Taken once every `len` pushes: predicted, and amortised to one comparison.
            let (block, suffix) = (&self.block, &mut self.suffix);
            let mut best = Self::NONE;
            for k in (0..len).rev() {
                best = Self::pick(block[k], best);
                suffix[k] = best;
            }
            self.prefix = Self::NONE;
            self.at = 0;
        }
    }

    /// Whether `len` values have been pushed (the window is full).
    #[inline(always)]
    pub(crate) fn full(&self) -> bool {
        self.count == self.block.len()
    }

    /// The extreme of the window (of what was pushed so far, before it is full).
    #[inline(always)]
    pub(crate) fn value(&self) -> f64 {
        Self::pick(self.prefix, self.suffix[self.at])
    }

    pub(crate) fn clear(&mut self) {
        self.suffix.fill(Self::NONE);
        self.prefix = Self::NONE;
        self.at = 0;
        self.count = 0;
    }
}

/// The highest value of a window ([`Extreme`]).
pub(crate) type RollingMax = Extreme<true>;
/// The lowest value of a window ([`Extreme`]).
pub(crate) type RollingMin = Extreme<false>;

/// A running sum over a window, re-added from the window every `max(len, RESUM_EVERY)`
/// updates so that rounding drift cannot accumulate (a price of 1e6 followed by prices of 1
/// would otherwise leave a visible error in the sum for ever).
///
/// The arithmetic is the same whether driven by streaming updates or by the batch kernels, so
/// the two agree to the bit.
#[derive(Debug, Clone)]
pub(crate) struct RunningSum {
    sum: f64,
    since: usize,
    every: usize,
}

/// Calls `f` out of line: for rare paths, so that the hot one stays small and keeps its state
/// in registers (`f` gets plain values, never the address of the state).
#[cold]
#[inline(never)]
pub(crate) fn cold<T>(f: impl FnOnce() -> T) -> T {
    f()
}

/// Sum of a ring buffer's values, oldest (at `start`) first, mapped by `f`.
pub(crate) fn ring_sum(buf: &[f64], start: usize, f: impl Fn(f64) -> f64) -> f64 {
    let (newer, older) = buf.split_at(start);
    older.iter().chain(newer).map(|v| f(*v)).sum()
}

/// Fewest updates between two full re-additions: a window of 20 is re-added every 256
/// updates, which costs under 0.1 addition per update.
const RESUM_EVERY: usize = 256;

impl RunningSum {
    pub(crate) fn new(len: usize) -> Self {
        RunningSum {
            sum: 0.0,
            since: 0,
            every: len.max(RESUM_EVERY),
        }
    }

    /// Adds `x`, which replaced `old` in the window (already pushed). Returns whether the
    /// sum is due to be re-added from the window ([`RunningSum::set`], on a cold path).
    #[inline(always)]
    pub(crate) fn add(&mut self, x: f64, old: Option<f64>) -> bool {
        // The difference is formed off the dependency chain: one addition per update on it.
        self.sum += match old {
            Some(o) => x - o,
            None => x,
        };
        self.since += 1;
        self.since >= self.every
    }

    /// The sum re-added from the window.
    #[inline(always)]
    pub(crate) fn set(&mut self, sum: f64) {
        self.sum = sum;
        self.since = 0;
    }

    #[inline(always)]
    pub(crate) fn value(&self) -> f64 {
        self.sum
    }

    pub(crate) fn clear(&mut self) {
        self.sum = 0.0;
        self.since = 0;
    }
}

/// An exponential average seeded, as TA-Lib does, with the simple average of its first
/// `period` inputs; `alpha` is 2/(n+1) (EMA) or 1/n (Wilder's RMA).
///
/// A step is `prev·(1−α) + x·α` as one fused multiply-add: the only operation on the
/// dependency chain from one bar to the next, which is what bounds the speed of every
/// recursive average. `mul_add` rounds once, whether the CPU fuses it or libm does, so the
/// streaming and batch paths agree to the bit on every machine.
#[derive(Debug, Clone)]
pub(crate) struct ExpAvg {
    period: usize,
    alpha: f64,
    beta: f64,
    seed_sum: f64,
    seen: usize,
    value: Option<f64>,
}

impl ExpAvg {
    pub(crate) fn ema(period: usize) -> Self {
        Self::with_alpha(period, 2.0 / (period as f64 + 1.0))
    }

    pub(crate) fn rma(period: usize) -> Self {
        Self::with_alpha(period, 1.0 / period as f64)
    }

    fn with_alpha(period: usize, alpha: f64) -> Self {
        assert!(period > 0, "period must be positive");
        ExpAvg {
            period,
            alpha,
            beta: 1.0 - alpha,
            seed_sum: 0.0,
            seen: 0,
            value: None,
        }
    }

    #[inline(always)]
    pub(crate) fn update(&mut self, x: f64) -> Option<f64> {
        match self.value {
            Some(prev) => self.value = Some(prev.mul_add(self.beta, x * self.alpha)),
            None => {
                self.seed_sum += x;
                self.seen += 1;
                if self.seen == self.period {
                    self.value = Some(self.seed_sum / self.period as f64);
                }
            }
        }
        self.value
    }

    pub(crate) fn reset(&mut self) {
        *self = Self::with_alpha(self.period, self.alpha);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A value from a small set, so that ties (and NaN, ±∞) are frequent.
    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            8 => (0u8..6).prop_map(f64::from),
            1 => Just(f64::NAN),
            1 => Just(f64::INFINITY),
            1 => Just(f64::NEG_INFINITY),
            4 => -1e3f64..1e3,
        ]
    }

    proptest! {
        #[test]
        fn rolling_extremes_equal_the_window_scan(
            values in proptest::collection::vec(value(), 0..200),
            len in 1usize..12,
        ) {
            let (mut window, mut high, mut low) =
                (Window::new(len), RollingMax::new(len), RollingMin::new(len));
            for (i, v) in values.into_iter().enumerate() {
                window.push(v);
                high.push(v);
                low.push(v);
                prop_assert_eq!(high.full(), window.full());
                prop_assert_eq!(high.value().to_bits(), window.max().to_bits(), "max at {}", i);
                prop_assert_eq!(low.value().to_bits(), window.min().to_bits(), "min at {}", i);
                if i % 37 == 36 {
                    window.clear();
                    high.clear();
                    low.clear();
                }
            }
        }
    }
}
