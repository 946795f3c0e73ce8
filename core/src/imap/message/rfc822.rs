//! The RFC 822 / MIME lexer Dovecot reads header values with (`lib-mail/rfc822-parser.c` and
//! `rfc2231-parser.c` of Dovecot 2.3): comments, atoms, MIME tokens, quoted strings, phrases,
//! domains, the Content-Type value (its parameters are in `params`).
//!
//! A port rather than a general parser, because BODYSTRUCTURE, ENVELOPE and the part tree must
//! come out as Dovecot makes them for the same bytes (docs/imap.md, "Serving a rewritten
//! message"): what counts as a token, what a broken value yields, how a parameter split over
//! `name*0*`/`name*1` is merged. Every step returns [`Step`], Dovecot's 1/0/-1. Reading past
//! the end yields a NUL byte, as Dovecot reads the NUL after its C strings.

/// What a lexer step found after it: more input, the end, or invalid input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Invalid input (Dovecot's -1).
    Error,
    /// The value was read and the input ends (0).
    End,
    /// The value was read and more input follows (1).
    More,
}

impl Step {
    /// Dovecot's `ret > 0`.
    pub(crate) fn more(self) -> bool {
        self == Step::More
    }
}

/// U+FFFD, what Dovecot writes for a NUL inside a quoted string or comment when asked to.
pub(crate) const NUL_REPLACEMENT: &[u8] = "\u{fffd}".as_bytes();

/// 1: atext; 2: alphanumeric (and 8-bit); 4: atext but a MIME tspecial (`/`, `=`, `?`).
const fn atext_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = if b.is_ascii_alphanumeric() || b >= 0x80 {
            2
        } else {
            match b {
                b'/' | b'=' | b'?' => 4,
                b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'^' | b'_'
                | b'`' | b'{' | b'|' | b'}' | b'~' => 1,
                _ => 0,
            }
        };
        c += 1;
    }
    t
}
const ATEXT: [u8; 256] = atext_table();

/// RFC 5322 atext (8-bit bytes included, as Dovecot does).
pub(crate) fn is_atext(b: u8) -> bool {
    ATEXT[usize::from(b)] != 0
}

/// A MIME token byte (RFC 2045 §5.1): atext less `/`, `=`, `?`.
fn is_token(b: u8) -> bool {
    ATEXT[usize::from(b)] & 3 != 0
}

