//! Parts served before the verdicts: a fetch of single parts that hold none of their
//! message's files (K-9 fetching a large message's text parts) returns no attachment byte,
//! so it need not wait for the files' analysis (I1).

use super::hold::Hold;
use super::judged::Served;
use super::judging::Judging;
use crate::imap::FetchRequest;

/// A fetch of single parts that hold none of their message's files (K-9 fetching a large
/// message's text parts) is served as soon as the files are found, without waiting for their
/// verdicts: no attachment byte is in what it returns (I1). The messages are judged on in the
/// background, so the attachment fetch that follows (held: its part holds the file) and any
/// later fetch find the verdicts in the cache. A rewritten message's parts fetched later come
/// from its copy, as every later response does (I6).
pub(super) fn serve_file_free_parts(hold: &mut Hold) -> Vec<Judging> {
    let [command] = hold.commands.make_contiguous() else {
        return Vec::new();
    };
    let request = &command.request;
    if !parts_only(request) {
        return Vec::new();
    }
    let sections: Vec<&crate::imap::SectionSpec> =
        request.content.iter().map(|c| &c.section).collect();
    let file_free = hold.judging.iter().all(|j| {
        let Some(files) = j.file_spans() else {
            return false;
        };
        crate::imap::part_spans(&j.message, &sections)
            .into_iter()
            .all(|part| {
                part.is_some_and(|part| {
                    files
                        .iter()
                        .all(|file| file.end <= part.start || part.end <= file.start)
                })
            })
    });
    if !file_free {
        return Vec::new();
    }
    let mut early = std::mem::take(&mut hold.judging);
    for j in &mut early {
        j.parts_served = true;
        hold.results.insert(j.uid, Ok(Served::Original));
    }
    early
}

/// A fetch of single parts only, no structure: what [`serve_file_free_parts`] may serve
/// before the verdicts.
pub(super) fn parts_only(request: &FetchRequest) -> bool {
    !request.structure
        && !request.content.is_empty()
        && request.content.iter().all(|c| !c.section.part.is_empty())
}
