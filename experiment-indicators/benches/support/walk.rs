//! The benchmarks' input series, shared by `benches/indicators.rs` and
//! `examples/column_timings.rs` so both time the same bars.

use experiment_indicators::Bar;

/// A deterministic random walk (xorshift), the one `bench/indicators/run` hands to TA-Lib
/// (through `examples/column_timings.rs`).
pub(crate) fn walk(n: usize) -> Vec<Bar> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut close = 100.0;
    (0..n)
        .map(|_| {
            let open = close;
            close = (close * (1.0 + (next() - 0.5) * 0.02)).max(1.0);
            let high = open.max(close) * (1.0 + next() * 0.005);
            let low = open.min(close) * (1.0 - next() * 0.005);
            Bar {
                open,
                high,
                low,
                close,
                volume: (next() * 1e6).floor(),
            }
        })
        .collect()
}
