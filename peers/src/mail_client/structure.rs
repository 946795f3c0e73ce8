//! K-9's reading of a `BODYSTRUCTURE` answer (RealImapFolder.kt `parseBodyStructure`,
//! MessageExtractor): part numbers, and which leaves are text shown with the message and
//! which are attachments, fetched only when the user opens them.
//!
//! Part numbers: the root is `TEXT`; a multipart's children are `1`, `2`, … at the top and
//! `<parent>.<n>` below. A `message/rfc822` part is a leaf (an attachment), as in K-9. A leaf
//! is text if it is `text/plain` or `text/html` without an `attachment` disposition or a
//! file name.
//!
//! The response is parsed with imap-codec (the wire codec core uses), not by hand.

use imap_codec::ResponseCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::body::{BodyStructure, SpecificFields};
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::response::{Data, Response};

use super::store::Layout;

/// The layout of the message whose FETCH response `raw` carries a `BODYSTRUCTURE`, or `None`
/// if it carries none or cannot be parsed (K-9 then fetches `BODY.PEEK[]<0.N>`).
pub(super) fn layout(raw: &[u8]) -> Option<Layout> {
    let Ok((_, Response::Data(Data::Fetch { items, .. }))) = ResponseCodec::default().decode(raw)
    else {
        return None;
    };
    let structure = items.into_inner().into_iter().find_map(|item| match item {
        MessageDataItem::BodyStructure(s) => Some(s),
        _ => None,
    })?;
    let mut out = Layout::default();
    walk(&structure, "TEXT", &mut out);
    Some(out)
}

fn walk(s: &BodyStructure<'_>, id: &str, out: &mut Layout) {
    match s {
        BodyStructure::Multi { bodies, .. } => {
            for (i, child) in bodies.as_ref().iter().enumerate() {
                let n = i + 1;
                let child_id = if id == "TEXT" {
                    n.to_string()
                } else {
                    format!("{id}.{n}")
                };
                walk(child, &child_id, out);
            }
        }
        BodyStructure::Single {
            body,
            extension_data,
        } => {
            let text = match &body.specific {
                SpecificFields::Text { subtype, .. } => {
                    let sub = lossy(subtype.as_ref());
                    sub.eq_ignore_ascii_case("plain") || sub.eq_ignore_ascii_case("html")
                }
                SpecificFields::Basic { .. } | SpecificFields::Message { .. } => false,
            };
            let disposition = extension_data
                .as_ref()
                .and_then(|e| e.tail.as_ref())
                .and_then(|d| d.disposition.as_ref());
            let attachment = disposition.is_some_and(|(kind, params)| {
                lossy(kind.as_ref()).eq_ignore_ascii_case("attachment")
                    || params
                        .iter()
                        .any(|(k, _)| lossy(k.as_ref()).eq_ignore_ascii_case("filename"))
            });
            if text && !attachment {
                out.text.push(id.to_owned());
            } else {
                out.attachments.push(id.to_owned());
            }
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(raw: &str) -> Option<(Vec<String>, Vec<String>)> {
        layout(raw.as_bytes()).map(|l| (l.text, l.attachments))
    }

    #[test]
    fn multipart_with_attachment() {
        let raw = "* 1 FETCH (UID 7 BODYSTRUCTURE (((\"text\" \"plain\" (\"charset\" \"utf-8\") \
            NIL NIL \"7bit\" 5 1 NIL NIL NIL NIL)(\"text\" \"html\" NIL NIL NIL \"7bit\" 9 1 NIL \
            NIL NIL NIL) \"alternative\" NIL NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \
            \"a.pdf\") NIL NIL \"base64\" 100 NIL (\"attachment\" (\"filename\" \"a.pdf\")) NIL \
            NIL) \"mixed\" NIL NIL NIL NIL))\r\n";
        let (text, att) = parts(raw).expect("parsed");
        assert_eq!(text, ["1.1", "1.2"]);
        assert_eq!(att, ["2"]);
    }

    #[test]
    fn single_part_and_inline_text_attachment() {
        let raw = "* 1 FETCH (UID 7 BODYSTRUCTURE (\"text\" \"plain\" NIL NIL NIL \"7bit\" 5 \
            1 NIL NIL NIL NIL))\r\n";
        assert_eq!(parts(raw), Some((vec!["TEXT".to_owned()], vec![])));
        let raw = "* 1 FETCH (UID 7 BODYSTRUCTURE ((\"text\" \"plain\" NIL NIL NIL \"7bit\" 5 1 \
            NIL NIL NIL NIL)(\"text\" \"plain\" NIL NIL NIL \"7bit\" 5 1 NIL (\"inline\" \
            (\"filename\" \"notes.txt\")) NIL NIL) \"mixed\" NIL NIL NIL NIL))\r\n";
        assert_eq!(
            parts(raw),
            Some((vec!["1".to_owned()], vec!["2".to_owned()]))
        );
    }

    #[test]
    fn no_structure() {
        assert_eq!(parts("* 1 FETCH (UID 7 FLAGS ())\r\n"), None);
        assert_eq!(parts("* 1 FETCH (UID 7 BODYSTRUCTURE (\r\n"), None);
        assert_eq!(parts("* OK hi\r\n"), None);
    }
}
