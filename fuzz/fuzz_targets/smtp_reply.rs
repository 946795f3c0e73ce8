//! `ReplyParser` push and next_reply until `None`, with the input in one piece and in two
//! (cut where the first byte says). Beyond no panic: the cut never changes the replies, no
//! reply line holds LF, and a reply with a valid code round-trips through `to_bytes`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| aptsim_fuzz::checks::smtp_reply(data));
