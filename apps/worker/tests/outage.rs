//! Outage test: a real `experiment-worker` on servers of the test's own (a Kafka-protocol
//! broker, a MongoDB-wire store, Redis) and a webhook receiver. While events stream in, the
//! store and the cache are each stopped for 30 s (the process is terminated, then started
//! again on its data), the broker is cut off for 30 s (a proxy drops every connection and
//! refuses new ones), and the endpoint answers 503 for 30 s, staggered so that they overlap. Afterwards nothing accepted is lost, every alert is delivered, and the worker
//! never exited.
//!
//! `EXPERIMENT_OUTAGE_SECS` changes the length of each outage (default 30). The figures are
//! printed (`cargo test -p experiment-worker --test outage -- --nocapture`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{NaiveTime, TimeZone, Utc};
use common::{
    bar, bar_event, code, day, env_usize, expected_keys, put_rule, verify, wait_delivered,
    write_config, Receiver, Workers,
};
use experiment_core::kafka::{KafkaBus, KafkaConfig};
use experiment_core::model::{Event, Exchange, Payload, Quote};
use experiment_core::mongodb::MongoStore;
use experiment_core::redis::RedisCache;
use experiment_core::testing::backend_from_env;
use experiment_core::{CacheExt, EventBus, EventBusExt, Store};
use rust_decimal::Decimal;

const CODES: usize = 50;
const DAYS: usize = 120;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A server process of the test's own, stopped and started again on the same port and data.
struct Server {
    name: &'static str,
    program: String,
    args: Vec<String>,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Server {
    fn new(
        name: &'static str,
        program: String,
        args: Vec<String>,
        dir: PathBuf,
        port: u16,
    ) -> Self {
        std::fs::create_dir_all(&dir).unwrap();
        Server {
            name,
            program,
            args,
            dir,
            port,
            child: None,
        }
    }

    async fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .unwrap();
        let child = Command::new(&self.program)
            .args(&self.args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} ({}): {e}", self.name, self.program));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "{} did not listen on {} within 60 s: {}",
                self.name,
                self.port,
                std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGTERM, then SIGKILL after 10 s.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    child.kill().ok();
                    child.wait().ok();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }
}

/// A TCP proxy that can drop every connection and refuse new ones (a network outage), for
/// the broker: it advertises the proxy's address, so every client connection goes through
/// it. (The broker process is not restarted: tansu 0.6 panics on the first offset commit
/// after a restart and then refuses every produce, a defect of the test server.)
struct Proxy {
    port: u16,
    down: Arc<AtomicBool>,
    epoch: Arc<AtomicUsize>,
}

