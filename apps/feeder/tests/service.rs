//! `experiment-feeder --once` against recorded bodies on a mock, publishing to the real
//! Kafka-protocol test broker.

use std::process::Command;
use std::time::Duration;

use experiment_core::kafka::{KafkaBus, KafkaConfig};
use experiment_core::model::{EventKind, Payload};
use experiment_core::seed::{AssetInfoView, SEED_TOPIC};
use experiment_core::testing::{backend_from_env, unique};
use experiment_core::EventBus;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn fixture(name: &str) -> Vec<u8> {
    let dir = env!("CARGO_MANIFEST_DIR");
    std::fs::read(format!("{dir}/../../experiment-twse/tests/fixtures/{name}")).unwrap()
}

async fn serve(s: &MockServer, p: &str, file: &str) {
    let body = ResponseTemplate::new(200).set_body_bytes(fixture(file));
    Mock::given(method("GET"))
        .and(path(p))
        .respond_with(body)
        .mount(s)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_round_publishes_quotes_bars_and_seed_messages() {
    let Some(brokers) = backend_from_env("EXPERIMENT_TEST_KAFKA_BROKERS", "kafka") else {
        return;
    };
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/stock/index.jsp"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let mis = "mis_getStockInfo_tse2330_otc6547_afterclose_20260731_limitup.json";
    serve(&server, "/stock/api/getStockInfo.jsp", mis).await;
    serve(
        &server,
        "/exchangeReport/STOCK_DAY_ALL",
        "openapi_STOCK_DAY_ALL_20260708.json",
    )
    .await;
    let otc = "tpex_openapi_tpex_mainboard_daily_close_quotes_EXCERPT_3rows_20261008.json";
    serve(&server, "/tpex_mainboard_daily_close_quotes", otc).await;
    let prefix = format!("{}.", unique("feed"));
    let url = server.uri();
    let (b, p) = (brokers.clone(), prefix.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_experiment-feeder"))
            .args([
                "--once",
                "--seed-compat",
                "--codes",
                "2330,6547",
                "--mis-url",
                &url,
                "--openapi-url",
                &url,
                "--tpex-openapi-url",
                &url,
            ])
            .env("EXPERIMENT_KAFKA_BROKERS", &b)
            .env("EXPERIMENT_TOPIC_PREFIX", &p)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bus = KafkaBus::connect(KafkaConfig::new(brokers).with_prefix(prefix)).unwrap();
    let mut sub = bus
        .subscribe(
            &unique("g"),
            &[
                EventKind::Quote.topic(),
                SEED_TOPIC,
                EventKind::DailyBar.topic(),
            ],
        )
        .await
        .unwrap();
    // One MIS batch (4 channels) answered with the recorded 2330 + 6547 body: 2 quotes, 2 seed
    // messages; 1,361 traded listed bars + 3 OTC bars.
    let (mut quotes, mut seed, mut bars) = (0, 0, 0);
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        while quotes < 2 || seed < 2 || bars < 1364 {
            let d = sub.next().await.unwrap();
            if d.topic == SEED_TOPIC {
                let view = AssetInfoView::decode(&d.record.payload, &d.position()).unwrap();
                assert!(["2330", "6547"].contains(&view.code.as_str()));
                seed += 1;
            } else {
                match d.decode_event().unwrap().payload {
                    Payload::Quote(_) => quotes += 1,
                    Payload::DailyBar(_) => bars += 1,
                    _ => {}
                }
            }
            d.ack();
        }
    })
    .await;
    sub.close().await.unwrap();
    assert!(done.is_ok(), "quotes {quotes}, seed {seed}, bars {bars}");
    assert_eq!((quotes, seed, bars), (2, 2, 1364));
}

#[test]
fn without_a_broker_it_says_what_is_missing() {
    let out = Command::new(env!("CARGO_BIN_EXE_experiment-feeder"))
        .env_remove("EXPERIMENT_KAFKA_BROKERS")
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs --kafka-brokers"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_exchange_down_does_not_hold_back_the_other_and_once_names_it() {
    let Some(brokers) = backend_from_env("EXPERIMENT_TEST_KAFKA_BROKERS", "kafka") else {
        return;
    };
    let server = MockServer::start().await;
    serve(
        &server,
        "/exchangeReport/STOCK_DAY_ALL",
        "openapi_STOCK_DAY_ALL_20260708.json",
    )
    .await;
    // The TPEx OpenAPI is down.
    Mock::given(method("GET"))
        .and(path("/tpex_mainboard_daily_close_quotes"))
        .respond_with(ResponseTemplate::new(503).set_body_string("maintenance"))
        .mount(&server)
        .await;
    let prefix = format!("{}.", unique("feed-down"));
    let url = server.uri();
    let (b, p) = (brokers.clone(), prefix.clone());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_experiment-feeder"))
            .args(["--once", "--openapi-url", &url, "--tpex-openapi-url", &url])
            .env("EXPERIMENT_KAFKA_BROKERS", &b)
            .env("EXPERIMENT_TOPIC_PREFIX", &p)
            .env("RUST_BACKTRACE", "0")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a failed source fails --once");
    assert!(
        stderr.contains("1 of 2 sources failed") && stderr.contains("tpex.daily:"),
        "{stderr}"
    );
    assert!(!stderr.contains("twse.daily:"), "{stderr}");

    // The listed bars were published all the same.
    let bus = KafkaBus::connect(KafkaConfig::new(brokers).with_prefix(prefix)).unwrap();
    let mut sub = bus
        .subscribe(&unique("g"), &[EventKind::DailyBar.topic()])
        .await
        .unwrap();
    let mut bars = 0;
    let done = tokio::time::timeout(Duration::from_secs(60), async {
        while bars < 1361 {
            let d = sub.next().await.unwrap();
            bars += 1;
            d.ack();
        }
    })
    .await;
    sub.close().await.unwrap();
    assert!(done.is_ok(), "bars {bars}");
}

#[test]
fn an_unreachable_broker_is_named_once_and_once_does_not_hang() {
    // Nothing listens on port 1 of loopback.
    let mut child = Command::new(env!("CARGO_BIN_EXE_experiment-feeder"))
        .args(["--once", "--kafka-brokers", "127.0.0.1:1"])
        .env("RUST_BACKTRACE", "0")
        .env("EXPERIMENT_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: before the fix it never exited. Generous, so a slow machine does not fail it.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("--once with an unreachable broker did not exit");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("cannot reach Kafka at 127.0.0.1:1")
            || stderr.contains("no answer from Kafka at 127.0.0.1:1"),
        "{stderr}"
    );
    // librdkafka's own reports are thinned to one per kind, not several per second.
    let lines = stderr.lines().filter(|l| l.contains("librdkafka")).count();
    assert!(lines <= 6, "{lines} librdkafka lines:\n{stderr}");
}
