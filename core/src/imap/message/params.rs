//! MIME parameters (`; name=value` after a Content-Type or Content-Disposition value) as
//! Dovecot reads them (`rfc822_parse_content_param`, `rfc2231-parser.c`): RFC 2231
//! continuations (`name*0*`, `name*1`) merged into `name*`, a parameter with a gap in its
//! numbers kept as its pieces, a broken parameter skipped one byte at a time.

use super::rfc822::{Lexer, Step};

/// A MIME parameter: name and value, as written (quotes and escapes resolved).
pub(crate) type Param = (Vec<u8>, Vec<u8>);

impl Lexer<'_> {
    /// One `; key=value` parameter: `Ok(None)` at the end of the input.
    fn parse_content_param(&mut self) -> Result<Option<Param>, ()> {
        if self.at_end() {
            return Ok(None);
        }
        if self.peek() != b';' {
            return Err(());
        }
        self.pos += 1;
        if self.skip_lwsp() != Step::More {
            return Err(());
        }
        let mut key = Vec::new();
        if self.parse_mime_token(&mut key) != Step::More || self.peek() != b'=' {
            return Err(());
        }
        self.pos += 1;
        let mut value = Vec::new();
        let step = match self.skip_lwsp() {
            Step::More if self.peek() == b'"' => self.parse_quoted_string(&mut value),
            // Broken input seen in the wild: name==?utf-8?b?…?=
            Step::More if self.peek() == b'=' => {
                while !self.at_end() && !matches!(self.peek(), b';' | b' ' | b'\t' | b'\r' | b'\n')
                {
                    value.push(self.peek());
                    self.pos += 1;
                }
                Step::More
            }
            Step::More => self.parse_mime_token(&mut value),
            other => other,
        };
        if step == Step::Error {
            return Err(());
        }
        Ok(Some((key, value)))
    }

    /// The parameters after a Content-Type or Content-Disposition value, RFC 2231
    /// continuations (`name*0*`, `name*1`) merged into `name*` as Dovecot does; a broken
    /// parameter is skipped one byte at a time.
    pub(crate) fn parse_rfc2231_params(&mut self) -> Vec<Param> {
        struct Continued {
            key: Vec<u8>,
            value: Vec<u8>,
            index: u32,
            extended: bool,
        }
        let saved = self.replace_nul;
        self.replace_nul = true;
        let mut result = Vec::new();
        let mut continued: Vec<Continued> = Vec::new();
        // Dovecot reuses one struct: a `name*` without a number keeps the previous index.
        let mut index = 0u32;
        loop {
            let (key, value) = match self.parse_content_param() {
                Ok(None) => break,
                Ok(Some(kv)) => kv,
                Err(()) => {
                    if self.at_end() {
                        break;
                    }
                    self.pos += 1;
                    continue;
                }
            };
            let Some(star) = key.iter().position(|&b| b == b'*') else {
                result.push((key, value));
                continue;
            };
            let mut p = star;
            if p + 1 < key.len() {
                p += 1;
                index = 0;
                while p < key.len() && key[p].is_ascii_digit() {
                    index = index
                        .wrapping_mul(10)
                        .wrapping_add(u32::from(key[p] - b'0'));
                    p += 1;
                }
            }
            let extended = key.get(p) == Some(&b'*');
            if extended {
                p += 1;
            }
            if p == key.len() {
                continued.push(Continued {
                    key: key[..star].to_vec(),
                    value,
                    index,
                    extended,
                });
            } else {
                result.push((key, value));
            }
        }
        self.replace_nul = saved;
        continued.sort_by(|a, b| a.key.cmp(&b.key).then(a.index.cmp(&b.index)));
        let mut i = 0;
        while i < continued.len() {
            let mut j = i;
            let mut complete = true;
            let mut have_extended = false;
            let mut next_index = 0;
            while j < continued.len() && continued[i].key.eq_ignore_ascii_case(&continued[j].key) {
                complete &= continued[j].index == next_index;
                have_extended |= continued[j].extended;
                next_index += 1;
                j += 1;
            }
            if !complete {
                for c in &continued[i..j] {
                    let mut key = c.key.clone();
                    key.extend_from_slice(format!("*{}", c.index).as_bytes());
                    if c.extended {
                        key.push(b'*');
                    }
                    result.push((key, c.value.clone()));
                }
            } else {
                let mut value = Vec::new();
                if !continued[i].extended && have_extended {
                    value.extend_from_slice(b"''");
                }
                for c in &continued[i..j] {
                    if !c.extended && have_extended {
                        for &b in &c.value {
                            if b == b'%' {
                                value.extend_from_slice(b"%25");
                            } else {
                                value.push(b);
                            }
                        }
                    } else {
                        value.extend_from_slice(&c.value);
                    }
                }
                let mut key = continued[i].key.clone();
                if have_extended {
                    key.push(b'*');
                }
                result.push((key, value));
            }
            i = j;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(value: &str) -> Vec<(String, String)> {
        let mut lexer = Lexer::new(value.as_bytes());
        let mut ct = Vec::new();
        assert_eq!(lexer.parse_content_type(&mut ct), Step::More);
        lexer
            .parse_rfc2231_params()
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8(k).expect("utf-8"),
                    String::from_utf8(v).expect("utf-8"),
                )
            })
            .collect()
    }

    #[test]
    fn rfc2231_continuations_are_merged_and_gaps_kept_apart() {
        assert_eq!(
            params("a/b; filename*0*=utf-8''men%C3%BC; filename*1=\".zip\"; x=\"q\\\"\""),
            vec![
                ("x".into(), "q\"".into()),
                ("filename*".into(), "utf-8''men%C3%BC.zip".into()),
            ]
        );
        assert_eq!(
            params("a/b; n*0=a; n*2=c"),
            vec![("n*0".into(), "a".into()), ("n*2".into(), "c".into())]
        );
        assert_eq!(
            params("a/b; n*=x%; m*0=%"),
            vec![("m".into(), "%".into()), ("n*".into(), "x%".into())]
        );
    }

    #[test]
    fn broken_parameters_are_skipped() {
        // An empty name is a name; a parameter without `=` loses what follows up to the next
        // `;` after it, as Dovecot skips one byte at a time.
        assert_eq!(
            params("a/b; =x; x; ok=1; y=2; name==?utf-8?q?x?="),
            vec![
                ("".into(), "x".into()),
                ("y".into(), "2".into()),
                ("name".into(), "=?utf-8?q?x?=".into())
            ]
        );
    }
}
