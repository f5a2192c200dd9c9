//! The escaping of each context Kibana renders into.

use super::{Escape, MARKDOWN_SPECIAL, push_json_escaped};

pub(super) fn push_escaped(out: &mut String, text: &str, escape: Escape) {
    match escape {
        Escape::None => out.push_str(text),
        Escape::Html => {
            for c in text.chars() {
                match c {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '"' => out.push_str("&quot;"),
                    '\'' => out.push_str("&#39;"),
                    '/' => out.push_str("&#x2F;"),
                    '`' => out.push_str("&#x60;"),
                    '=' => out.push_str("&#x3D;"),
                    c => out.push(c),
                }
            }
        }
        Escape::Json => push_json_escaped(out, text),
        Escape::Markdown => {
            for c in text.chars() {
                if MARKDOWN_SPECIAL.contains(c) {
                    out.push('\\');
                }
                out.push(c);
            }
        }
        Escape::Slack => push_slack_escaped(out, text),
    }
}

/// Kibana's Slack escape: `_` and `*` cannot be escaped in Slack mrkdwn, so such text goes into
/// a code span, unless it is a link (which Slack must still see as one).
pub(super) fn push_slack_escaped(out: &mut String, text: &str) {
    if text.contains(['_', '*']) && !parses_as_url(text) {
        out.push('`');
        out.push_str(&text.replace('`', "'"));
        out.push('`');
        return;
    }
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' => out.push('\''),
            c => out.push(c),
        }
    }
}

/// Whether JavaScript's `new URL(text)` would succeed, which is Kibana's test: the `url`
/// crate implements the same WHATWG parser. So "note: disk_full" counts as a URL too.
pub(super) fn parses_as_url(text: &str) -> bool {
    reqwest::Url::parse(text).is_ok()
}
