#![doc = include_str!("../README.md")]

mod bars;
mod candles;
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
mod talib_more;

pub use crate::core::{batch, Bar, Indicator};
pub use bars::{
    Atr, Cci, ChannelValue, Dmi, DmiValue, Donchian, Keltner, Mfi, Obv, StochValue, Stochastic,
    TaiwanKd, Vwap, WilliamsR,
};
pub use candles::{CandlePattern, Pattern};
pub use new_low::{new_low, parse_window, NewLow};
pub use series::{
    BandsValue, Bollinger, Dema, Ema, Highest, Lowest, Macd, MacdValue, Momentum, Rma, Roc, Rsi,
    StdDev, Tema, Wma,
};
pub use sma::{sma, Sma};
pub use talib_more::{
    Ad, AdOsc, Apo, Aroon, AroonOsc, AroonValue, Bop, Kama, LinRegOutput, LinearReg, MaType,
    MidPoint, MidPrice, Natr, Ppo, Sar, StochRsi, Trix, UltOsc, Variance,
};
