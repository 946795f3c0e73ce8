//! Which ESMTP extensions the proxy passes on from the upstream's EHLO reply.

use crate::smtp::wire::reply::Reply;

/// The upstream's EHLO reply, keeping only extensions the proxy handles: PIPELINING (the
/// proxy serialises commands itself), SIZE (its own limit, or the upstream's if lower),
/// 8BITMIME and SMTPUTF8 if the upstream has them (bodies and addresses pass unchanged), and
/// ENHANCEDSTATUSCODES (the proxy's own replies use them). CHUNKING, STARTTLS, AUTH, DSN and
/// the rest are dropped: the proxy cannot follow them.
pub fn filter_ehlo(reply: &Reply, max_size: usize) -> Reply {
    let mut size = max_size;
    let (mut eight, mut utf8) = (false, false);
    // One pass over the extensions: every EHLO of every session passes here.
    for l in reply.lines().skip(1) {
        let mut words = l.split_whitespace();
        let Some(keyword) = words.next() else {
            continue;
        };
        if keyword.eq_ignore_ascii_case("8BITMIME") {
            eight = true;
        } else if keyword.eq_ignore_ascii_case("SMTPUTF8") {
            utf8 = true;
        } else if keyword.eq_ignore_ascii_case("SIZE")
            && let Some(n) = words.next().and_then(|n| n.parse::<usize>().ok())
            && n > 0
        {
            size = size.min(n);
        }
    }
    let mut digits = itoa::Buffer::new();
    let size = ["SIZE ", digits.format(size)].concat();
    let mut lines = vec![reply.first_line(), "PIPELINING", &size];
    if eight {
        lines.push("8BITMIME");
    }
    if utf8 {
        lines.push("SMTPUTF8");
    }
    lines.push("ENHANCEDSTATUSCODES");
    Reply::with_lines(reply.code, lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_what_the_proxy_follows_and_the_lower_size() {
        let upstream = Reply::with_lines(
            250,
            [
                "mx.example",
                "STARTTLS",
                "size 5000",
                "8bitmime",
                "CHUNKING",
                "SMTPUTF8",
            ],
        );
        let got = filter_ehlo(&upstream, 10_000);
        assert!(got.lines().eq([
            "mx.example",
            "PIPELINING",
            "SIZE 5000",
            "8BITMIME",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES"
        ]));
        // A SIZE of 0 (no limit) or no number leaves the proxy's own; nothing else offered.
        let upstream = Reply::with_lines(250, ["mx.example", "SIZE 0", "SIZE", "SIZE x"]);
        let got = filter_ehlo(&upstream, 10_000);
        assert!(got.lines().eq([
            "mx.example",
            "PIPELINING",
            "SIZE 10000",
            "ENHANCEDSTATUSCODES"
        ]));
        // The greeting line is never read as an extension.
        let got = filter_ehlo(&Reply::new(250, "8BITMIME"), 10);
        assert!(
            got.lines()
                .eq(["8BITMIME", "PIPELINING", "SIZE 10", "ENHANCEDSTATUSCODES"])
        );
    }
}
