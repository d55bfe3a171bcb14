//! Our side of `bench/indicators/run`: times the columnar batch functions users call
//! (`column::*`, fresh output vectors on every call) on a deterministic random walk, on
//! request, so that the driver (`scripts/bench_vs_talib.py`) can interleave our calls with
//! TA-Lib's on the very same series (the machine's load then weighs on both alike).
//!
//! ```sh
//! cargo run --release -p experiment-indicators --example column_timings -- BARS SERIES_FILE
//! ```
//!
//! Writes the series to `SERIES_FILE` (open, high, low, close and volume columns one after
//! the other, little-endian f64: TA-Lib reads the same bits rather than a second copy of the
//! generator), prints the case names on one line, then answers each line `NAME COUNT` on
//! stdin with `COUNT` call times in milliseconds (after one untimed call), allocation and
//! deallocation of the outputs included, as a TA-Lib call from Python includes them, and
//! then the minor page faults those calls took (−1 where the system does not say).

use std::hint::black_box;
use std::io::{BufRead, Write};
use std::time::Instant;

use experiment_indicators::{column, Bar};

#[path = "../benches/support/walk.rs"]
mod walk;
use walk::walk;

/// Minor page faults of this process so far (Linux; `None` elsewhere).
fn minor_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces): state is the first, minflt
    // the eighth.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(7)?
        .parse()
        .ok()
}

/// One case: a call whose result is dropped (freeing is part of a call's cost).
type Case<'a> = (&'static str, Box<dyn FnMut() + 'a>);

fn case<'a, T>(name: &'static str, mut f: impl FnMut() -> T + 'a) -> Case<'a> {
    (name, Box::new(move || drop(black_box(f()))))
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let series = args.next().unwrap_or_else(|| "series.f64".into());
    let bars = walk(n);
    let col = |f: fn(&Bar) -> f64| bars.iter().map(f).collect::<Vec<f64>>();
    let (open, high, low, close, volume) = (
        col(|b| b.open),
        col(|b| b.high),
        col(|b| b.low),
        col(|b| b.close),
        col(|b| b.volume),
    );
    let bytes: Vec<u8> = [&open, &high, &low, &close, &volume]
        .iter()
        .flat_map(|c| c.iter().flat_map(|v| v.to_le_bytes()))
        .collect();
    std::fs::write(series, bytes)?;
    let (h, l, c, vol) = (&high[..], &low[..], &close[..], &volume[..]);
    // The names are the TA-Lib calls they are compared with (bench_vs_talib.py has the same).
    let mut cases: Vec<Case<'_>> = vec![
        case("SMA(20)", || column::sma(c, 20)),
        case("EMA(20)", || column::ema(c, 20)),
        case("WMA(20)", || column::wma(c, 20)),
        case("RSI(14)", || column::rsi(c, 14)),
        case("MACD(12,26,9)", || column::macd(c, 12, 26, 9)),
        case("BBANDS(20,2)", || column::bbands(c, 20, 2.0)),
        case("STOCH(14,3,3)", || column::stoch(h, l, c, 14, 3, 3)),
        case("ATR(14)", || column::atr(h, l, c, 14)),
        // TA-Lib's ADX returns the ADX alone, so only that column is asked for.
        case("ADX(14)", || column::adx(h, l, c, 14)),
        case("CCI(14)", || column::cci(h, l, c, 14)),
        case("MFI(14)", || column::mfi(h, l, c, vol, 14)),
        case("OBV", || column::obv(c, vol)),
        case("WILLR(14)", || column::willr(h, l, c, 14)),
        case("ROC(10)", || column::roc(c, 10)),
        case("KD(9,3,3)", || column::kd(h, l, c, 9, 3, 3)),
    ];
    let mut out = std::io::stdout().lock();
    let names: Vec<&str> = cases.iter().map(|(name, _)| *name).collect();
    writeln!(out, "{}", names.join(" "))?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let Some((name, count)) = line.rsplit_once(' ') else {
            continue;
        };
        let count: usize = count.parse().unwrap_or(1);
        let Some((_, call)) = cases.iter_mut().find(|(n, _)| *n == name) else {
            writeln!(out)?;
            continue;
        };
        call();
        let faults = minor_faults();
        let times: Vec<String> = (0..count)
            .map(|_| {
                let start = Instant::now();
                call();
                format!("{:.4}", start.elapsed().as_secs_f64() * 1e3)
            })
            .collect();
        // The page faults of these calls ride along as the last number: first touches of
        // fresh output memory are where the fresh path loses to kept columns.
        let faults = minor_faults()
            .zip(faults)
            .map_or(-1, |(b, a)| (b - a) as i64);
        writeln!(out, "{} {faults}", times.join(" "))?;
        out.flush()?;
    }
    Ok(())
}
