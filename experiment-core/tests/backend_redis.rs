//! The cache conformance suite on a real Redis server (EXPERIMENT_TEST_REDIS_URL).
#![cfg(feature = "redis")]

use experiment_core::redis::RedisCache;
use experiment_core::testing::{backend_from_env, unique};

async fn make() -> Option<RedisCache> {
    let url = backend_from_env("EXPERIMENT_TEST_REDIS_URL", "redis")?;
    // every case gets its own key prefix: no FLUSHDB, no interference between parallel cases
    Some(
        RedisCache::connect(&url, format!("{}:", unique("experiment-test")))
            .await
            .expect("redis reachable"),
    )
}

experiment_core::cache_conformance!(make);

#[tokio::test]
async fn an_unreachable_server_is_unavailable_naming_redis() {
    if backend_from_env("EXPERIMENT_TEST_REDIS_URL", "redis").is_none() {
        return;
    }
    // port 1 on loopback: nothing listens there
    let err = RedisCache::connect("redis://127.0.0.1:1/", "x:")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            experiment_core::Error::Unavailable {
                backend: "redis",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_transient());
}
