//! Streaming cost per update and batch cost over 1M bars.
//!
//! `cargo bench -p experiment-indicators`. The streaming group times 10,000 updates per
//! iteration (criterion's time / 10,000 is the cost of one update). The side-by-side with
//! TA-Lib on fresh output columns is `bench/indicators/run` (examples/column_timings.rs).

// `criterion_group!` expands to a public function without documentation.
#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use experiment_indicators::*;

#[path = "support/walk.rs"]
mod walk;
use walk::walk;

fn streaming(c: &mut Criterion) {
    let bars = walk(10_000);
    let mut g = c.benchmark_group("streaming update");
    g.throughput(Throughput::Elements(bars.len() as u64));
    macro_rules! bench {
        ($name:expr, $make:expr) => {
            g.bench_function($name, |b| {
                b.iter_batched(
                    || $make,
                    |mut ind| {
                        for bar in &bars {
                            black_box(ind.update(black_box(bar)));
                        }
                    },
                    BatchSize::SmallInput,
                )
            });
        };
    }
    bench!("sma(20)", Sma::new(20));
    bench!("ema(20)", Ema::new(20));
    bench!("rsi(14)", Rsi::new(14));
    bench!("macd(12,26,9)", Macd::new(12, 26, 9));
    bench!("kd(9,3,3)", TaiwanKd::new(9, 3, 3));
    bench!("bbands(20,2)", Bollinger::new(20, 2.0));
    bench!("atr(14)", Atr::new(14));
    bench!("dmi(14)", Dmi::new(14));
    bench!("stoch(14,3,3)", Stochastic::new(14, 3, 3));
    bench!("wma(20)", Wma::new(20));
    bench!("willr(14)", WilliamsR::new(14));
    bench!("mfi(14)", Mfi::new(14));
    bench!("obv", Obv::new());
    g.finish();
}

fn batch_1m(c: &mut Criterion) {
    let bars = walk(1_000_000);
    // TA-Lib gets numpy columns; so does the columnar path.
    let close: Vec<f64> = bars.iter().map(|b| b.close).collect();
    let high: Vec<f64> = bars.iter().map(|b| b.high).collect();
    let low: Vec<f64> = bars.iter().map(|b| b.low).collect();
    let mut g = c.benchmark_group("batch 1M bars");
    g.sample_size(20);
    g.throughput(Throughput::Elements(bars.len() as u64));
    g.bench_function("sma(20)", |b| b.iter(|| column::sma(black_box(&close), 20)));
    g.bench_function("ema(20)", |b| b.iter(|| column::ema(black_box(&close), 20)));
    g.bench_function("rsi(14)", |b| b.iter(|| column::rsi(black_box(&close), 14)));
    g.bench_function("macd(12,26,9)", |b| {
        b.iter(|| column::macd(black_box(&close), 12, 26, 9))
    });
    g.bench_function("bbands(20,2)", |b| {
        b.iter(|| column::bbands(black_box(&close), 20, 2.0))
    });
    g.bench_function("atr(14)", |b| {
        b.iter(|| column::atr(black_box(&high), black_box(&low), black_box(&close), 14))
    });
    g.bench_function("kd(9,3,3)", |b| {
        b.iter(|| column::bars(black_box(&bars), TaiwanKd::new(9, 3, 3), |v| [v.k, v.d]))
    });
    // The generic path (one `Option` per cell, bars as structs), for comparison.
    g.bench_function("sma(20) via batch()", |b| {
        b.iter(|| batch(Sma::new(20), black_box(&bars)))
    });
    g.finish();

    // The same into columns the caller keeps (TA-Lib's C API writes into the caller's
    // arrays): no allocation and no page faults in the measurement.
    let mut g = c.benchmark_group("batch 1M bars into kept columns");
    g.sample_size(20);
    g.throughput(Throughput::Elements(bars.len() as u64));
    let mut one = Vec::new();
    let mut three: [Vec<f64>; 3] = Default::default();
    g.bench_function("sma(20)", |b| {
        b.iter(|| column::sma_into(black_box(&close), 20, &mut one))
    });
    g.bench_function("ema(20)", |b| {
        b.iter(|| column::ema_into(black_box(&close), 20, &mut one))
    });
    g.bench_function("rsi(14)", |b| {
        b.iter(|| column::rsi_into(black_box(&close), 14, &mut one))
    });
    g.bench_function("macd(12,26,9)", |b| {
        b.iter(|| column::macd_into(black_box(&close), 12, 26, 9, &mut three))
    });
    g.bench_function("bbands(20,2)", |b| {
        b.iter(|| column::bbands_into(black_box(&close), 20, 2.0, &mut three))
    });
    g.bench_function("atr(14)", |b| {
        b.iter(|| {
            column::atr_into(
                black_box(&high),
                black_box(&low),
                black_box(&close),
                14,
                &mut one,
            )
        })
    });
    g.finish();
}

criterion_group!(benches, streaming, batch_1m);
criterion_main!(benches);
