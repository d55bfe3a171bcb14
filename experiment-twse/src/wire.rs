//! Serde mirrors of TWSE JSON that borrow from the body.
//!
//! Reading a body into `HashMap<String, serde_json::Value>` turned every key and every cell
//! into a heap `String` and hashed every key: about half of the time of a `STOCK_DAY_ALL`
//! parse (docs/performance-indicators-parsing.md). These types keep the text in the body
//! (a string is copied only when it has escapes) and keep only the fields read.
//!
//! They accept exactly what the maps did: every value is still parsed (so a bad escape or an
//! out-of-range number anywhere in a row rejects the body as before), a key given twice keeps
//! its last value, and a row that is not an object fails with the same "expected a map".

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// One JSON value where TWSE puts text: usually a string, occasionally a number or `null`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    /// `null`.
    Null,
    /// A string, borrowed from the body unless it had escapes.
    Str(Cow<'a, str>),
    /// A number, printed as `serde_json` prints it when asked for its text.
    Number(serde_json::Number),
    /// A boolean, array or object: kept whole, printed as JSON when asked for its text.
    Other(serde_json::Value),
}

impl Cell<'_> {
    /// The cell as text: a string as it is, `null` empty, anything else as JSON.
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match self {
            Cell::Null => Cow::Borrowed(""),
            Cell::Str(s) => Cow::Borrowed(s),
            Cell::Number(n) => Cow::Owned(n.to_string()),
            Cell::Other(v) => Cow::Owned(v.to_string()),
        }
    }
}

/// The text of a cell that may be missing; missing or `null` is empty.
pub(crate) fn text<'c>(cell: Option<&'c Cell<'_>>) -> Cow<'c, str> {
    cell.map_or(Cow::Borrowed(""), Cell::text)
}

