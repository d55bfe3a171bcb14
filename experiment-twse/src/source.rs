//! The core [`Source`] port over the client, for the feeder to schedule.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use experiment_core::model::{Event, Payload};
use experiment_core::{Batch, Source};

use crate::client::{Channel, TwseClient};

/// MIS real-time snapshots of a watchlist: one poll is one round of batched requests.
#[derive(Clone)]
pub struct MisSource {
    client: TwseClient,
    channels: Vec<Channel>,
}

impl fmt::Debug for MisSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MisSource")
            .field("channels", &self.channels.len())
            .finish()
    }
}

impl MisSource {
    /// Polls `channels` through `client`.
    pub fn new(client: TwseClient, channels: Vec<Channel>) -> Self {
        MisSource { client, channels }
    }
}

#[async_trait]
impl Source for MisSource {
    fn name(&self) -> &str {
        "twse.mis"
    }

    async fn poll(&self, now: DateTime<Utc>) -> experiment_core::Result<Batch> {
        let parsed = self.client.quotes(&self.channels).await?;
        Ok(Batch {
            events: parsed
                .items
                .into_iter()
                .map(|q| Event::new(self.name(), now, Payload::Quote(q)))
                .collect(),
            skipped: parsed.skipped,
        })
    }
}

/// Which market's daily bars a [`DailySource`] polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DailyMarkets {
    Both,
    Listed,
    Otc,
}

/// The day's closing bars of every listed (TWSE OpenAPI) and/or OTC (TPEx OpenAPI) security.
///
/// A service should poll the two markets as two sources ([`DailySource::listed`] and
/// [`DailySource::otc`]): one exchange's site being down must not hold back the other's bars.
#[derive(Debug, Clone)]
pub struct DailySource {
    client: TwseClient,
    markets: DailyMarkets,
}

impl DailySource {
    /// Both markets in one poll, through `client` (either failing fails the poll).
    pub fn new(client: TwseClient) -> Self {
        DailySource {
            client,
            markets: DailyMarkets::Both,
        }
    }

    /// Listed securities only (TWSE OpenAPI `STOCK_DAY_ALL`); named `twse.daily`.
    pub fn listed(client: TwseClient) -> Self {
        DailySource {
            client,
            markets: DailyMarkets::Listed,
        }
    }

    /// OTC securities only (TPEx OpenAPI daily close quotes); named `tpex.daily`.
    pub fn otc(client: TwseClient) -> Self {
        DailySource {
            client,
            markets: DailyMarkets::Otc,
        }
    }
}

#[async_trait]
impl Source for DailySource {
    fn name(&self) -> &str {
        match self.markets {
            DailyMarkets::Otc => "tpex.daily",
            _ => "twse.daily",
        }
    }

    async fn poll(&self, now: DateTime<Utc>) -> experiment_core::Result<Batch> {
        let mut items = Vec::new();
        let mut skipped = Vec::new();
        if self.markets != DailyMarkets::Otc {
            let listed = self.client.daily_all(None).await?;
            items.extend(listed.items);
            skipped.extend(listed.skipped);
        }
        if self.markets != DailyMarkets::Listed {
            let otc = self.client.tpex_daily_all().await?;
            items.extend(otc.items);
            skipped.extend(otc.skipped);
        }
        Ok(Batch {
            events: items
                .into_iter()
                .map(|b| Event::new(self.name(), now, Payload::DailyBar(b)))
                .collect(),
            skipped,
        })
    }
}
