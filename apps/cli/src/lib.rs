//! The testable pieces of the `experiment` command.

pub mod demo;
pub mod demo_data;
pub mod fetch;
pub mod indicators;
pub mod notify;
pub mod rule;
pub mod ta;
pub mod table;