impl<'de: 'a, 'a> Deserialize<'de> for Cell<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CellVisitor<'a>(std::marker::PhantomData<Cell<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for CellVisitor<'a> {
            type Value = Cell<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any valid JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cell<'a>, E> {
                Ok(Cell::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cell<'a>, E> {
                Ok(Cell::Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Cell<'a>, E> {
                Ok(Cell::Str(Cow::Owned(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Cell<'a>, E> {
                Ok(Cell::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Cell<'a>, E> {
                Ok(Cell::Null)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cell<'a>, E> {
                Ok(Cell::Number(v.into()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cell<'a>, E> {
                Ok(Cell::Number(v.into()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cell<'a>, E> {
                // As `serde_json::Value` does: a float JSON cannot hold becomes null.
                Ok(serde_json::Number::from_f64(v).map_or(Cell::Null, Cell::Number))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Cell<'a>, E> {
                Ok(Cell::Other(serde_json::Value::Bool(v)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Cell<'a>, A::Error> {
                let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(Cell::Other(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Cell<'a>, A::Error> {
                let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Cell::Other(v))
            }
        }
        d.deserialize_any(CellVisitor(std::marker::PhantomData))
    }
}

/// A row of a classic-site table (`data: [[...], ...]`): its cells in column order.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Row<'a>(pub(crate) Vec<Cell<'a>>);

impl<'a> std::ops::Deref for Row<'a> {
    type Target = [Cell<'a>];
    fn deref(&self) -> &[Cell<'a>] {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Row<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct RowVisitor<'a>(std::marker::PhantomData<Row<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for RowVisitor<'a> {
            type Value = Row<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Row<'a>, A::Error> {
                // JSON gives no length: start with room for a MI_INDEX row (16 columns)
                // rather than growing 4, 8, 16 on every row.
                let mut cells = Vec::with_capacity(seq.size_hint().unwrap_or(16));
                while let Some(cell) = seq.next_element()? {
                    cells.push(cell);
                }
                Ok(Row(cells))
            }
        }
        d.deserialize_seq(RowVisitor(std::marker::PhantomData))
    }
}

/// An object key, borrowed from the body unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A value that is not kept but still parsed whole, as `serde_json::Value` parses it: unlike
/// `IgnoredAny`, it rejects invalid escapes and out-of-range numbers.
struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SkipVisitor;
        impl<'de> Visitor<'de> for SkipVisitor {
            type Value = Skip;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any valid JSON value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_none<E: de::Error>(self) -> Result<Skip, E> {
                Ok(Skip)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
                while seq.next_element::<Skip>()?.is_some() {}
                Ok(Skip)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
                while map.next_entry::<Skip, Skip>()?.is_some() {}
                Ok(Skip)
            }
        }
        d.deserialize_any(SkipVisitor)
    }
}

/// A flat JSON object read into a struct of the cells we use (`Option<Cell>`, `None` when the
/// key is absent); other keys are parsed and dropped.
macro_rules! wire_row {
    ($(#[$doc:meta])* $name:ident { $($(#[$fdoc:meta])* $field:ident: $key:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Default)]
        pub(crate) struct $name<'a> {
            $($(#[$fdoc])* pub(crate) $field: Option<Cell<'a>>,)*
        }

        impl<'de: 'a, 'a> Deserialize<'de> for $name<'a> {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct RowVisitor<'a>(std::marker::PhantomData<$name<'a>>);
                impl<'de: 'a, 'a> Visitor<'de> for RowVisitor<'a> {
                    type Value = $name<'a>;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a map")
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                        let mut row = $name::default();
                        while let Some(Key(key)) = map.next_key()? {
                            match &*key {
                                $($key => row.$field = Some(map.next_value()?),)*
                                _ => {
                                    map.next_value::<Skip>()?;
                                }
                            }
                        }
                        Ok(row)
                    }
                }
                d.deserialize_map(RowVisitor(std::marker::PhantomData))
            }
        }
    };
}

wire_row! {
    /// A row of `exchangeReport/STOCK_DAY_ALL` (OpenAPI).
    StockDayAllRow {
        date: "Date",
        code: "Code",
        name: "Name",
        trade_volume: "TradeVolume",
        trade_value: "TradeValue",
        opening_price: "OpeningPrice",
        highest_price: "HighestPrice",
        lowest_price: "LowestPrice",
        closing_price: "ClosingPrice",
        change: "Change",
        transaction: "Transaction",
    }
}

wire_row! {
    /// An item of MIS `msgArray` (`getStockInfo.jsp`, `getOddInfo.jsp`): the fields read.
    MisItem {
        /// Code.
        c: "c",
        /// Short name.
        n: "n",
        /// `tse` or `otc`.
        ex: "ex",
        /// `t` for an index channel.
        it: "it",
        /// Exchange time, epoch ms.
        tlong: "tlong",
        /// Date `YYYYMMDD`, when `tlong` is missing.
        d: "d",
        /// Time `HH:MM:SS`, when `tlong` is missing.
        t: "t",
        /// Last trade.
        z: "z",
        /// Its volume.
        tv: "tv",
        /// The odd-lot board's last trade size.
        s: "s",
        /// Cumulative volume.
        v: "v",
        /// Open.
        o: "o",
        /// High.
        h: "h",
        /// Low.
        l: "l",
        /// Reference price.
        y: "y",
        /// Limit up.
        u: "u",
        /// Limit down.
        w: "w",
        /// Ask prices, `_`-joined.
        a: "a",
        /// Ask volumes.
        f: "f",
        /// Bid prices.
        b: "b",
        /// Bid volumes.
        g: "g",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn cell_text(v: Option<&serde_json::Value>) -> String {
        match v {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        }
    }

    /// The typed rows say what the maps they replace said, for the same bytes.
    #[test]
    fn rows_read_as_the_maps_did() {
        let bodies: &[&str] = &[
            r#"[{"Code":"2330","Code":"2317","Date":null,"Name":"\u53f0\u7a4d\u96fb","TradeVolume":12,"Change":1.5e0,"Transaction":true,"x":[1,{"y":null}]}]"#,
            r#"[{"Code":"1","OpeningPrice":[1,2],"HighestPrice":{"a":"b"},"LowestPrice":-3,"ClosingPrice":18446744073709551615}]"#,
            r#"[{}, {"Date":"1150708"}]"#,
        ];
        for body in bodies {
            let maps: Vec<HashMap<String, serde_json::Value>> = serde_json::from_str(body).unwrap();
            let rows: Vec<StockDayAllRow<'_>> = serde_json::from_str(body).unwrap();
            for (m, r) in maps.iter().zip(&rows) {
                let pairs = [
                    ("Date", &r.date),
                    ("Code", &r.code),
                    ("Name", &r.name),
                    ("TradeVolume", &r.trade_volume),
                    ("TradeValue", &r.trade_value),
                    ("OpeningPrice", &r.opening_price),
                    ("HighestPrice", &r.highest_price),
                    ("LowestPrice", &r.lowest_price),
                    ("ClosingPrice", &r.closing_price),
                    ("Change", &r.change),
                    ("Transaction", &r.transaction),
                ];
                for (key, cell) in pairs {
                    assert_eq!(m.contains_key(key), cell.is_some(), "{key} in {body}");
                    assert_eq!(
                        cell_text(m.get(key)),
                        text(cell.as_ref()),
                        "{key} in {body}"
                    );
                }
            }
        }
    }

    /// Whatever the maps rejected, the rows reject with the same message.
    #[test]
    fn rows_reject_what_the_maps_rejected() {
        let bodies: &[&str] = &[
            r#"{"Code":"1"}"#,
            r#"[["1"]]"#,
            r#"[null]"#,
            r#"[{"Code":"1","other":"\ud800"}]"#,
            r#"[{"Code":"1","other":1e999}]"#,
            r#"[{"Code":"1","other":[1,}]"#,
            r#"[{"Code":"1"}"#,
        ];
        for body in bodies {
            let maps = serde_json::from_str::<Vec<HashMap<String, serde_json::Value>>>(body)
                .map(|_| ())
                .unwrap_err();
            let rows = serde_json::from_str::<Vec<StockDayAllRow<'_>>>(body)
                .map(|_| ())
                .unwrap_err();
            assert_eq!(maps.to_string(), rows.to_string(), "{body}");
        }
        // Invalid UTF-8 in a key or value not read still rejects the body.
        let mut bad = br#"[{"Code":"1","other":"#.to_vec();
        bad.extend_from_slice(b"\"\xff\"}]");
        let maps = serde_json::from_slice::<Vec<HashMap<String, serde_json::Value>>>(&bad)
            .map(|_| ())
            .unwrap_err();
        let rows = serde_json::from_slice::<Vec<StockDayAllRow<'_>>>(&bad)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(maps.to_string(), rows.to_string());
    }
}
