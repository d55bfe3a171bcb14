//! The exchanges' industry classification (產業別): the two-digit codes that company profiles
//! carry (`t187ap03_L`, TPEx `mopsfin_t187ap03_O`) and their names. TWSE and TPEx share the
//! codes.

/// Every code and its name, as the exchanges publish them.
pub const INDUSTRIES: &[(&str, &str)] = &[
    ("01", "水泥工業"),
    ("02", "食品工業"),
    ("03", "塑膠工業"),
    ("04", "紡織纖維"),
    ("05", "電機機械"),
    ("06", "電器電纜"),
    ("07", "化學生技醫療"),
    ("08", "玻璃陶瓷"),
    ("09", "造紙工業"),
    ("10", "鋼鐵工業"),
    ("11", "橡膠工業"),
    ("12", "汽車工業"),
    ("13", "電子工業"),
    ("14", "建材營造業"),
    ("15", "航運業"),
    ("16", "觀光餐旅"),
    ("17", "金融保險業"),
    ("18", "貿易百貨業"),
    ("19", "綜合"),
    ("20", "其他業"),
    ("21", "化學工業"),
    ("22", "生技醫療業"),
    ("23", "油電燃氣業"),
    ("24", "半導體業"),
    ("25", "電腦及週邊設備業"),
    ("26", "光電業"),
    ("27", "通信網路業"),
    ("28", "電子零組件業"),
    ("29", "電子通路業"),
    ("30", "資訊服務業"),
    ("31", "其他電子業"),
    ("32", "文化創意業"),
    ("33", "農業科技業"),
    ("34", "電子商務"),
    ("35", "綠能環保"),
    ("36", "數位雲端"),
    ("37", "運動休閒"),
    ("38", "居家生活"),
    ("80", "管理股票"),
    ("91", "存託憑證"),
];

/// The name of an industry code (`24` → `半導體業`); `None` for a code not in
/// [`INDUSTRIES`].
///
/// ```
/// use experiment_twse::parse::industry_name;
/// assert_eq!(industry_name("24"), Some("半導體業"));
/// assert_eq!(industry_name("99"), None);
/// ```
pub fn industry_name(code: &str) -> Option<&'static str> {
    let code = code.trim();
    INDUSTRIES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, name)| *name)
}
