//! Wire compatibility with the original Python services: topic `asset.info.view.v1`.
//!
//! The original feeder publishes one message per security with key `{"code": "2330"}` and a
//! flat JSON value, both written by Python's `json.dumps` defaults: `", "` and `": "`
//! separators, non-ASCII escaped as `\uXXXX`, floats in `repr` form (`1766996046.0`).
//! [`AssetInfoView::encode`] writes exactly that, byte for byte, so the original worker can
//! consume what our feeder emits; [`AssetInfoView::decode`] reads what the original feeder
//! emits (and any other valid JSON with those fields).
//!
//! ```
//! use experiment_core::seed::{AssetInfoView, decode_key};
//! let value = br#"{"exchange": "TWSE", "code": "2330", "name": "\u53f0\u7a4d\u96fb", "query_time": 1766996046.0, "full_name": "\u53f0\u7063\u7a4d\u9ad4\u96fb\u8def\u88fd\u9020\u80a1\u4efd\u6709\u9650\u516c\u53f8", "opening_price": "1515.0000", "current_intraday_price": "1530.0000", "highest_price": "1530.0000", "lowest_price": "1510.0000", "updated_time": 1766989800.0}"#;
//! let view = AssetInfoView::decode(value, "asset.info.view.v1/0@0").unwrap();
//! assert_eq!(view.name, "台積電");
//! assert_eq!(view.current_intraday_price.unwrap().to_string(), "1530.0000");
//! assert_eq!(view.encode(), value.to_vec());
//! assert_eq!(decode_key(br#"{"code": "2330"}"#).unwrap().as_str(), "2330");
//! ```

use std::io;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::model::{Exchange, Quote, SecurityCode};
use crate::{Error, Result};

/// The original services' topic.
pub const SEED_TOPIC: &str = "asset.info.view.v1";

/// The flat value the original feeder publishes, field for field, in its order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssetInfoView {
    /// Exchange name, `TWSE` in the original.
    pub exchange: String,
    /// Security code.
    pub code: SecurityCode,
    /// Short name.
    pub name: String,
    /// When the feeder queried MIS, epoch seconds.
    pub query_time: f64,
    /// Full name.
    #[serde(default)]
    pub full_name: Option<String>,
    /// Session open, as a decimal string keeping its scale (`"1515.0000"`).
    #[serde(default)]
    pub opening_price: Option<Decimal>,
    /// Last trade price.
    #[serde(default)]
    pub current_intraday_price: Option<Decimal>,
    /// Session high.
    #[serde(default)]
    pub highest_price: Option<Decimal>,
    /// Session low.
    #[serde(default)]
    pub lowest_price: Option<Decimal>,
    /// When MIS stamped the snapshot, epoch seconds.
    pub updated_time: f64,
}

/// Encodes the message key for `code` as the original feeder did: `{"code": "2330"}`.
pub fn encode_key(code: &SecurityCode) -> Vec<u8> {
    #[derive(Serialize)]
    struct Key<'a> {
        code: &'a str,
    }
    to_python_json(&Key {
        code: code.as_str(),
    })
}

/// Decodes a message key `{"code": "…"}`.
///
/// # Errors
/// [`Error::Decode`] when the key is not that object or the code is not a valid code.
pub fn decode_key(bytes: &[u8]) -> Result<SecurityCode> {
    #[derive(Deserialize)]
    struct Key {
        code: SecurityCode,
    }
    serde_json::from_slice::<Key>(bytes)
        .map(|k| k.code)
        .map_err(|e| Error::decode(format!("{SEED_TOPIC} key"), e))
}

impl AssetInfoView {
    /// Encodes the value as Python's `json.dumps` would.
    pub fn encode(&self) -> Vec<u8> {
        to_python_json(self)
    }

