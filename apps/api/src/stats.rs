//! Statistics over stored daily bars, computed with polars: market breadth, movers, industry
//! aggregates and one security's figures. Pure functions of their inputs, so they are tested
//! without a server.
//!
//! Advancers, decliners and unchanged are counted from the exchange's own change (漲跌價差),
//! never by comparing with whatever bar was stored before; a day without a comparison (an
//! ex-rights day, `X`) counts as "no comparison". Limit-up and limit-down are TWSE's ±10%
//! around the reference price (`close − change`), rounded to the tick of the limit's price
//! range (down for the upper limit, up for the lower one).

use std::collections::HashMap;

use chrono::{Datelike, Duration, NaiveDate};
use experiment_core::model::{DailyBar, Exchange, Security};
use polars::prelude::*;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A polars failure (a bug: our frames are built to fit).
#[derive(Debug, thiserror::Error)]
#[error("statistics: {0}")]
pub struct StatsError(pub String);

impl From<PolarsError> for StatsError {
    fn from(e: PolarsError) -> Self {
        StatsError(e.to_string())
    }
}

type Result<T> = std::result::Result<T, StatsError>;

/// Runs a computation on a thread of its own, outside any async runtime: polars' engine
/// blocks its thread (and refuses to inside some runtimes), which must never be a thread
/// that serves requests.
///
/// # Errors
/// The computation's, or a panic in it, as a [`StatsError`].
pub async fn off_runtime<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    // As many computations at once as there are cores; more would only queue in the kernel.
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    });
    let _slot = slots
        .acquire()
        .await
        .map_err(|_| StatsError("the statistics pool is closed".into()))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("experiment-stats".into())
        .spawn(move || {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
                .unwrap_or_else(|_| Err(StatsError("the computation panicked".into())));
            let _ = tx.send(r);
        })
        .map_err(|e| StatsError(format!("no thread for the computation: {e}")))?;
    rx.await
        .unwrap_or_else(|_| Err(StatsError("the computation stopped".into())))
}

/// The tick size at `price` (TWSE and TPEx; ETFs, codes starting `00`, have their own).
pub fn tick(price: Decimal, etf: bool) -> Decimal {
    let p = price;
    if etf {
        return if p < Decimal::from(50) {
            Decimal::new(1, 2)
        } else {
            Decimal::new(5, 2)
        };
    }
    if p < Decimal::from(10) {
        Decimal::new(1, 2)
    } else if p < Decimal::from(50) {
        Decimal::new(5, 2)
    } else if p < Decimal::from(100) {
        Decimal::new(1, 1)
    } else if p < Decimal::from(500) {
        Decimal::new(5, 1)
    } else if p < Decimal::from(1000) {
        Decimal::ONE
    } else {
        Decimal::from(5)
    }
}

/// The limit-up and limit-down prices around `reference` (±10%, on the tick).
pub fn limits(reference: Decimal, etf: bool) -> Option<(Decimal, Decimal)> {
    if reference <= Decimal::ZERO {
        return None;
    }
    let raw_up = reference.checked_mul(Decimal::new(11, 1))?;
    let raw_down = reference.checked_mul(Decimal::new(9, 1))?;
    let t_up = tick(raw_up, etf);
    let t_down = tick(raw_down, etf);
    let up = raw_up.checked_div(t_up)?.floor().checked_mul(t_up)?;
    let down = raw_down.checked_div(t_down)?.ceil().checked_mul(t_down)?;
    Some((up.normalize(), down.normalize()))
}

fn is_etf(code: &str) -> bool {
    code.starts_with("00")
}

/// Whether a code is a warrant's (six digits: `03`–`08` at TWSE, `7` at TPEx). Warrants are
/// left out of every statistic, as the exchanges' own market summaries leave them out:
/// thousands of them would swamp the stocks.
pub fn is_warrant(code: &str) -> bool {
    let b = code.as_bytes();
    b.len() == 6
        && b.iter().all(u8::is_ascii_digit)
        && (b[0] == b'7' || (b[0] == b'0' && (b'3'..=b'8').contains(&b[1])))
}

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

