//! Which ESMTP extensions the proxy passes on from the upstream's EHLO reply.

use crate::smtp::wire::reply::Reply;

/// The upstream's EHLO reply, keeping only extensions the proxy handles: PIPELINING (the
/// proxy serialises commands itself), SIZE (its own limit, or the upstream's if lower),
/// 8BITMIME and SMTPUTF8 if the upstream has them (bodies and addresses pass unchanged), and
/// ENHANCEDSTATUSCODES (the proxy's own replies use them). CHUNKING, STARTTLS, AUTH, DSN and
/// the rest are dropped: the proxy cannot follow them.
pub fn filter_ehlo(reply: &Reply, max_size: usize) -> Reply {
    let mut size = max_size;
    let has = |kw: &str| {
        reply.lines().skip(1).any(|l| {
            l.split_whitespace()
                .next()
                .is_some_and(|k| k.eq_ignore_ascii_case(kw))
        })
    };
    let eight = has("8BITMIME");
    let utf8 = has("SMTPUTF8");
    for l in reply.lines().skip(1) {
        let mut words = l.split_whitespace();
        if words.next().is_some_and(|k| k.eq_ignore_ascii_case("SIZE"))
            && let Some(n) = words.next().and_then(|n| n.parse::<usize>().ok())
            && n > 0
        {
            size = size.min(n);
        }
    }
    let size = format!("SIZE {size}");
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
