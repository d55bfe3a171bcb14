#![doc = include_str!("../README.md")]

mod error;
pub mod model;
pub mod parse;
pub mod roc;

pub use error::{Error, Result};
pub use roc::{parse_roc_date, RocDateError};