/// The cross-section of a date as a frame: one row per bar.
fn frame(bars: &[DailyBar], securities: &HashMap<String, Security>) -> Result<DataFrame> {
    let n = bars.len();
    let (mut code, mut name, mut exchange, mut industry) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut close, mut change, mut change_pct) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut volume, mut value, mut trades) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut up, mut down) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for b in bars.iter().filter(|b| !is_warrant(b.code.as_str())) {
        let s = securities.get(b.code.as_str());
        code.push(b.code.to_string());
        name.push(s.map(|s| s.name.clone()).unwrap_or_default());
        exchange.push(b.exchange.as_str());
        industry.push(s.and_then(|s| s.industry.clone()));
        close.push(f(b.close));
        change.push(b.change.map(f));
        change_pct.push(b.change_pct().map(f));
        volume.push(i64::try_from(b.volume).unwrap_or(i64::MAX));
        value.push(b.value.round().to_i64().unwrap_or(i64::MAX));
        trades.push(b.trades.and_then(|t| i64::try_from(t).ok()));
        // At the limit, exactly: a security without limits (a leveraged ETF) may close past
        // the ±10% price, and that is not a limit move.
        let lim = b
            .reference()
            .and_then(|r| limits(r, is_etf(b.code.as_str())));
        up.push(
            lim.is_some_and(|(u, _)| b.close == u && b.change.is_some_and(|c| c > Decimal::ZERO)),
        );
        down.push(
            lim.is_some_and(|(_, d)| b.close == d && b.change.is_some_and(|c| c < Decimal::ZERO)),
        );
    }
    Ok(df!(
        "code" => code,
        "name" => name,
        "exchange" => exchange,
        "industry" => industry,
        "close" => close,
        "change" => change,
        "change_pct" => change_pct,
        "volume" => volume,
        "value" => value,
        "transactions" => trades,
        "limit_up" => up,
        "limit_down" => down,
    )?)
}

/// Breadth of one market (or of all) on one date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Breadth {
    /// `TWSE`, `TPEx`, or `total`.
    pub market: String,
    /// Securities with a bar that day (warrants are left out of every count).
    pub traded: u64,
    /// Closed above the reference price.
    pub advancers: u64,
    /// Closed below it.
    pub decliners: u64,
    /// Closed at it.
    pub unchanged: u64,
    /// Traded without a comparison (ex-rights or ex-dividend days).
    pub no_comparison: u64,
    /// Listed but not traded, when the exchange's all-market report for the day was stored
    /// (`null` otherwise).
    pub not_traded: Option<u64>,
    /// Closed at the limit-up price.
    pub limit_up: u64,
    /// Closed at the limit-down price.
    pub limit_down: u64,
    /// Shares traded.
    pub volume: i64,
    /// Value traded, TWD.
    pub value: i64,
    /// Trades.
    pub transactions: i64,
}

fn scalar_i64(df: &DataFrame, name: &str) -> Result<i64> {
    Ok(df
        .column(name)?
        .cast(&DataType::Int64)?
        .i64()?
        .get(0)
        .unwrap_or(0))
}

/// Breadth per market and in total. `untraded` counts, per market, the securities listed but
/// not traded (from the stored all-market reports), when known.
///
/// # Errors
/// A polars failure.
pub fn breadth(bars: &[DailyBar], untraded: &HashMap<Exchange, u64>) -> Result<Vec<Breadth>> {
    let df = frame(bars, &HashMap::new())?;
    let agg = |lf: LazyFrame| -> Result<DataFrame> {
        Ok(lf
            .select([
                len().cast(DataType::Int64).alias("traded"),
                col("change")
                    .gt(lit(0.0))
                    .cast(DataType::Int64)
                    .sum()
                    .alias("advancers"),
                col("change")
                    .lt(lit(0.0))
                    .cast(DataType::Int64)
                    .sum()
                    .alias("decliners"),
                col("change")
                    .eq(lit(0.0))
                    .cast(DataType::Int64)
                    .sum()
                    .alias("unchanged"),
                col("change")
                    .is_null()
                    .cast(DataType::Int64)
                    .sum()
                    .alias("no_comparison"),
                col("limit_up")
                    .cast(DataType::Int64)
                    .sum()
                    .alias("limit_up"),
                col("limit_down")
                    .cast(DataType::Int64)
                    .sum()
                    .alias("limit_down"),
                col("volume").sum().alias("volume"),
                col("value").sum().alias("value"),
                col("transactions").sum().alias("transactions"),
            ])
            .collect()?)
    };
    let row = |market: &str, out: &DataFrame, not_traded: Option<u64>| -> Result<Breadth> {
        let u = |n: &str| scalar_i64(out, n).map(|v| v.max(0) as u64);
        Ok(Breadth {
            market: market.to_owned(),
            traded: u("traded")?,
            advancers: u("advancers")?,
            decliners: u("decliners")?,
            unchanged: u("unchanged")?,
            no_comparison: u("no_comparison")?,
            not_traded,
            limit_up: u("limit_up")?,
            limit_down: u("limit_down")?,
            volume: scalar_i64(out, "volume")?,
            value: scalar_i64(out, "value")?,
            transactions: scalar_i64(out, "transactions")?,
        })
    };
    let mut rows = Vec::new();
    for ex in [Exchange::Twse, Exchange::Tpex] {
        let out = agg(df
            .clone()
            .lazy()
            .filter(col("exchange").eq(lit(ex.as_str()))))?;
        rows.push(row(ex.as_str(), &out, untraded.get(&ex).copied())?);
    }
    let all_known = [Exchange::Twse, Exchange::Tpex]
        .iter()
        .all(|e| untraded.contains_key(e) || !bars.iter().any(|b| b.exchange == *e));
    let total_untraded = all_known.then(|| untraded.values().sum());
    let out = agg(df.lazy())?;
    rows.push(row("total", &out, total_untraded)?);
    Ok(rows)
}

