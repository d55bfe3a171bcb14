//! What every Experiment binary shares (`experiment`, `experiment-feeder`,
//! `experiment-worker`, `experiment-api`): the one configuration ([`config`]), the backends it
//! names ([`backends`]), logging, the shutdown signal, and supervised background tasks.
//!
//! It is a crate of its own under `apps/` rather than a module of `experiment-core` because
//! it decides things a library must not: it reads the environment, installs the global
//! logger, and links every backend (Kafka, MongoDB, Redis) into the binary.

pub mod backends;
pub mod config;
pub mod delivery;
pub mod settings;

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt as _;
pub use tokio_util::sync::CancellationToken;

pub use backends::{BackendError, Backends};
pub use config::{Config, ConfigError};
pub use settings::collections;

/// Installs the global logger: text or JSON lines on standard error, filtered by `filter`
/// (tracing's syntax), coloured only on a terminal. Call once, at start.
///
/// # Errors
/// An invalid filter, naming it.
pub fn init_logging(filter: &str, json: bool) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| anyhow::anyhow!("log filter '{filter}': {e}"))?;
    use std::io::IsTerminal as _;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for people: escape codes in a file or a pipe are noise.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let installed = if json {
        logs.json().try_init()
    } else {
        logs.try_init()
    };
    installed.map_err(|e| anyhow::anyhow!("installing the logger: {e}"))
}

/// Completes on Ctrl-C or SIGTERM (what `docker stop` and Kubernetes send).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            futures::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => ctrl_c.await,
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

/// A token cancelled by [`shutdown_signal`]: pass clones down to every task.
pub fn shutdown_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
        t.cancel();
    });
    token
}

/// Counts restarts of supervised tasks, for metrics.
#[derive(Debug, Default)]
pub struct Restarts(AtomicU64);

impl Restarts {
    /// Restarts so far.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs a long-lived task and restarts it when it panics or returns early, until `token` is
/// cancelled: the panic is logged with the task's name, counted in `restarts`, and the task
/// starts again after a pause (doubling from 1 s up to a minute). A task that returns after
/// `token` is cancelled is done.
pub fn supervise<F, Fut>(
    name: &'static str,
    token: CancellationToken,
    restarts: Arc<Restarts>,
    mut task: F,
) -> tokio::task::JoinHandle<()>
where
    F: FnMut(CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut pause = Duration::from_secs(1);
        loop {
            let run = std::panic::AssertUnwindSafe(task(token.clone())).catch_unwind();
            let outcome = tokio::spawn(run).await;
            if token.is_cancelled() {
                return;
            }
            match outcome {
                Ok(Ok(())) => tracing::error!(task = name, "task stopped on its own; restarting"),
                Ok(Err(panic)) => tracing::error!(
                    task = name,
                    panic = %panic_message(&*panic),
                    "task panicked; restarting"
                ),
                Err(e) => tracing::error!(task = name, error = %e, "task failed; restarting"),
            }
            restarts.0.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                _ = token.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
            pause = (pause * 2).min(Duration::from_secs(60));
        }
    })
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test(start_paused = true)]
    async fn a_panicking_task_is_restarted_until_cancelled() {
        let token = CancellationToken::new();
        let restarts = Arc::new(Restarts::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let handle = supervise("test", token.clone(), restarts.clone(), move |t| {
            let n = r.fetch_add(1, Ordering::SeqCst);
            async move {
                if n < 2 {
                    panic!("boom {n}");
                }
                t.cancelled().await;
            }
        });
        while runs.load(Ordering::SeqCst) < 3 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(restarts.get(), 2, "two panics, two restarts");
        token.cancel();
        handle.await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }
}
