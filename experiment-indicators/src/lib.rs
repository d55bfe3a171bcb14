#![doc = include_str!("../README.md")]

mod new_low;
mod sma;

pub use new_low::{new_low, parse_window, NewLow};
pub use sma::{sma, Sma};