    /// Decodes a value; `context` names where it came from in errors.
    ///
    /// # Errors
    /// [`Error::Decode`] naming the field at fault.
    pub fn decode(bytes: &[u8], context: &str) -> Result<Self> {
        let de = &mut serde_json::Deserializer::from_slice(bytes);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            Error::decode(
                format!("{SEED_TOPIC} value from {context}"),
                format!("{path}: {}", e.into_inner()),
            )
        })
    }

    /// Builds the seed view of a quote; `query_time` is when it was fetched.
    pub fn from_quote(quote: &Quote, full_name: Option<String>) -> Self {
        AssetInfoView {
            exchange: quote.exchange.as_str().to_owned(),
            code: quote.code.clone(),
            name: quote.name.clone(),
            query_time: epoch_seconds(quote.received_at),
            full_name,
            opening_price: quote.open,
            current_intraday_price: quote.last,
            highest_price: quote.high,
            lowest_price: quote.low,
            updated_time: epoch_seconds(quote.exchange_time),
        }
    }

    /// Converts to the richer [`Quote`]; fields the seed does not carry are `None` or empty.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the exchange name or a timestamp is not valid.
    pub fn to_quote(&self) -> Result<Quote> {
        Ok(Quote {
            code: self.code.clone(),
            exchange: self.exchange.parse::<Exchange>()?,
            name: self.name.clone(),
            last: self.current_intraday_price,
            last_volume: None,
            open: self.opening_price,
            high: self.highest_price,
            low: self.lowest_price,
            reference: None,
            limit_up: None,
            limit_down: None,
            volume: None,
            bids: Vec::new(),
            asks: Vec::new(),
            exchange_time: from_epoch_seconds("updated_time", self.updated_time)?,
            received_at: from_epoch_seconds("query_time", self.query_time)?,
        })
    }
}

fn epoch_seconds(t: DateTime<Utc>) -> f64 {
    t.timestamp() as f64 + f64::from(t.timestamp_subsec_micros()) / 1e6
}

fn from_epoch_seconds(field: &str, secs: f64) -> Result<DateTime<Utc>> {
    if !secs.is_finite() {
        return Err(Error::invalid(field, format!("{secs} is not a time")));
    }
    let whole = secs.floor();
    let micros = ((secs - whole) * 1e6).round() as i64;
    DateTime::from_timestamp(whole as i64, 0)
        .map(|t| t + chrono::Duration::microseconds(micros))
        .ok_or_else(|| Error::invalid(field, format!("{secs} is out of range")))
}

/// Serialises like Python's `json.dumps(obj)` with its defaults.
fn to_python_json<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    // Serialising our own plain structs into a Vec cannot fail.
    let _ = value.serialize(&mut ser);
    out
}

/// A `serde_json` formatter that writes what CPython's `json.dumps` writes by default.
struct PythonFormatter;

impl serde_json::ser::Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.begin_array_value(w, first)
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(python_float_repr(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(w, f64::from(value))
    }

    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // ensure_ascii=True: everything outside ' '..='~' becomes \uXXXX (UTF-16 units,
        // lowercase hex). serde_json already escapes quotes, backslashes and controls.
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if (' '..='~').contains(&c) {
                continue;
            }
            w.write_all(&fragment.as_bytes()[start..i])?;
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
            start = i + c.len_utf8();
        }
        w.write_all(&fragment.as_bytes()[start..])
    }
}