/// What movers are ranked by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum MoverKey {
    /// Change in percent of the reference price.
    #[default]
    ChangePct,
    /// Change in TWD.
    Change,
    /// Shares traded.
    Volume,
    /// Value traded.
    Value,
    /// Number of trades.
    Transactions,
}

impl MoverKey {
    fn column(self) -> &'static str {
        match self {
            MoverKey::ChangePct => "change_pct",
            MoverKey::Change => "change",
            MoverKey::Volume => "volume",
            MoverKey::Value => "value",
            MoverKey::Transactions => "transactions",
        }
    }
}

/// One security in a ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Mover {
    /// 1 for the first.
    pub rank: u32,
    /// Code.
    pub code: String,
    /// Short name, when the profile is stored.
    pub name: String,
    /// `TWSE` or `TPEx`.
    pub market: String,
    /// Close.
    pub close: f64,
    /// Change against the reference price, when the exchange compared.
    pub change: Option<f64>,
    /// Change in percent.
    pub change_pct: Option<f64>,
    /// Shares traded.
    pub volume: i64,
    /// Value traded, TWD.
    pub value: i64,
    /// Trades.
    pub transactions: Option<i64>,
}

/// The top `limit` by `key`, largest first (`descending`) or smallest first, optionally in one
/// market. Rows without the key (no comparison) are left out; ties go by code.
///
/// # Errors
/// A polars failure.
pub fn movers(
    bars: &[DailyBar],
    securities: &HashMap<String, Security>,
    key: MoverKey,
    descending: bool,
    market: Option<Exchange>,
    limit: usize,
) -> Result<Vec<Mover>> {
    let mut lf = frame(bars, securities)?
        .lazy()
        .filter(col(key.column()).is_not_null());
    if let Some(m) = market {
        lf = lf.filter(col("exchange").eq(lit(m.as_str())));
    }
    let df = lf
        .sort(
            [key.column(), "code"],
            SortMultipleOptions::default().with_order_descending_multi([descending, false]),
        )
        .limit(limit as IdxSize)
        .collect()?;
    let s = |n: &str| -> Result<Vec<Option<String>>> {
        Ok(df
            .column(n)?
            .str()?
            .iter()
            .map(|o| o.map(str::to_owned))
            .collect())
    };
    let fl = |n: &str| -> Result<Vec<Option<f64>>> { Ok(df.column(n)?.f64()?.iter().collect()) };
    let int = |n: &str| -> Result<Vec<Option<i64>>> { Ok(df.column(n)?.i64()?.iter().collect()) };
    let (code, name, exchange) = (s("code")?, s("name")?, s("exchange")?);
    let (close, change, pct) = (fl("close")?, fl("change")?, fl("change_pct")?);
    let (volume, value, trades) = (int("volume")?, int("value")?, int("transactions")?);
    Ok((0..df.height())
        .map(|i| Mover {
            rank: i as u32 + 1,
            code: code[i].clone().unwrap_or_default(),
            name: name[i].clone().unwrap_or_default(),
            market: exchange[i].clone().unwrap_or_default(),
            close: close[i].unwrap_or(f64::NAN),
            change: change[i],
            change_pct: pct[i].map(|p| (p * 10_000.0).round() / 10_000.0),
            volume: volume[i].unwrap_or(0),
            value: value[i].unwrap_or(0),
            transactions: trades[i],
        })
        .collect())
}

