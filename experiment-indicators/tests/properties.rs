//! Properties every indicator keeps: streaming == batch, peek == update without committing,
//! the first value arrives exactly after `warm_up` bars, reset == fresh (for every indicator,
//! the candlestick patterns included). Plus Taiwan KD
//! against values computed by hand from its definition.

use experiment_indicators::*;
use proptest::prelude::*;

fn bars() -> impl Strategy<Value = Vec<Bar>> {
    proptest::collection::vec(
        (
            1.0f64..500.0,
            0.0f64..0.05,
            0.0f64..0.05,
            -0.03f64..0.03,
            0.0f64..1e6,
        ),
        0..120,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .map(|(c, up, down, drift, v)| {
                let open = c * (1.0 + drift);
                Bar {
                    open,
                    high: c.max(open) * (1.0 + up),
                    low: c.min(open) * (1.0 - down),
                    close: c,
                    volume: v.floor(),
                }
            })
            .collect()
    })
}

fn laws<I: Indicator>(make: impl Fn() -> I, bars: &[Bar]) -> Result<(), TestCaseError>
where
    I::Output: PartialEq + std::fmt::Debug,
{
    let batched = batch(make(), bars);
    let mut s = make();
    let warm_up = s.warm_up();
    for (i, b) in bars.iter().enumerate() {
        let peeked = s.peek(b);
        let updated = s.update(b);
        prop_assert_eq!(peeked, updated, "peek differs from update at {}", i);
        prop_assert_eq!(updated, batched[i], "streaming differs from batch at {}", i);
        // Defined exactly from bar `warm_up` on (indicators here stay defined once they are).
        prop_assert_eq!(
            updated.is_some(),
            i >= warm_up,
            "warm-up {} but bar {} is {:?}",
            warm_up,
            i,
            updated
        );
    }
    s.reset();
    prop_assert_eq!(
        batch(s, bars),
        batched,
        "reset must equal a fresh indicator"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn every_indicator_keeps_the_laws(bars in bars()) {
        laws(|| Sma::new(5), &bars)?;
        laws(|| Ema::new(5), &bars)?;
        laws(|| Rma::new(5), &bars)?;
        laws(|| Wma::new(5), &bars)?;
        laws(|| Dema::new(5), &bars)?;
        laws(|| Tema::new(4), &bars)?;
        laws(|| Rsi::new(6), &bars)?;
        laws(|| Roc::new(3), &bars)?;
        laws(|| Momentum::new(3), &bars)?;
        laws(|| StdDev::new(5), &bars)?;
        laws(|| Highest::new(5), &bars)?;
        laws(|| Lowest::new(5), &bars)?;
        laws(|| Macd::new(3, 6, 4), &bars)?;
        laws(|| Bollinger::new(5, 2.0), &bars)?;
        laws(|| Atr::new(5), &bars)?;
        laws(|| Stochastic::new(5, 3, 3), &bars)?;
        laws(|| TaiwanKd::new(9, 3, 3), &bars)?;
        laws(|| WilliamsR::new(5), &bars)?;
        laws(|| Cci::new(5), &bars)?;
        laws(|| Mfi::new(5), &bars)?;
        laws(Obv::new, &bars)?;
        laws(|| Dmi::new(5), &bars)?;
        laws(|| Donchian::new(5), &bars)?;
        laws(|| Keltner::new(5, 2.0, 4), &bars)?;
    }

    #[test]
    fn the_rest_of_talib_keeps_the_laws(bars in bars()) {
        laws(|| Sar::new(0.02, 0.2), &bars)?;
        laws(|| Sar::new(0.3, 0.2), &bars)?;
        laws(|| Aroon::new(5), &bars)?;
        laws(|| AroonOsc::new(5), &bars)?;
        laws(|| Natr::new(5), &bars)?;
        laws(|| Trix::new(4), &bars)?;
        laws(|| StochRsi::new(5, 3, 2), &bars)?;
        laws(|| Apo::new(3, 7, MaType::Sma), &bars)?;
        laws(|| Apo::new(7, 3, MaType::Ema), &bars)?;
        laws(|| Ppo::new(3, 7, MaType::Ema), &bars)?;
        laws(|| Kama::new(6), &bars)?;
        laws(|| Kama::new(1), &bars)?;
        laws(Ad::new, &bars)?;
        laws(|| AdOsc::new(3, 10), &bars)?;
        laws(Bop::new, &bars)?;
        laws(|| UltOsc::new(3, 7, 5), &bars)?;
        laws(|| MidPrice::new(5), &bars)?;
        laws(|| MidPoint::new(5), &bars)?;
        for out in [LinRegOutput::Value, LinRegOutput::Slope, LinRegOutput::Intercept, LinRegOutput::Angle, LinRegOutput::Forecast] {
            laws(|| LinearReg::new(5, out), &bars)?;
        }
        laws(|| Variance::new(5), &bars)?;
        for pattern in [
            Pattern::Engulfing,
            Pattern::Hammer,
            Pattern::Doji,
            Pattern::MorningStar { penetration: 0.3 },
            Pattern::EveningStar { penetration: 0.3 },
            Pattern::ThreeWhiteSoldiers,
            Pattern::ThreeBlackCrows,
        ] {
            laws(|| CandlePattern::new(pattern), &bars)?;
        }
    }

    #[test]
    fn outputs_stay_in_their_ranges(bars in bars()) {
        for v in batch(Rsi::new(6), &bars).into_iter().flatten() { prop_assert!((0.0..=100.0).contains(&v)); }
        for v in batch(WilliamsR::new(5), &bars).into_iter().flatten() { prop_assert!((-100.0..=0.0).contains(&v)); }
        for v in batch(Mfi::new(5), &bars).into_iter().flatten() { prop_assert!((0.0..=100.0).contains(&v)); }
        for v in batch(TaiwanKd::new(9, 3, 3), &bars).into_iter().flatten() {
            prop_assert!((0.0..=100.0).contains(&v.k) && (0.0..=100.0).contains(&v.d));
        }
        for v in batch(Bollinger::new(5, 2.0), &bars).into_iter().flatten() { prop_assert!(v.lower <= v.middle && v.middle <= v.upper); }
        for v in batch(Aroon::new(5), &bars).into_iter().flatten() { prop_assert!((0.0..=100.0).contains(&v.up) && (0.0..=100.0).contains(&v.down)); }
        for v in batch(StochRsi::new(5, 3, 2), &bars).into_iter().flatten() { prop_assert!((-1e-9..=100.0 + 1e-9).contains(&v.k)); }
        for v in batch(UltOsc::new(3, 5, 7), &bars).into_iter().flatten() { prop_assert!((0.0..=100.0 + 1e-9).contains(&v)); }
        for v in batch(Bop::new(), &bars).into_iter().flatten() { prop_assert!((-1.0..=1.0).contains(&v)); }
    }
}

#[test]
fn taiwan_kd_by_hand() {
    // Nine bars with highs 10..18, lows 1..9, and closes chosen so RSV is easy.
    let mut bars: Vec<Bar> = (0..9)
        .map(|i| Bar {
            open: 5.0,
            high: 10.0 + i as f64,
            low: 1.0 + i as f64,
            close: 5.0,
            volume: 1.0,
        })
        .collect();
    // Bar 9: HH = 18, LL = 1, close 14.6 → RSV = (14.6 − 1)/(18 − 1)·100 = 80.
    bars[8].close = 14.6;
    // Bar 10: the window drops bar 0: HH = 19, LL = 2, close 2 → RSV = 0.
    bars.push(Bar {
        open: 5.0,
        high: 19.0,
        low: 10.0,
        close: 10.0,
        volume: 1.0,
    });
    bars[9].close = 2.0;
    bars[9].low = 2.0;
    let out = batch(TaiwanKd::new(9, 3, 3), &bars);
    assert!(
        out[..8].iter().all(Option::is_none),
        "defined from the 9th bar"
    );
    // K1 = 2/3·50 + 1/3·80 = 60; D1 = 2/3·50 + 1/3·60 = 53.333…
    let first = out[8].unwrap();
    assert!(
        (first.k - 60.0).abs() < 1e-12 && (first.d - 160.0 / 3.0).abs() < 1e-12,
        "{first:?}"
    );
    // K2 = 2/3·60 + 1/3·0 = 40; D2 = 2/3·(160/3) + 1/3·40 = 320/9 + 40/3 = 440/9
    let second = out[9].unwrap();
    assert!(
        (second.k - 40.0).abs() < 1e-12 && (second.d - 440.0 / 9.0).abs() < 1e-12,
        "{second:?}"
    );
}

#[test]
fn vwap_weights_typical_prices_by_volume_and_resets() {
    let b = |h: f64, l: f64, c: f64, v: f64| Bar {
        open: c,
        high: h,
        low: l,
        close: c,
        volume: v,
    };
    let mut vwap = Vwap::new();
    assert_eq!(
        vwap.update(&b(10.0, 10.0, 10.0, 0.0)),
        None,
        "no volume, no price"
    );
    assert_eq!(vwap.update(&b(12.0, 9.0, 9.0, 100.0)), Some(10.0));
    assert_eq!(vwap.update(&b(22.0, 19.0, 19.0, 100.0)), Some(15.0));
    vwap.reset();
    assert_eq!(vwap.update(&b(30.0, 30.0, 30.0, 1.0)), Some(30.0));
}
