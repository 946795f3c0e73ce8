//! `archive::expand` on arbitrary bytes, under the default and small limits. Beyond no
//! panic: it expands exactly what `sniff` recognises, and the members' bytes (content or
//! raw) never exceed `max_total_bytes`, nor their count `max_members`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| aptsim_fuzz::checks::archive_expand(data));
