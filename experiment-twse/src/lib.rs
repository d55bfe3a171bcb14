#![doc = include_str!("../README.md")]

pub mod roc;

pub use roc::{parse_roc_date, RocDateError};
