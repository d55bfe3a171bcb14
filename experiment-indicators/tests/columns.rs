//! The columnar batch path equals streaming updates to the bit (including on series long
//! enough for the running sums to be re-added), and the re-adding really removes drift.

use experiment_indicators::{column, *};
use proptest::prelude::*;

fn same(col: &[f64], streamed: &[Option<f64>], what: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(col.len(), streamed.len());
    for (i, (c, s)) in col.iter().zip(streamed).enumerate() {
        match s {
            Some(v) => prop_assert_eq!(c.to_bits(), v.to_bits(), "{} differs at {}", what, i),
            None => prop_assert!(c.is_nan(), "{} defined during warm-up at {}", what, i),
        }
    }
    Ok(())
}

fn series() -> impl Strategy<Value = Vec<f64>> {
    // Long enough (up to 700) to cross several re-additions of the running sums.
    proptest::collection::vec(1.0f64..1000.0, 0..700)
}

fn bars_of(xs: &[f64]) -> Vec<Bar> {
    xs.iter()
        .enumerate()
        .map(|(i, &c)| Bar {
            open: c,
            high: c * (1.0 + (i % 7) as f64 / 100.0),
            low: c * (1.0 - (i % 5) as f64 / 100.0),
            close: c,
            volume: (i * 37 % 1000) as f64,
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn columns_equal_streaming_to_the_bit(xs in series(), p in 1usize..40) {
        let bars = bars_of(&xs);
        let close = |o: Vec<Option<f64>>| o;
        same(&column::sma(&xs, p), &close(batch(Sma::new(p), &bars)), "sma")?;
        same(&column::ema(&xs, p), &batch(Ema::new(p), &bars), "ema")?;
        same(&column::rma(&xs, p), &batch(Rma::new(p), &bars), "rma")?;
        same(&column::wma(&xs, p), &batch(Wma::new(p), &bars), "wma")?;
        same(&column::dema(&xs, p), &batch(Dema::new(p), &bars), "dema")?;
        same(&column::tema(&xs, p), &batch(Tema::new(p), &bars), "tema")?;
        same(&column::rsi(&xs, p), &batch(Rsi::new(p), &bars), "rsi")?;
        same(&column::roc(&xs, p), &batch(Roc::new(p), &bars), "roc")?;
        same(&column::mom(&xs, p), &batch(Momentum::new(p), &bars), "mom")?;
        same(&column::stddev(&xs, p), &batch(StdDev::new(p), &bars), "stddev")?;
        same(&column::highest(&xs, p), &batch(Highest::new(p), &bars), "highest")?;
        same(&column::lowest(&xs, p), &batch(Lowest::new(p), &bars), "lowest")?;

        let m = batch(Macd::new(p.min(12), p.max(12), 9), &bars);
        let [line, signal, hist] = column::macd(&xs, p.min(12), p.max(12), 9);
        same(&line, &m.iter().map(|v| v.map(|v| v.macd)).collect::<Vec<_>>(), "macd")?;
        same(&signal, &m.iter().map(|v| v.map(|v| v.signal)).collect::<Vec<_>>(), "signal")?;
        same(&hist, &m.iter().map(|v| v.map(|v| v.histogram)).collect::<Vec<_>>(), "hist")?;

        let b = batch(Bollinger::new(p, 2.0), &bars);
        let [middle, upper, lower] = column::bbands(&xs, p, 2.0);
        same(&middle, &b.iter().map(|v| v.map(|v| v.middle)).collect::<Vec<_>>(), "middle")?;
        same(&upper, &b.iter().map(|v| v.map(|v| v.upper)).collect::<Vec<_>>(), "upper")?;
        same(&lower, &b.iter().map(|v| v.map(|v| v.lower)).collect::<Vec<_>>(), "lower")?;

        let high: Vec<f64> = bars.iter().map(|b| b.high).collect();
        let low: Vec<f64> = bars.iter().map(|b| b.low).collect();
        same(&column::atr(&high, &low, &xs, p), &batch(Atr::new(p), &bars), "atr")?;

        let volume: Vec<f64> = bars.iter().map(|b| b.volume).collect();
        let (h, l) = (&high[..], &low[..]);
        same(&column::willr(h, l, &xs, p), &batch(WilliamsR::new(p), &bars), "willr")?;
        same(&column::cci(h, l, &xs, p), &batch(Cci::new(p), &bars), "cci")?;
        same(&column::mfi(h, l, &xs, &volume, p), &batch(Mfi::new(p), &bars), "mfi")?;
        same(&column::obv(&xs, &volume), &batch(Obv::new(), &bars), "obv")?;
        let dmi = batch(Dmi::new(p), &bars);
        let [plus, minus, adx] = column::dmi(h, l, &xs, p);
        same(&plus, &dmi.iter().map(|v| v.map(|v| v.plus_di)).collect::<Vec<_>>(), "+di")?;
        same(&minus, &dmi.iter().map(|v| v.map(|v| v.minus_di)).collect::<Vec<_>>(), "-di")?;
        let adx_streamed: Vec<_> = dmi.iter().map(|v| v.and_then(|v| v.adx)).collect();
        same(&adx, &adx_streamed, "adx")?;
        same(&column::adx(h, l, &xs, p), &adx_streamed, "adx alone")?;
        let st = batch(Stochastic::new(p, 3, 3), &bars);
        let [k, d] = column::stoch(h, l, &xs, p, 3, 3);
        same(&k, &st.iter().map(|v| v.map(|v| v.k)).collect::<Vec<_>>(), "stoch.k")?;
        same(&d, &st.iter().map(|v| v.map(|v| v.d)).collect::<Vec<_>>(), "stoch.d")?;
        let [k, d] = column::kd(h, l, &xs, p, 3, 3);
        let kd = batch(TaiwanKd::new(p, 3, 3), &bars);
        same(&k, &kd.iter().map(|v| v.map(|v| v.k)).collect::<Vec<_>>(), "kd(p).k")?;
        same(&d, &kd.iter().map(|v| v.map(|v| v.d)).collect::<Vec<_>>(), "kd(p).d")?;

        let [k, d] = column::bars(&bars, TaiwanKd::new(9, 3, 3), |v| [v.k, v.d]);
        let kd = batch(TaiwanKd::new(9, 3, 3), &bars);
        same(&k, &kd.iter().map(|v| v.map(|v| v.k)).collect::<Vec<_>>(), "kd.k")?;
        same(&d, &kd.iter().map(|v| v.map(|v| v.d)).collect::<Vec<_>>(), "kd.d")?;
    }
}

#[test]
fn running_sums_do_not_keep_drift_from_huge_values() {
    // A huge value leaves rounding error in a running sum for ever unless the sum is re-added.
    let mut xs = vec![1e15, 1e-3, 1e15];
    xs.extend((0..2000).map(|i| 1.0 + (i % 3) as f64 * 0.1));
    let sma = column::sma(&xs, 3);
    let last = *sma.last().unwrap();
    let exact: f64 = xs[xs.len() - 3..].iter().sum::<f64>() / 3.0;
    assert!(
        (last - exact).abs() < 1e-12,
        "sma {last} drifted from {exact}"
    );
    let sd = column::stddev(&xs, 3);
    assert!(sd.last().unwrap().is_finite());
    assert!(sd.last().unwrap().abs() < 0.1, "sd {}", sd.last().unwrap());
}

#[test]
fn defined_reads_nan_as_none() {
    assert_eq!(
        column::defined(&column::ema(&[1.0, 2.0, 3.0], 2)),
        vec![None, Some(1.5), Some(2.5)]
    );
}
