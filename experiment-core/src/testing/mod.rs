//! Conformance suites: every port's contract as runnable checks.
//!
//! Each clause is one public async fn taking the adapter as a trait object. The macros
//! [`bus_conformance!`](crate::bus_conformance), [`store_conformance!`](crate::store_conformance)
//! and [`cache_conformance!`](crate::cache_conformance) stamp them into named `#[tokio::test]`s
//! for one adapter, given an async factory returning `Option<adapter>` (`None` skips, e.g. when
//! a server is not configured; see [`backend_from_env`]).
//!
//! The suites are written for shared real servers: every case creates its own topics, groups
//! and keys (random names), waits with bounded timeouts, and uses no global state.
//!
//! ```text
//! async fn make() -> Option<experiment_core::memory::MemoryBus> {
//!     Some(experiment_core::memory::MemoryBus::new())
//! }
//! experiment_core::bus_conformance!(make);
//! ```

pub mod bus;
pub mod cache;
pub mod store;

use std::time::Duration;

/// How long a suite waits for something that should happen (a delivery, an expiry) before it
/// fails. Generous: real servers on a loaded CI machine are slow, and a wait only lasts this
/// long when the adapter is broken.
pub const WAIT: Duration = Duration::from_secs(20);

/// A random name with `prefix`, safe as a topic, group, key prefix or database name.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// Whether `backend` is listed in `EXPERIMENT_TEST_REQUIRE` (comma-separated, e.g.
/// `kafka,mongodb,redis`).
pub fn required(backend: &str) -> bool {
    std::env::var("EXPERIMENT_TEST_REQUIRE")
        .map(|v| v.split(',').any(|b| b.trim().eq_ignore_ascii_case(backend)))
        .unwrap_or(false)
}

/// The connection setting in environment variable `var` for `backend`, or `None` to skip.
///
/// # Panics
/// When the variable is unset but `EXPERIMENT_TEST_REQUIRE` lists `backend`, so CI cannot pass
/// by quietly skipping.
pub fn backend_from_env(var: &str, backend: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ if required(backend) => panic!(
            "{backend} is required by EXPERIMENT_TEST_REQUIRE but {var} is not set; \
             start the test servers with `scripts/services up` (see docs/testing.md)"
        ),
        _ => {
            eprintln!("skipping {backend} conformance: {var} is not set");
            None
        }
    }
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($factory:path, $module:ident, [$($case:ident),* $(,)?]) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some(adapter) = $factory().await else { return };
                $crate::testing::$module::$case(&adapter).await;
            }
        )*
    };
}