/// One industry on one date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Industry {
    /// The exchange's industry name (`半導體業`), or `unclassified` for securities without a
    /// stored profile.
    pub industry: String,
    /// Securities traded.
    pub count: u64,
    /// Closed up.
    pub advancers: u64,
    /// Closed down.
    pub decliners: u64,
    /// Closed unchanged.
    pub unchanged: u64,
    /// Mean change in percent (securities with a comparison).
    pub mean_change_pct: Option<f64>,
    /// Value traded, TWD.
    pub value: i64,
}

/// Industries by value traded, largest first.
///
/// # Errors
/// A polars failure.
pub fn industries(
    bars: &[DailyBar],
    securities: &HashMap<String, Security>,
    market: Option<Exchange>,
) -> Result<Vec<Industry>> {
    let mut lf = frame(bars, securities)?
        .lazy()
        .with_column(col("industry").fill_null(lit("unclassified")));
    if let Some(m) = market {
        lf = lf.filter(col("exchange").eq(lit(m.as_str())));
    }
    let df = lf
        .group_by([col("industry")])
        .agg([
            len().cast(DataType::Int64).alias("count"),
            col("change")
                .gt(lit(0.0))
                .cast(DataType::Int64)
                .sum()
                .alias("advancers"),
            col("change")
                .lt(lit(0.0))
                .cast(DataType::Int64)
                .sum()
                .alias("decliners"),
            col("change")
                .eq(lit(0.0))
                .cast(DataType::Int64)
                .sum()
                .alias("unchanged"),
            col("change_pct").mean().alias("mean_change_pct"),
            col("value").sum().alias("value"),
        ])
        .sort(
            ["value", "industry"],
            SortMultipleOptions::default().with_order_descending_multi([true, false]),
        )
        .collect()?;
    let names: Vec<Option<String>> = df
        .column("industry")?
        .str()?
        .iter()
        .map(|o| o.map(str::to_owned))
        .collect();
    let int = |n: &str| -> Result<Vec<i64>> {
        Ok(df
            .column(n)?
            .cast(&DataType::Int64)?
            .i64()?
            .iter()
            .map(|v| v.unwrap_or(0))
            .collect())
    };
    let (count, adv, dec, unch, value) = (
        int("count")?,
        int("advancers")?,
        int("decliners")?,
        int("unchanged")?,
        int("value")?,
    );
    let mean: Vec<Option<f64>> = df.column("mean_change_pct")?.f64()?.iter().collect();
    Ok((0..df.height())
        .map(|i| Industry {
            industry: names[i].clone().unwrap_or_default(),
            count: count[i].max(0) as u64,
            advancers: adv[i].max(0) as u64,
            decliners: dec[i].max(0) as u64,
            unchanged: unch[i].max(0) as u64,
            mean_change_pct: mean[i]
                .filter(|m| m.is_finite())
                .map(|m| (m * 10_000.0).round() / 10_000.0),
            value: value[i],
        })
        .collect())
}

/// A price on a date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Dated {
    /// The price.
    #[schema(value_type = String)]
    pub price: Decimal,
    /// When.
    pub date: NaiveDate,
}

/// Returns over standard periods, in percent (`null` without enough history).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Returns {
    /// One week.
    #[serde(rename = "1w")]
    pub w1: Option<f64>,
    /// One month.
    #[serde(rename = "1m")]
    pub m1: Option<f64>,
    /// Three months.
    #[serde(rename = "3m")]
    pub m3: Option<f64>,
    /// Since the last close of the previous year.
    pub ytd: Option<f64>,
    /// One year.
    #[serde(rename = "1y")]
    pub y1: Option<f64>,
}