impl Proxy {
    async fn start(target: u16) -> Self {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let epoch = Arc::new(AtomicUsize::new(0));
        let (d, e) = (down.clone(), epoch.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if d.load(Ordering::SeqCst) {
                    drop(client); // refused: closed at once
                    continue;
                }
                let (d, mine, e) = (d.clone(), e.load(Ordering::SeqCst), e.clone());
                tokio::spawn(async move {
                    let Ok(mut server) =
                        tokio::net::TcpStream::connect(("127.0.0.1", target)).await
                    else {
                        return;
                    };
                    let copy = tokio::io::copy_bidirectional(&mut client, &mut server);
                    tokio::pin!(copy);
                    // Ends the connection when the proxy goes down.
                    loop {
                        tokio::select! {
                            _ = &mut copy => return,
                            _ = tokio::time::sleep(Duration::from_millis(100)) => {
                                if d.load(Ordering::SeqCst) || e.load(Ordering::SeqCst) != mine {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        });
        Proxy { port, down, epoch }
    }

    fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }
}

fn quote(c: usize, d: usize) -> Quote {
    let t = Utc.from_utc_datetime(&day(d).and_time(NaiveTime::from_hms_opt(5, 30, 0).unwrap()));
    let price = Decimal::new(10_000 + d as i64, 2);
    Quote {
        code: code(c),
        exchange: Exchange::Twse,
        name: format!("code {c}"),
        last: Some(price),
        last_volume: Some(1),
        open: Some(price),
        high: Some(price),
        low: Some(price),
        reference: Some(price),
        limit_up: None,
        limit_down: None,
        volume: Some(1_000),
        bids: Vec::new(),
        asks: Vec::new(),
        exchange_time: t,
        received_at: t,
    }
}

/// Bars and quotes, day by day.
async fn publish(bus: &KafkaBus, pause: Duration) {
    for d in 0..DAYS {
        let sends = (0..CODES).flat_map(|c| {
            let q = Event::new(
                "outage-test",
                quote(c, d).exchange_time,
                Payload::Quote(quote(c, d)),
            );
            [bar_event(bar(c, d, DAYS)), q]
                .into_iter()
                .map(move |e| async move {
                    // As a feeder does: an event the broker did not take is sent again once
                    // it is back (a copy in the log is harmless: effects are idempotent).
                    let deadline = Instant::now() + Duration::from_secs(240);
                    while let Err(err) = bus.publish_event("", &e).await {
                        assert!(
                            Instant::now() < deadline,
                            "publishing failed for 240 s: {err}"
                        );
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                })
        });
        futures::future::join_all(sends).await;
        tokio::time::sleep(pause).await;
    }
}

fn program(var: &str, backend: &str) -> Option<String> {
    backend_from_env(var, backend)
}

async fn servers(dir: &Path) -> Option<(Server, Proxy, Server, Server)> {
    let tansu = program("EXPERIMENT_TEST_TANSU", "kafka")?;
    let secantus = program("EXPERIMENT_TEST_SECANTUS", "mongodb")?;
    if Command::new("redis-server")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            !experiment_core::testing::required("redis"),
            "redis-server is not on PATH (scripts/services up installs it)"
        );
        return None;
    }
    let (kp, mp, rp) = (free_port(), free_port(), free_port());
    let proxy = Proxy::start(kp).await;
    let mut broker = Server::new(
        "broker",
        tansu,
        vec![
            "broker".into(),
            "--listener-url".into(),
            format!("tcp://127.0.0.1:{kp}"),
            "--advertised-listener-url".into(),
            format!("tcp://127.0.0.1:{}", proxy.port),
            "--storage-engine".into(),
            "sqlite://tansu.db".into(),
        ],
        dir.join("broker"),
        kp,
    );
    let mut store = Server::new(
        "store",
        secantus,
        vec![
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            mp.to_string(),
            "--storage-path".into(),
            dir.join("store/data").display().to_string(),
            "--standalone".into(),
            "--log-level".into(),
            "WARNING".into(),
        ],
        dir.join("store"),
        mp,
    );
    let mut cache = Server::new(
        "cache",
        "redis-server".into(),
        vec![
            "--bind".into(),
            "127.0.0.1".into(),
            "--port".into(),
            rp.to_string(),
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
        ],
        dir.join("cache"),
        rp,
    );
    broker.start().await;
    store.start().await;
    cache.start().await;
    Some((broker, proxy, store, cache))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_cache_broker_and_endpoint_outages_lose_nothing() {
    let dir = tempfile::Builder::new()
        .prefix("outage-")
        .tempdir()
        .unwrap();
    // EXPERIMENT_OUTAGE_KEEP keeps the servers' and workers' files for a look afterwards.
    let _kept = std::env::var_os("EXPERIMENT_OUTAGE_KEEP").map(|_| {
        println!("outage test: files in {}", dir.path().display());
    });
    let dir = if _kept.is_some() {
        Err(dir.keep())
    } else {
        Ok(dir)
    };
    let dir_path = match &dir {
        Ok(d) => d.path().to_path_buf(),
        Err(p) => p.clone(),
    };
    let Some((_broker, proxy, mut store_server, mut cache_server)) = servers(&dir_path).await
    else {
        return;
    };
    let outage = Duration::from_secs(env_usize("EXPERIMENT_OUTAGE_SECS", 30) as u64);
    let brokers = format!("127.0.0.1:{}", proxy.port);
    let mongo = format!("mongodb://127.0.0.1:{}/", store_server.port);
    let redis = format!("redis://127.0.0.1:{}/", cache_server.port);

    let store = MongoStore::connect(&mongo, "outage").await.unwrap();
    put_rule(&store).await;
    let (receiver, server) = Receiver::serve().await;
    // Without idempotent production: tansu 0.6 panics on an idempotent producer's retries
    // after a long outage (lite.rs "more or less than one row") and then refuses every
    // produce. A copy of an event in the log is harmless here: effects are idempotent.
    let no_idempotence = [("enable.idempotence", "false")];
    let config = write_config(&dir_path, &server.uri(), 20, &no_idempotence);
    let mut bus_config = KafkaConfig::new(brokers.clone());
    bus_config
        .properties
        .insert("enable.idempotence".into(), "false".into());
    let bus = KafkaBus::connect(bus_config).unwrap();
    for kind in [
        experiment_core::model::EventKind::DailyBar,
        experiment_core::model::EventKind::Quote,
    ] {
        bus.create_topic(kind.topic(), 6).await.unwrap();
    }

    let args = vec![
        "--config".to_owned(),
        config.display().to_string(),
        "--kafka-brokers".to_owned(),
        brokers,
        "--mongodb-uri".to_owned(),
        mongo.clone(),
        "--mongodb-database".to_owned(),
        "outage".to_owned(),
        "--redis-url".to_owned(),
        redis.clone(),
        "--log".to_owned(),
        "info".to_owned(),
    ];
    let mut workers = Workers::new(args, Vec::new(), dir_path.join("logs"), 1);
    let started = Instant::now();
    workers.start(0);
    let publisher = {
        let bus = bus.clone();
        tokio::spawn(async move { publish(&bus, Duration::from_millis(500)).await })
    };

    // Staggered: store, cache, broker, endpoint, each down for `outage`, 10 s apart.
    let stagger = Duration::from_secs(10);
    let first = Duration::from_secs(5);
    let at = |i: u32| first + stagger * i;
    let mut log = Vec::new();
    let mut phase = 0;
    let events = [
        (at(0), "store down"),
        (at(1), "cache down"),
        (at(2), "broker down"),
        (at(3), "endpoint down"),
        (at(0) + outage, "store up"),
        (at(1) + outage, "cache up"),
        (at(2) + outage, "broker up"),
        (at(3) + outage, "endpoint up"),
    ];
    let mut schedule: Vec<(Duration, &str)> = events.to_vec();
    schedule.sort_by_key(|(t, _)| *t);
    while phase < schedule.len() {
        let (when, what) = schedule[phase];
        if started.elapsed() < when {
            workers.check_alive();
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        match what {
            "store down" => store_server.stop(),
            "cache down" => cache_server.stop(),
            "broker down" => proxy.set_down(true),
            "endpoint down" => receiver.set_down(true),
            "store up" => store_server.start().await,
            "cache up" => cache_server.start().await,
            "broker up" => proxy.set_down(false),
            _ => receiver.set_down(false),
        }
        log.push(format!(
            "{what} at {:.1} s",
            started.elapsed().as_secs_f64()
        ));
        phase += 1;
    }
    tokio::time::timeout(Duration::from_secs(300), publisher)
        .await
        .expect("the publisher finished once the broker was back")
        .unwrap();
    let expected = expected_keys(CODES, DAYS);
    let deadline = Instant::now() + Duration::from_secs(300);
    wait_delivered(&receiver, &expected, &mut workers, deadline).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    workers.check_alive();
    workers.stop_all();
    let seconds = started.elapsed().as_secs_f64();

    verify(&store, CODES, DAYS).await;
    let cache = RedisCache::connect(&redis, "experiment:").await.unwrap();
    for c in 0..CODES {
        let newest = quote(c, DAYS - 1);
        assert_eq!(
            store
                .quote(&code(c))
                .await
                .unwrap()
                .map(|q| q.exchange_time),
            Some(newest.exchange_time),
            "the newest quote of {} stored",
            code(c)
        );
        assert_eq!(
            cache
                .latest_quote(&code(c))
                .await
                .unwrap()
                .map(|q| q.exchange_time),
            Some(newest.exchange_time),
            "the newest quote of {} cached",
            code(c)
        );
    }
    let duplicates = receiver.requests() - expected.len();
    // Without kills, a duplicate needs a send whose completion could not be stored (the
    // store was down): at most one claimed batch per store outage.
    assert!(duplicates <= 20, "{duplicates} duplicate deliveries");
    println!(
        "outage test: {} events; {}; {} alerts each stored once and delivered; {} requests refused while the endpoint was down, {duplicates} duplicates; the worker never exited; {seconds:.1} s",
        CODES * DAYS * 2,
        log.join(", "),
        expected.len(),
        receiver.refused(),
    );
}