/// A cursor over one header value.
pub(crate) struct Lexer<'a> {
    data: &'a [u8],
    pub(crate) pos: usize,
    /// The text of the last comment skipped, when asked for (address parsing).
    pub(crate) last_comment: Option<Vec<u8>>,
    /// Write U+FFFD for a NUL in quoted strings, comments and domain literals.
    pub(crate) replace_nul: bool,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            pos: 0,
            last_comment: None,
            replace_nul: false,
        }
    }

    /// The byte at the cursor; NUL past the end.
    pub(crate) fn peek(&self) -> u8 {
        self.data.get(self.pos).copied().unwrap_or(0)
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    fn after(&self) -> Step {
        if self.at_end() { Step::End } else { Step::More }
    }

    /// Skips a comment (the cursor is on its `(`), nested ones included.
    pub(crate) fn skip_comment(&mut self) -> Step {
        if let Some(c) = &mut self.last_comment {
            c.clear();
        }
        self.pos += 1;
        let mut start = self.pos;
        let mut level = 1;
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                0 if self.replace_nul => {
                    if let Some(c) = &mut self.last_comment {
                        c.extend_from_slice(&self.data[start..self.pos]);
                        c.extend_from_slice(NUL_REPLACEMENT);
                    }
                    start = self.pos + 1;
                }
                b'(' => level += 1,
                b')' => {
                    level -= 1;
                    if level == 0 {
                        if let Some(c) = &mut self.last_comment {
                            c.extend_from_slice(&self.data[start..self.pos]);
                        }
                        self.pos += 1;
                        return self.after();
                    }
                }
                b'\n' => {
                    if let Some(c) = &mut self.last_comment {
                        c.extend_from_slice(
                            &self.data[start..unfolded_end(self.data, start, self.pos)],
                        );
                        start = self.pos + 1;
                    }
                }
                b'\\' => {
                    self.pos += 1;
                    if self.pos >= self.data.len() {
                        return Step::Error;
                    }
                    if matches!(self.data[self.pos], b'\r' | b'\n' | 0) {
                        self.pos -= 1;
                    } else {
                        if let Some(c) = &mut self.last_comment {
                            c.extend_from_slice(&self.data[start..self.pos - 1]);
                        }
                        start = self.pos;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        Step::Error
    }

    /// Skips whitespace (CR and LF included) and comments.
    pub(crate) fn skip_lwsp(&mut self) -> Step {
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                b' ' | b'\t' | b'\r' | b'\n' => self.pos += 1,
                b'(' => {
                    if self.skip_comment() == Step::Error {
                        return Step::Error;
                    }
                }
                _ => break,
            }
        }
        self.after()
    }

    pub(crate) fn parse_atom(&mut self, out: &mut Vec<u8>) -> Step {
        if self.at_end() || !is_atext(self.peek()) {
            return Step::Error;
        }
        let start = self.pos;
        while self.pos < self.data.len() && is_atext(self.data[self.pos]) {
            self.pos += 1;
        }
        out.extend_from_slice(&self.data[start..self.pos]);
        if self.at_end() {
            Step::End
        } else {
            self.skip_lwsp()
        }
    }

    /// `1*atext *("." 1*atext)`, with whitespace allowed around the dots (RFC 822).
    pub(crate) fn parse_dot_atom(&mut self, out: &mut Vec<u8>) -> Step {
        if self.at_end() || !is_atext(self.peek()) {
            return Step::Error;
        }
        let mut start = self.pos;
        self.pos += 1;
        while self.pos < self.data.len() {
            if is_atext(self.data[self.pos]) {
                self.pos += 1;
                continue;
            }
            if start == self.pos {
                return Step::Error;
            }
            out.extend_from_slice(&self.data[start..self.pos]);
            let step = self.skip_lwsp();
            if step != Step::More {
                return step;
            }
            if self.peek() != b'.' {
                return Step::More;
            }
            self.pos += 1;
            out.push(b'.');
            if self.skip_lwsp() != Step::More {
                return Step::Error;
            }
            start = self.pos;
        }
        out.extend_from_slice(&self.data[start..self.pos]);
        Step::End
    }

    /// A MIME token; dots are accepted too (Dovecot's reading).
    pub(crate) fn parse_mime_token(&mut self, out: &mut Vec<u8>) -> Step {
        let start = self.pos;
        while self.pos < self.data.len() {
            let b = self.data[self.pos];
            if !(is_token(b) || b == b'.') {
                out.extend_from_slice(&self.data[start..self.pos]);
                return self.skip_lwsp();
            }
            self.pos += 1;
        }
        out.extend_from_slice(&self.data[start..self.pos]);
        Step::End
    }

    /// A quoted string (the cursor is on its `"`): escapes resolved, folding removed.
    pub(crate) fn parse_quoted_string(&mut self, out: &mut Vec<u8>) -> Step {
        self.pos += 1;
        let mut start = self.pos;
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                0 if self.replace_nul => {
                    out.extend_from_slice(&self.data[start..self.pos]);
                    out.extend_from_slice(NUL_REPLACEMENT);
                    start = self.pos + 1;
                }
                b'"' => {
                    out.extend_from_slice(&self.data[start..self.pos]);
                    self.pos += 1;
                    return self.skip_lwsp();
                }
                b'\n' => {
                    out.extend_from_slice(
                        &self.data[start..unfolded_end(self.data, start, self.pos)],
                    );
                    start = self.pos + 1;
                }
                b'\\' => {
                    self.pos += 1;
                    if self.pos >= self.data.len() {
                        return Step::Error;
                    }
                    if matches!(self.data[self.pos], b'\r' | b'\n' | 0) {
                        self.pos -= 1;
                    } else {
                        out.extend_from_slice(&self.data[start..self.pos - 1]);
                        start = self.pos;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        Step::Error
    }

    fn parse_atom_or_dot(&mut self, out: &mut Vec<u8>) -> Step {
        let start = self.pos;
        while self.pos < self.data.len() {
            let b = self.data[self.pos];
            if !(is_atext(b) || b == b'.') {
                out.extend_from_slice(&self.data[start..self.pos]);
                return self.skip_lwsp();
            }
            self.pos += 1;
        }
        out.extend_from_slice(&self.data[start..self.pos]);
        Step::End
    }

    /// A phrase: words (atoms, quoted strings, and dots as RFC 822 obs-phrase) joined by one
    /// space.
    pub(crate) fn parse_phrase(&mut self, out: &mut Vec<u8>) -> Step {
        if self.at_end() {
            return Step::End;
        }
        if self.peek() == b'.' {
            return Step::Error;
        }
        loop {
            let step = if self.peek() == b'"' {
                self.parse_quoted_string(out)
            } else {
                self.parse_atom_or_dot(out)
            };
            if step != Step::More {
                return step;
            }
            let b = self.peek();
            if !is_atext(b) && b != b'"' && b != b'.' {
                break;
            }
            out.push(b' ');
        }
        self.skip_lwsp()
    }

    fn parse_domain_literal(&mut self, out: &mut Vec<u8>) -> Step {
        let mut start = self.pos;
        self.pos += 1;
        while self.pos < self.data.len() {
            match self.data[self.pos] {
                0 if self.replace_nul => {
                    out.extend_from_slice(&self.data[start..self.pos]);
                    out.extend_from_slice(NUL_REPLACEMENT);
                    start = self.pos + 1;
                }
                b'[' => return Step::Error,
                b']' => {
                    out.extend_from_slice(&self.data[start..=self.pos]);
                    self.pos += 1;
                    return self.skip_lwsp();
                }
                b'\n' => {
                    out.extend_from_slice(
                        &self.data[start..unfolded_end(self.data, start, self.pos)],
                    );
                    start = self.pos + 1;
                }
                b'\\' => {
                    // The backslash is kept in the output.
                    self.pos += 1;
                    if self.pos >= self.data.len() {
                        return Step::Error;
                    }
                    if matches!(self.data[self.pos], b'\r' | b'\n' | 0) {
                        out.extend_from_slice(&self.data[start..self.pos]);
                        start = self.pos;
                        self.pos -= 1;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        Step::Error
    }

    /// `@` domain (the cursor is on the `@`): a dot-atom or a domain literal.
    pub(crate) fn parse_domain(&mut self, out: &mut Vec<u8>) -> Step {
        self.pos += 1;
        if self.skip_lwsp() != Step::More {
            return Step::Error;
        }
        if self.peek() == b'[' {
            self.parse_domain_literal(out)
        } else {
            self.parse_dot_atom(out)
        }
    }

    /// `type/subtype` as written (case kept); on error `out` keeps what could be read of the
    /// type alone, or nothing.
    pub(crate) fn parse_content_type(&mut self, out: &mut Vec<u8>) -> Step {
        let start_len = out.len();
        if self.skip_lwsp() != Step::More {
            return Step::Error;
        }
        if self.parse_mime_token(out) != Step::More || out.len() == start_len {
            return Step::Error;
        }
        if self.peek() != b'/' {
            out.truncate(start_len);
            return Step::Error;
        }
        self.pos += 1;
        if self.skip_lwsp() != Step::More {
            out.truncate(start_len);
            return Step::Error;
        }
        out.push(b'/');
        let sub_start = out.len();
        let step = self.parse_mime_token(out);
        if step == Step::Error || out.len() == sub_start || (!self.at_end() && self.peek() != b';')
        {
            out.truncate(start_len);
            return Step::Error;
        }
        step
    }
}

/// Where the text from `start` ends before the line break at `newline` (the LF, and a CR
/// before it): a folded line's break is dropped, as Dovecot's lexer drops it.
fn unfolded_end(data: &[u8], start: usize, newline: usize) -> usize {
    if newline > start && data[newline - 1] == b'\r' {
        newline - 1
    } else {
        newline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_keeps_case_and_skips_comments() {
        let mut lexer = Lexer::new(b" Multipart/Mixed (a comment); boundary=abc");
        let mut out = Vec::new();
        assert_eq!(lexer.parse_content_type(&mut out), Step::More);
        assert_eq!(out, b"Multipart/Mixed");
        // A type without a subtype is an error, but Dovecot keeps the type it read (so the
        // part still counts as text); a bad subtype leaves nothing.
        let mut lexer = Lexer::new(b"text");
        let mut out = Vec::new();
        assert_eq!(lexer.parse_content_type(&mut out), Step::Error);
        assert_eq!(out, b"text");
        let mut lexer = Lexer::new(b"text/plain junk");
        let mut out = Vec::new();
        assert_eq!(lexer.parse_content_type(&mut out), Step::Error);
        assert!(out.is_empty());
    }
}
