//! What mail-parser's work on one header block will cost, bounded before it starts.
//!
//! mail-parser reads the MIME fields of a header block (Content-Type, Content-Disposition,
//! Content-ID, Content-Description, Content-Location, Content-Transfer-Encoding) with
//! structured parsers that are linear on real mail but superlinear on two hostile shapes
//! (docs/performance.md, "Worst-case parsing", measured on mail-parser 0.11.9):
//!
//! - **RFC 2231 parameters.** `merge_continuations` rebuilds the merged value for every
//!   continuation (`format!("{}{value}", old.value)`) and looks each name up by a linear
//!   search, so N continuations cost O(N²). Bounded here by the number of parameters of one
//!   field, counted as its `;` separators plus its continuation lines (a folded line starts
//!   a parameter without a `;`).
//! - **Unfinished RFC 2047 encoded words.** A `=?XX?q?` start that never finds its `?=`
//!   scans to the end of the field before giving up, and the parser then retries at the next
//!   `=?`: K starts cost K times the field.
//! - **Slow per byte**: every `'` in an RFC 2231 extended value costs mail-parser an
//!   allocation and a search of the field's parameters (about 60 ns, 25 times a byte of
//!   plain mail), and continuations of different names a search each (P² per field).
//!
//! All but the parameter count are charged, as *work* in units of about one byte scanned,
//! against a budget for the whole message (a few times its size, `mime::work_budget`): for
//! every `=?` in a MIME field, the bytes from it to the end of the field; for every `'` in
//! a parameter field, [`QUOTE_COST`]; for a parameter field of P parameters,
//! P² × [`PARAMETER_COST`]. Real mail spends a sliver of the budget; hostile mail that would
//! spend more is not parsed, so extraction costs a small multiple of reading the message
//! once, whatever its shape (docs/performance.md, "Worst-case parsing").
//!
//! Fields are told apart the way mail-parser does it, not the way RFC 5322 says: the name
//! is every non-blank byte before the first `:` that follows one, so `Con tent-Type` and
//! `::Content-Type` are Content-Type to it, and they are to this count.

/// Work charged per `'` in a parameter field (mail-parser's ~60 ns, at ~2.5 ns a unit).
pub(crate) const QUOTE_COST: u64 = 25;

/// Work charged per pair of parameters of one field (its name search per continuation).
pub(crate) const PARAMETER_COST: u64 = 4;

/// The cost of one header block's MIME fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct HeaderCost {
    /// The most parameters of any Content-Type or Content-Disposition field.
    pub parameters: u32,
    /// Work beyond reading the block once: encoded-word rescans, quotes, parameter pairs.
    pub work: u64,
}

/// The MIME fields mail-parser parses with structure under `with_mime_headers()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Content-Type, Content-Disposition: parameters.
    Parameters,
    /// Content-ID, -Description, -Location, -Transfer-Encoding: text with encoded words.
    Text,
}

/// Measures `block` (the header lines of one entity, without the empty line).
pub(crate) fn header_cost(block: &[u8]) -> HeaderCost {
    let mut cost = HeaderCost::default();
    // The field mail-parser has open, if any: `Some(None)` for a field it reads raw.
    let mut open: Option<Option<(Kind, usize, u32)>> = None;
    let mut at = 0;
    // Lines found with memchr: a per-byte split was a fifth of a small message's header
    // cost.
    let lines = memchr::memchr_iter(b'\n', block)
        .map(|i| i + 1)
        .chain((block.last() != Some(&b'\n')).then_some(block.len()))
        .scan(0, |from, end| {
            let line = &block[*from..end];
            *from = end;
            Some(line)
        })
        .filter(|line| !line.is_empty());
    for line in lines {
        let folded = matches!(line.first(), Some(b' ' | b'\t'));
        // A folded line continues an open field; otherwise (and also after a line that
        // opened none) mail-parser skips the blanks and reads a new field name.
        if !(folded && open.is_some()) {
            if let Some(Some((kind, start, parameters))) = open.take() {
                close(&mut cost, &block[start..at], kind, parameters);
            }
            open = field_name(line).map(|kind| kind.map(|k| (k, at, 0)));
        } else if let Some(Some((_, _, parameters))) = open.as_mut() {
            *parameters = parameters.saturating_add(1);
        }
        if let Some(Some((_, _, parameters))) = open.as_mut() {
            let separators = memchr::memchr_iter(b';', line).count() as u32;
            *parameters = parameters.saturating_add(separators);
        }
        at += line.len();
    }
    if let Some(Some((kind, start, parameters))) = open {
        close(&mut cost, &block[start..], kind, parameters);
    }
    cost
}

