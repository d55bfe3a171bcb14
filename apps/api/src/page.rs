//! Cursor pagination: every list answers with `next_cursor` (absent on the last page); the
//! cursor is opaque to clients (URL-safe base64 of the position after the page).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ApiError;

/// The most items a page holds, whatever `limit` asks.
pub const MAX_LIMIT: usize = 1000;

/// The page size for `limit`, bounded, with `default` when absent.
///
/// # Errors
/// 400 for 0 or more than `max`.
pub fn limit(limit: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    match limit {
        None => Ok(default),
        Some(0) => Err(ApiError::bad_request("limit must be at least 1")),
        Some(n) if n > max => Err(ApiError::bad_request(format!(
            "limit must be at most {max}, got {n}"
        ))),
        Some(n) => Ok(n),
    }
}

/// Encodes a position as a cursor.
pub fn encode<T: Serialize>(position: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(position).unwrap_or_default())
}

/// Decodes a cursor made by [`encode`].
///
/// # Errors
/// 400 when it is not one of ours.
pub fn decode<T: DeserializeOwned>(cursor: &str) -> Result<T, ApiError> {
    URL_SAFE_NO_PAD
        .decode(cursor.trim())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            ApiError::bad_request("cursor is not valid: pass the next_cursor of the previous page")
        })
}

/// Splits `items` (fetched with one more than `limit`) into the page and whether more follow.
pub fn split<T>(mut items: Vec<T>, limit: usize) -> (Vec<T>, bool) {
    let more = items.len() > limit;
    items.truncate(limit);
    (items, more)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = encode(&("2330", 5));
        assert_eq!(decode::<(String, i32)>(&c).unwrap(), ("2330".to_owned(), 5));
        assert!(decode::<(String, i32)>("%%%").is_err());
        assert!(
            decode::<(String, i32)>(&encode(&"x")).is_err(),
            "wrong shape"
        );
        assert!(limit(Some(0), 10, 100).is_err());
        assert!(limit(Some(101), 10, 100).is_err());
        assert_eq!(limit(None, 10, 100).unwrap(), 10);
    }
}