/// One security's figures as of a date.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CodeStats {
    /// The security.
    pub code: String,
    /// The date the figures are as of (the last bar on or before the date asked).
    pub date: NaiveDate,
    /// Close that day.
    #[schema(value_type = String)]
    pub close: Decimal,
    /// Highest high of the 52 weeks up to the date.
    pub high_52w: Dated,
    /// Lowest low of the 52 weeks up to the date.
    pub low_52w: Dated,
    /// Price returns (not adjusted for dividends).
    pub returns: Returns,
    /// Annualised volatility of daily log returns over the last 20 trading days, percent.
    pub volatility_20d: Option<f64>,
    /// The same over 60 trading days.
    pub volatility_60d: Option<f64>,
    /// Mean volume of the last 20 trading days, shares.
    pub mean_volume_20d: Option<f64>,
    /// Bars the figures were computed from.
    pub bars: usize,
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// One security's figures from its bars (ascending, ending on the date of interest).
///
/// # Errors
/// A polars failure.
pub fn code_stats(code: &str, bars: &[DailyBar]) -> Result<Option<CodeStats>> {
    let Some(last) = bars.last() else {
        return Ok(None);
    };
    let date = last.date;
    let back = |days: i64| date.checked_sub_signed(Duration::days(days));
    let Some(year_ago) = back(365) else {
        return Ok(None);
    };
    let window: Vec<&DailyBar> = bars.iter().filter(|b| b.date > year_ago).collect();
    let hi = window
        .iter()
        .max_by(|a, b| a.high.cmp(&b.high).then(b.date.cmp(&a.date)))
        .map(|b| Dated {
            price: b.high,
            date: b.date,
        });
    let lo = window
        .iter()
        .min_by(|a, b| a.low.cmp(&b.low).then(a.date.cmp(&b.date)))
        .map(|b| Dated {
            price: b.low,
            date: b.date,
        });
    let (Some(high_52w), Some(low_52w)) = (hi, lo) else {
        return Ok(None);
    };
    // The close on or before a date.
    let close_on = |d: NaiveDate| bars.iter().rev().find(|b| b.date <= d).map(|b| b.close);
    let ret = |d: Option<NaiveDate>| -> Option<f64> {
        let then = close_on(d?)?;
        // Only when the history reaches back that far.
        if bars.first()?.date > d? {
            return None;
        }
        (!then.is_zero()).then(|| round4((f(last.close) / f(then) - 1.0) * 100.0))
    };
    let months_back = |m: u32| date.checked_sub_months(chrono::Months::new(m));
    let ytd_base = NaiveDate::from_ymd_opt(date.year().saturating_sub(1), 12, 31);
    let returns = Returns {
        w1: ret(back(7)),
        m1: ret(months_back(1)),
        m3: ret(months_back(3)),
        ytd: ret(ytd_base),
        y1: ret(months_back(12)),
    };
    let closes: Vec<f64> = bars.iter().map(|b| f(b.close)).collect();
    let log_returns: Vec<f64> = closes
        .windows(2)
        .map(|w| (w[1] / w[0]).ln())
        .filter(|r| r.is_finite())
        .collect();
    let vol = |n: usize| -> Result<Option<f64>> {
        if log_returns.len() < n {
            return Ok(None);
        }
        let s = Series::new("r".into(), &log_returns[log_returns.len() - n..]);
        Ok(s.std(1)
            .map(|sd| round4(sd * 252f64.sqrt() * 100.0))
            .filter(|v| v.is_finite()))
    };
    let volumes: Vec<f64> = bars.iter().map(|b| b.volume as f64).collect();
    let mean_volume_20d = if volumes.len() >= 20 {
        Series::new("v".into(), &volumes[volumes.len() - 20..]).mean()
    } else {
        None
    };
    Ok(Some(CodeStats {
        code: code.to_owned(),
        date,
        close: last.close,
        high_52w,
        low_52w,
        returns,
        volatility_20d: vol(20)?,
        volatility_60d: vol(60)?,
        mean_volume_20d,
        bars: bars.len(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn warrants_are_told_apart() {
        for w in ["030001", "089999", "700123", "712345"] {
            assert!(is_warrant(w), "{w}");
        }
        for s in [
            "2330", "0050", "006201", "00679B", "00400A", "6547", "020000",
        ] {
            assert!(!is_warrant(s), "{s}");
        }
    }

    #[test]
    fn limits_follow_the_tick_of_their_price_range() {
        // 2330 closed limit-up at 1,095 on a reference of 996 (MIS body of 2026-07-31 shows
        // limit prices of that kind): 996 × 1.1 = 1095.6 → ticks of 5 above 1,000 → 1,095.
        assert_eq!(limits(d("996"), false), Some((d("1095"), d("897"))));
        // 46.5 × 1.1 = 51.15 → tick 0.1 → 51.1; × 0.9 = 41.85 → tick 0.05 → 41.85.
        assert_eq!(limits(d("46.5"), false), Some((d("51.1"), d("41.85"))));
        // 9.5 × 1.1 = 10.45 → 10.45 (tick 0.05 at 10+); × 0.9 = 8.55.
        assert_eq!(limits(d("9.5"), false), Some((d("10.45"), d("8.55"))));
        // ETF above 50: tick 0.05.
        assert_eq!(limits(d("120.70"), true), Some((d("132.75"), d("108.65"))));
        assert_eq!(limits(Decimal::ZERO, false), None);
    }
}
