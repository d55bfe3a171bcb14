//! Fetch real-time quotes (MIS) for the codes on the command line and print them.
//!
//! ```sh
//! cargo run -p example-quotes -- 2330 6547 t00
//! cargo run -p example-quotes -- 2330 --mis-url http://127.0.0.1:8080   # a mock or a proxy
//! ```

use clap::Parser;
use experiment_core::model::SecurityCode;
use experiment_twse::{Channel, TwseClient, TwseConfig};

/// Real-time quotes from MIS.
#[derive(Parser)]
struct Args {
    /// Security codes (listed, OTC, or indices such as t00).
    #[arg(required = true)]
    codes: Vec<String>,
    /// MIS base URL.
    #[arg(long, default_value = "https://mis.twse.com.tw")]
    mis_url: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = TwseClient::new(TwseConfig {
        mis_url: args.mis_url,
        ..TwseConfig::default()
    })?;
    let mut channels = Vec::new();
    for code in &args.codes {
        channels.extend(Channel::both(&SecurityCode::new(code.as_str())?));
    }
    let quotes = client.quotes(&channels).await?;
    for q in &quotes.items {
        let last = q
            .last
            .map_or_else(|| "no trade in this snapshot".to_owned(), |p| p.to_string());
        println!(
            "{} {} ({}) last {last}, reference {:?}, at {}",
            q.code, q.name, q.exchange, q.reference, q.exchange_time
        );
    }
    for s in &quotes.skipped {
        eprintln!("skipped {}: {}", s.location, s.reason);
    }
    Ok(())
}
