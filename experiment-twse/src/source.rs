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

/// The day's closing bars of every listed (TWSE OpenAPI) and OTC (TPEx OpenAPI) security.
#[derive(Debug, Clone)]
pub struct DailySource {
    client: TwseClient,
}

impl DailySource {
    /// Polls through `client`.
    pub fn new(client: TwseClient) -> Self {
        DailySource { client }
    }
}

#[async_trait]
impl Source for DailySource {
    fn name(&self) -> &str {
        "twse.daily"
    }

    async fn poll(&self, now: DateTime<Utc>) -> experiment_core::Result<Batch> {
        let mut listed = self.client.daily_all(None).await?;
        let otc = self.client.tpex_daily_all().await?;
        listed.items.extend(otc.items);
        listed.skipped.extend(otc.skipped);
        Ok(Batch {
            events: listed
                .items
                .into_iter()
                .map(|b| Event::new(self.name(), now, Payload::DailyBar(b)))
                .collect(),
            skipped: listed.skipped,
        })
    }
}
