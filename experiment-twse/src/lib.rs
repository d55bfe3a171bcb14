#![doc = include_str!("../README.md")]

pub mod backfill;
pub mod calendar;
pub mod client;
mod error;
mod industry;
pub mod model;
pub mod parse;
pub mod roc;
pub mod source;
mod wire;

pub use client::{Channel, TwseClient, TwseConfig};
pub use error::{Error, Result};
pub use roc::{parse_roc_date, RocDateError};