fn close(cost: &mut HeaderCost, field: &[u8], kind: Kind, parameters: u32) {
    // Each `=?` (found by its `=`: building a substring searcher per field cost more than
    // the search).
    let starts = memchr::memchr_iter(b'=', field).filter(|&i| field.get(i + 1) == Some(&b'?'));
    let mut work: u64 = starts.map(|i| (field.len() - i) as u64).sum();
    if kind == Kind::Parameters {
        cost.parameters = cost.parameters.max(parameters);
        let quotes = memchr::memchr_iter(b'\'', field).count() as u64;
        let p = u64::from(parameters);
        work = work
            .saturating_add(quotes.saturating_mul(QUOTE_COST))
            .saturating_add(p.saturating_mul(p).saturating_mul(PARAMETER_COST));
    }
    cost.work = cost.work.saturating_add(work);
}

/// The field `line` opens, read as mail-parser reads a field name (skip blanks and colons,
/// then take every non-blank byte up to the next colon): `None` when it opens none (no
/// colon after a name), `Some(None)` for a field that is not a structured MIME field.
fn field_name(line: &[u8]) -> Option<Option<Kind>> {
    const LONGEST: usize = "content-transfer-encoding".len();
    let mut name = [0u8; LONGEST];
    let mut len = 0;
    let mut started = false;
    let mut long = false;
    let mut colon = false;
    for &b in line {
        match b {
            b':' if started => {
                colon = true;
                break;
            }
            b':' => {}
            b'\n' => break,
            _ if b.is_ascii_whitespace() => {}
            _ => {
                started = true;
                match name.get_mut(len) {
                    Some(slot) => *slot = b.to_ascii_lowercase(),
                    None => long = true,
                }
                len += 1;
            }
        }
    }
    if !colon {
        return None;
    }
    if long {
        return Some(None);
    }
    Some(match &name[..len] {
        b"content-type" | b"content-disposition" => Some(Kind::Parameters),
        b"content-id"
        | b"content-description"
        | b"content-location"
        | b"content-transfer-encoding" => Some(Kind::Text),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_parameters_with_folds_and_separators() {
        let block = b"Subject: a; b; c\r\n\
            Content-Disposition: attachment;\r\n filename*0=a\r\n filename*1=b\r\n\
            Content-Type: text/plain; charset=us-ascii\r\n";
        // attachment; (1) + two folded lines (2).
        assert_eq!(header_cost(block).parameters, 3);
    }

    #[test]
    fn names_are_read_as_mail_parser_reads_them() {
        for name in [
            "Content-Type",
            "content-TYPE",
            "Con tent-Type",
            "::Content-Type",
            " Content-Type ",
            "Content-Type\x0c",
        ] {
            let block = format!("{name}: a;b;c;d\r\n");
            assert_eq!(header_cost(block.as_bytes()).parameters, 3, "{name:?}");
        }
        assert_eq!(header_cost(b"X-Content-Type: a;b;c\r\n").parameters, 0);
        // After a line that opens no field, a folded line is read as a new field.
        assert_eq!(header_cost(b"junk\r\n Content-Type: a;b\r\n").parameters, 1);
        assert_eq!(
            header_cost(b"References: <a>;\r\n <b>;\r\n <c>\r\n").parameters,
            0
        );
    }

    #[test]
    fn charges_every_encoded_word_start_to_the_end_of_its_field() {
        let block = b"Content-Description: =?ab?q?x =?ab?q?x\r\nSubject: =?ab?q?\r\n";
        let field = "Content-Description: =?ab?q?x =?ab?q?x\r\n".len() as u64;
        let first = field - "Content-Description: ".len() as u64;
        let second = field - "Content-Description: =?ab?q?x ".len() as u64;
        assert_eq!(header_cost(block).work, first + second);
    }

    #[test]
    fn charges_quotes_and_parameter_pairs_in_parameter_fields() {
        let block = b"Content-Disposition: attachment; filename*=utf-8'en'a%20b\r\n";
        assert_eq!(header_cost(block).work, 2 * QUOTE_COST + PARAMETER_COST);
        // Elsewhere a quote costs nothing.
        assert_eq!(header_cost(b"Subject: it's\r\n").work, 0);
    }
}
