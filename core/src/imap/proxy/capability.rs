//! Which of the server's capabilities the proxy passes on to the client, and the filter that
//! rewrites them wherever a server lists them: the greeting's and a login's
//! `[CAPABILITY …]` response code, and the untagged `CAPABILITY` response.
//!
//! It is an allow-list: a capability the proxy does not know may change what FETCH returns,
//! and what the proxy cannot read it cannot hold. So `CONDSTORE` and `QRESYNC` (FETCH
//! responses gain `MODSEQ`, EXPUNGE becomes `VANISHED`), `NOTIFY` (unsolicited FETCH
//! responses), `PREVIEW` and `SNIPPET` (body text in FETCH), `URLAUTH` and `URL-PARTIAL`
//! (content fetched by URL), `COMPRESS` and `STARTTLS` (the proxy could no longer read the
//! stream), and every vendor extension are all left out.

/// Capabilities passed on as they are.
const ALLOWED: &[&str] = &[
    "IMAP4REV1",
    "SASL-IR",
    "LOGIN-REFERRALS",
    "ID",
    "ENABLE",
    "IDLE",
    "NAMESPACE",
    "UIDPLUS",
    "CHILDREN",
    "UNSELECT",
    "MOVE",
    "MULTIAPPEND",
    "CATENATE",
    "LITERAL+",
    "LITERAL-",
    "BINARY",
    "SORT",
    "SORT=DISPLAY",
    "ESORT",
    "ESEARCH",
    "SEARCHRES",
    "WITHIN",
    "LIST-EXTENDED",
    "LIST-STATUS",
    "SPECIAL-USE",
    "CREATE-SPECIAL-USE",
    "STATUS=SIZE",
    "SAVEDATE",
    "QUOTA",
    "ACL",
    "LOGINDISABLED",
    "UTF8=ACCEPT",
    "OBJECTID",
];

/// Capabilities passed on whatever follows their prefix (`AUTH=PLAIN`, `THREAD=REFS`…).
const ALLOWED_PREFIXES: &[&str] = &[
    "AUTH=",
    "THREAD=",
    "I18NLEVEL=",
    "CONTEXT=",
    "RIGHTS=",
    "QUOTA=",
    "APPENDLIMIT",
];

/// Whether the proxy passes capability `name` on.
pub fn allowed(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ALLOWED.contains(&upper.as_str()) || ALLOWED_PREFIXES.iter().any(|p| upper.starts_with(p))
}

/// The response line with every capability list in it filtered, or `None` when it holds no
/// capability list (forward it unchanged). `line` is one response line with its CRLF; a
/// response with literals never lists capabilities.
pub fn filter_response(line: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(line).ok()?;
    let upper = text.to_ascii_uppercase();
    // The untagged CAPABILITY response: `* CAPABILITY IMAP4rev1 …`.
    if let Some(rest) = upper.strip_prefix("* CAPABILITY ") {
        let start = text.len() - rest.len();
        let end = text.trim_end_matches(['\r', '\n']).len();
        return Some(splice(text, start, end));
    }
    // A response code: `… [CAPABILITY IMAP4rev1 …] …`.
    let code = upper.find("[CAPABILITY ")?;
    let start = code + "[CAPABILITY ".len();
    let end = start + text[start..].find(']')?;
    Some(splice(text, start, end))
}

/// `text` with the space-separated capabilities between `start` and `end` filtered.
fn splice(text: &str, start: usize, end: usize) -> Vec<u8> {
    let kept: Vec<&str> = text[start..end]
        .split(' ')
        .filter(|c| !c.is_empty() && allowed(c))
        .collect();
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start]);
    out.push_str(&kept.join(" "));
    out.push_str(&text[end..]);
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dovecot_greeting_loses_starttls_and_keeps_the_rest() {
        let greeting = b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE \
LITERAL+ STARTTLS AUTH=PLAIN] Dovecot ready.\r\n";
        let filtered = filter_response(greeting).expect("a capability list");
        assert_eq!(
            filtered,
            b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ \
AUTH=PLAIN] Dovecot ready.\r\n"
        );
    }

    #[test]
    fn untagged_capability_after_login_drops_what_changes_fetch() {
        let line = b"* CAPABILITY IMAP4rev1 CONDSTORE QRESYNC NOTIFY PREVIEW=FUZZY \
SNIPPET=FUZZY COMPRESS=DEFLATE URLAUTH BINARY MOVE THREAD=REFS XAPPLEPUSHSERVICE\r\n";
        assert_eq!(
            filter_response(line).expect("a capability list"),
            b"* CAPABILITY IMAP4rev1 BINARY MOVE THREAD=REFS\r\n"
        );
    }

    #[test]
    fn tagged_login_ok_with_capability_code_is_filtered() {
        let line = b"a1 OK [CAPABILITY IMAP4rev1 QRESYNC IDLE] Logged in\r\n";
        assert_eq!(
            filter_response(line).expect("a capability list"),
            b"a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n"
        );
    }

    #[test]
    fn lines_without_capabilities_are_left_alone() {
        assert_eq!(filter_response(b"* 3 EXISTS\r\n"), None);
        assert_eq!(
            filter_response(b"a1 OK [READ-WRITE] Select completed\r\n"),
            None
        );
        // Lower case is still a capability response.
        assert_eq!(
            filter_response(b"* capability imap4rev1 starttls\r\n").expect("a capability list"),
            b"* capability imap4rev1\r\n"
        );
    }
}
