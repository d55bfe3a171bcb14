//! `experiment`: the all-in-one command.

use clap::{Parser, Subcommand};
use experiment_cli::demo::{self, DemoArgs};
use experiment_cli::fetch::{self, FetchArgs};
use experiment_cli::notify::{self, NotifyCommand};
use experiment_cli::rule::{self, RuleCommand};
use experiment_cli::ta::{self, BacktestArgs, TaArgs};

/// Experiment watches the Taiwan stock market and tells you when something you care about
/// happens: crawlers feed events to workers that keep indicators and evaluate your alert
/// rules, and notifiers deliver the alerts.
#[derive(Debug, Parser)]
#[command(name = "experiment", version, propagate_version = true)]
struct Cli {
    /// Log filter (tracing's env-filter syntax), e.g. `info` or `experiment_worker=debug`.
    #[arg(long, env = "EXPERIMENT_LOG", default_value = "warn", global = true)]
    log: String,
    /// Write logs as JSON lines.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole pipeline offline on recorded TWSE data: feeder → event bus → worker →
    /// store and outbox → notifier. Needs no server and no network.
    Demo(DemoArgs),
    /// Fetch from TWSE/TPEx: quotes, daily bars, history, profiles, holidays, institutional
    /// flows. Every base URL can be pointed at a mock or a proxy.
    Fetch(FetchArgs),
    /// Indicators over a CSV of bars: one column per indicator output, empty during warm-up.
    Ta(TaArgs),
    /// Where a rule would have fired over a CSV of bars (at each bar's close).
    Backtest(BacktestArgs),
    /// Alert rules: check one before you save it.
    #[command(subcommand)]
    Rule(RuleCommand),
    /// Delivery: try a destination.
    #[command(subcommand)]
    Notify(NotifyCommand),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_new(&cli.log)
        .map_err(|e| anyhow::anyhow!("--log '{}': {e}", cli.log))?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if cli.log_json {
        logs.json().init();
    } else {
        logs.init();
    }
    match cli.command {
        Command::Demo(args) => {
            let report = demo::run(&args).await?;
            print!("{}", report.render());
        }
        Command::Notify(NotifyCommand::Test(args)) => println!("{}", notify::test(&args).await?),
        Command::Fetch(args) => fetch::run(&args).await?,
        Command::Ta(args) => print!("{}", ta::ta(&args)?),
        Command::Backtest(args) => print!("{}", ta::run_backtest(&args)?),
        Command::Rule(RuleCommand::Check { expression }) => match rule::check(&expression) {
            Ok(canonical) => println!("{canonical}"),
            Err(pointed) => {
                eprintln!("{pointed}");
                std::process::exit(2);
            }
        },
    }
    Ok(())
}
