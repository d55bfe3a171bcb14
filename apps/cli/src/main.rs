//! `experiment`: the all-in-one command.

use clap::{Parser, Subcommand};
use experiment_cli::demo::{self, DemoArgs};
use experiment_cli::fetch::{self, FetchArgs};
use experiment_cli::indicators::{self, IndicatorsArgs};
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
    #[arg(
        long,
        env = "EXPERIMENT_LOG",
        default_value = "warn",
        global = true,
        help_heading = "Global options"
    )]
    log: String,
    /// Write logs as JSON lines.
    #[arg(long, global = true, help_heading = "Global options")]
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
    /// Where a rule would have fired over a CSV of bars (at each bar's close), and the
    /// returns that followed.
    Backtest(BacktestArgs),
    /// The indicator catalogue: names, parameters with defaults and ranges, outputs,
    /// warm-up.
    Indicators(IndicatorsArgs),
    /// Alert rules: check one, and add, list, show, enable, disable or remove the rules in
    /// the configured store.
    #[command(subcommand)]
    Rule(RuleCommand),
    /// Delivery: try a destination.
    #[command(subcommand)]
    Notify(NotifyCommand),
}

/// Whether `e` comes from writing to a closed pipe (`experiment fetch daily | head`): the
/// reader has what it wanted, so the command ends quietly.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Writes `text` to stdout; a reader that went away is not an error.
fn out(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    stdout.flush()?;
    Ok(())
}

fn main() -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) if broken_pipe(&e) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // A user's mistake or an unreachable site is a message, never a backtrace, even
            // with RUST_BACKTRACE set (anyhow's Debug would print one).
            eprintln!("Error: {e}");
            let causes: Vec<String> = e.chain().skip(1).map(ToString::to_string).collect();
            if !causes.is_empty() {
                eprintln!("\nCaused by:");
                for c in causes {
                    eprintln!("    {c}");
                }
            }
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    experiment_wiring::init_logging(&cli.log, cli.log_json)
        .map_err(|e| anyhow::anyhow!("--log: {e}"))?;
    match cli.command {
        Command::Demo(args) => {
            let (report, pipeline) = demo::replay(&args).await?;
            out(&report.render())?;
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
        Command::Notify(NotifyCommand::Test(args)) => {
            out(&format!("{}\n", notify::test(&args).await?))?;
        }
        Command::Fetch(args) => fetch::run(&args).await?,
        Command::Ta(args) => out(&ta::ta(&args)?)?,
        Command::Backtest(args) => out(&ta::run_backtest(&args)?)?,
        Command::Indicators(args) => out(&indicators::list(&args)?)?,
        Command::Rule(RuleCommand::Check { expression }) => match rule::check(&expression) {
            Ok(canonical) => out(&format!("{canonical}\n"))?,
            Err(pointed) => {
                eprintln!("{pointed}");
                std::process::exit(2);
            }
        },
        Command::Rule(command) => out(&rule::run(command).await?)?,
    }
    Ok(())
}
