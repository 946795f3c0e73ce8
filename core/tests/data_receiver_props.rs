//! `DataReceiver::ingest` takes a whole line and its CRLF in one copy when both are in the
//! segment; it must read exactly what it reads byte by byte, where that shortcut never
//! applies: the same message, the same error, the same bytes consumed, whatever the mode,
//! the size limit or where the stream is cut. Checked on arbitrary bytes rich in CR, LF,
//! dots and long lines.

use aptsim_core::smtp::wire::data::{BareNewline, DataError, DataReceiver};
use proptest::prelude::*;

/// What a receiver made of `wire`: bytes consumed, whether the data ended, and the result.
type Outcome = (usize, bool, Result<Vec<u8>, DataError>);

/// Feeds `wire` in the given pieces, stopping at the end of data as the proxy does.
fn receive(wire: &[u8], cuts: &[usize], max: usize, mode: BareNewline) -> Outcome {
    let mut r = DataReceiver::with_mode(max, mode);
    let mut at = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    bounds.push(wire.len());
    bounds.sort_unstable();
    for end in bounds {
        if end <= at {
            continue;
        }
        let (used, done) = r.ingest(&wire[at..end]);
        at += used;
        if done {
            return (at, true, r.finish());
        }
    }
    (at, false, r.finish())
}

/// One byte per call: the byte-wise path throughout.
fn byte_by_byte(wire: &[u8], max: usize, mode: BareNewline) -> Outcome {
    let cuts: Vec<usize> = (1..wire.len()).collect();
    receive(wire, &cuts, max, mode)
}

/// Lines of plain text, dots, stray CRs and LFs, and lines near the 1,000-octet limit.
fn wire() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"\r\n".to_vec()),
        Just(b"\r\n.\r\n".to_vec()),
        Just(b"\r\n..".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\n".to_vec()),
        Just(b".".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..8),
        (990usize..1004).prop_map(|n| vec![b'x'; n]),
        "[a-z ]{1,80}".prop_map(String::into_bytes),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|p| p.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn whole_lines_read_as_byte_by_byte(
        wire in wire(),
        cuts in proptest::collection::vec(any::<usize>(), 0..4),
        max in prop_oneof![Just(1usize << 20), 0usize..3000],
        reject in any::<bool>(),
    ) {
        let mode = if reject { BareNewline::Reject } else { BareNewline::Normalize };
        let expected = byte_by_byte(&wire, max, mode);
        prop_assert_eq!(receive(&wire, &[], max, mode), expected.clone());
        prop_assert_eq!(receive(&wire, &cuts, max, mode), expected);
    }
}
