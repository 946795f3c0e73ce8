//! `mime::extract` and `extract_with_contents` on arbitrary bytes, under the default and
//! small limits. Beyond no panic: spans in bounds and equal-or-disjoint, file indices valid,
//! contents kept for every scannable file and matching their MD5, archive budgets shared
//! and respected; and fail-closed — with a policy that drops every level, the IMAP engine
//! decides, and re-extracting its rewritten message finds no file at all (none it dropped,
//! none it never judged).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| aptsim_fuzz::checks::mime_extract(data));
