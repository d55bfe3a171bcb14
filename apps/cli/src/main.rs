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
    /// Run the whole pipeline offline on recorded TWSE data (feeder → event bus → worker →
    /// store and outbox → notifier), then serve the HTTP API over what it stored until
    /// Ctrl-C (`--once` exits after the replay). Needs no server and no network.
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
    experiment_wiring::init_logging(&cli.log, cli.log_json)
        .map_err(|e| anyhow::anyhow!("--log: {e}"))?;
    match cli.command {
        Command::Demo(args) => {
            let (report, pipeline) = demo::replay(&args).await?;
            print!("{}", report.render());
            if !args.once {
                let token = experiment_wiring::shutdown_token();
                demo::serve(pipeline, &args, token, |addr, key| {
                    print!("{}", demo::banner(addr, key));
                    use std::io::Write as _;
                    let _ = std::io::stdout().flush();
                })
                .await?;
            }
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
