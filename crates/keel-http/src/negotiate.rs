//! Content negotiation for error responses: does the client prefer an HTML page to JSON?

use http::HeaderValue;

/// Whether the `Accept` header ranks `text/html` strictly above `application/json`. Ties, a missing
/// header and anything unparsable mean JSON, the format API clients and tools expect.
pub fn prefers_html(accept: Option<&HeaderValue>) -> bool {
    let Some(accept) = accept.and_then(|value| value.to_str().ok()) else {
        return false;
    };
    quality(accept, "text", "html") > quality(accept, "application", "json")
}

/// The quality the `Accept` header gives `kind/subtype`, from its most specific matching range.
fn quality(accept: &str, kind: &str, subtype: &str) -> f32 {
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let Some((range_kind, range_subtype)) =
            parts.next().and_then(|media| media.split_once('/'))
        else {
            continue;
        };
        let specificity = match (range_kind, range_subtype) {
            (k, s) if k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(subtype) => 2,
            (k, "*") if k.eq_ignore_ascii_case(kind) => 1,
            ("*", "*") => 0,
            _ => continue,
        };
        let quality = parts
            .filter_map(|parameter| parameter.strip_prefix("q="))
            .find_map(|value| value.parse::<f32>().ok())
            .unwrap_or(1.0);
        if best.is_none_or(|(known, _)| specificity > known) {
            best = Some((specificity, quality));
        }
    }
    best.map_or(0.0, |(_, quality)| quality)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers_get_html_and_everyone_else_json() {
        let cases = [
            (
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
                true,
            ),
            ("text/html", true),
            ("text/*;q=0.9, application/json;q=0.5", true),
            ("application/json", false),
            ("*/*", false),
            ("application/json, text/html", false),
            ("text/html;q=0.1, application/json", false),
            ("", false),
            ("garbage", false),
        ];
        for (accept, html) in cases {
            let header = HeaderValue::from_static(accept);
            assert_eq!(prefers_html(Some(&header)), html, "{accept}");
        }
        assert!(!prefers_html(None));
    }
}
