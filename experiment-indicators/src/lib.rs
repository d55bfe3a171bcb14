#![doc = include_str!("../README.md")]

mod bars;
pub mod catalogue;
pub mod column;
mod core;
pub mod eval;
#[cfg(feature = "polars")]
pub mod frame;
mod new_low;
pub mod rule;
mod series;
mod sma;

pub use crate::core::{batch, Bar, Indicator};
pub use bars::{
    Atr, Cci, ChannelValue, Dmi, DmiValue, Donchian, Keltner, Mfi, Obv, StochValue, Stochastic,
    TaiwanKd, Vwap, WilliamsR,
};
pub use new_low::{new_low, parse_window, NewLow};
pub use series::{
    BandsValue, Bollinger, Dema, Ema, Highest, Lowest, Macd, MacdValue, Momentum, Rma, Roc, Rsi,
    StdDev, Tema, Wma,
};
pub use sma::{sma, Sma};