/// CPython's `repr(float)`: shortest round-trip digits, `.0` on integral values, exponent form
/// below 1e-4 and from 1e16 (`1e+16`, `1.5e-05`).
fn python_float_repr(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let abs = v.abs();
    if abs == 0.0 || (1e-4..1e16).contains(&abs) {
        let mut s = format!("{v}");
        if !s.contains('.') {
            s.push_str(".0");
        }
        return s;
    }
    let s = format!("{v:e}");
    let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let (sign, digits) = match exp.strip_prefix('-') {
        Some(d) => ('-', d),
        None => ('+', exp),
    };
    format!("{mantissa}e{sign}{digits:0>2}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const EXAMPLE: &str = r#"{"exchange": "TWSE", "code": "2330", "name": "\u53f0\u7a4d\u96fb", "query_time": 1766996046.0, "full_name": "\u53f0\u7063\u7a4d\u9ad4\u96fb\u8def\u88fd\u9020\u80a1\u4efd\u6709\u9650\u516c\u53f8", "opening_price": "1515.0000", "current_intraday_price": "1530.0000", "highest_price": "1530.0000", "lowest_price": "1510.0000", "updated_time": 1766989800.0}"#;

    #[test]
    fn byte_exact_round_trip_of_the_original_feeder_output() {
        let v = AssetInfoView::decode(EXAMPLE.as_bytes(), "t").unwrap();
        assert_eq!(v.code.as_str(), "2330");
        assert_eq!(v.full_name.as_deref(), Some("台灣積體電路製造股份有限公司"));
        assert_eq!(v.opening_price.unwrap().to_string(), "1515.0000");
        assert_eq!(String::from_utf8(v.encode()).unwrap(), EXAMPLE);
        let key = encode_key(&v.code);
        assert_eq!(key, br#"{"code": "2330"}"#);
    }

    #[test]
    fn converts_to_quote_with_times() {
        let v = AssetInfoView::decode(EXAMPLE.as_bytes(), "t").unwrap();
        let q = v.to_quote().unwrap();
        assert_eq!(q.exchange, Exchange::Twse);
        assert_eq!(q.exchange_time.timestamp(), 1_766_989_800);
        assert_eq!(q.received_at.timestamp(), 1_766_996_046);
        assert_eq!(q.last.unwrap().to_string(), "1530.0000");
        let back = AssetInfoView::from_quote(&q, v.full_name.clone());
        assert_eq!(back, v);
    }

    #[test]
    fn tolerant_decoding_and_clear_errors() {
        // compact JSON, a null price (no trade yet), numbers for prices, an unknown extra field
        let v = AssetInfoView::decode(
            br#"{"exchange":"TWSE","code":"2330","name":"x","query_time":1.5,"full_name":null,"opening_price":null,"current_intraday_price":1530.5,"highest_price":"1","lowest_price":"1","updated_time":2,"extra":1}"#,
            "t",
        )
        .unwrap();
        assert_eq!(v.opening_price, None);
        assert_eq!(v.updated_time, 2.0);
        let err = AssetInfoView::decode(
            br#"{"exchange":"TWSE","code":"2330"}"#,
            "asset.info.view.v1/1@9",
        )
        .unwrap_err();
        let text = format!("{err} {}", std::error::Error::source(&err).unwrap());
        assert!(
            text.contains("asset.info.view.v1/1@9") && text.contains("name"),
            "{text}"
        );
        let err = AssetInfoView::decode(
            br#"{"exchange":"TWSE","code":"2330","name":"x","query_time":1,"opening_price":"abc","updated_time":2}"#,
            "t",
        )
        .unwrap_err();
        assert!(std::error::Error::source(&err)
            .unwrap()
            .to_string()
            .contains("opening_price"));
        assert!(decode_key(b"2330").is_err());
    }

    #[test]
    fn python_float_repr_matches_cpython() {
        for (v, want) in [
            (1766996046.0, "1766996046.0"),
            (1766996046.123456, "1766996046.123456"),
            (0.1, "0.1"),
            (0.0, "0.0"),
            (-2.5, "-2.5"),
            (1e16, "1e+16"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (123456789012345678.0, "1.2345678901234568e+17"),
        ] {
            assert_eq!(python_float_repr(v), want, "{v}");
        }
    }

    #[test]
    fn ensure_ascii_escapes_like_python() {
        #[derive(Serialize)]
        struct S<'a> {
            s: &'a str,
        }
        let out = to_python_json(&S {
            s: "a\"b\\c\n\u{7f}é😀",
        });
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"s": "a\"b\\c\n\u007f\u00e9\ud83d\ude00"}"#
        );
    }

    fn arb_decimal() -> impl Strategy<Value = Option<Decimal>> {
        proptest::option::of((0i64..10_000_000, 0u32..5).prop_map(|(m, s)| Decimal::new(m, s)))
    }

    proptest! {
        #[test]
        fn seed_codec_round_trips(
            code in "[0-9]{4,6}",
            name in "\\PC{0,12}",
            q in 0.0f64..4e9,
            u in 0.0f64..4e9,
            prices in proptest::array::uniform4(arb_decimal()),
        ) {
            let v = AssetInfoView {
                exchange: "TWSE".into(),
                code: SecurityCode::new(code).unwrap(),
                name,
                query_time: q,
                full_name: None,
                opening_price: prices[0],
                current_intraday_price: prices[1],
                highest_price: prices[2],
                lowest_price: prices[3],
                updated_time: u,
            };
            let bytes = v.encode();
            prop_assert!(bytes.is_ascii());
            let back = AssetInfoView::decode(&bytes, "p").unwrap();
            prop_assert_eq!(&back, &v);
            // scale survives: "1.50" stays "1.50"
            for (a, b) in [(back.opening_price, v.opening_price), (back.lowest_price, v.lowest_price)] {
                prop_assert_eq!(a.map(|d| d.to_string()), b.map(|d| d.to_string()));
            }
            prop_assert_eq!(decode_key(&encode_key(&v.code)).unwrap(), v.code);
        }
    }
}
