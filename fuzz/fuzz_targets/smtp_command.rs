//! `command::parse`, `has_control_bytes`, `size_param` and a `LineReader` fed the input in
//! two pieces (cut where the first byte says). Beyond no panic: paths hold no bracket or
//! line end, a parsed command written back parses the same, lines never exceed the
//! reader's maximum, the cut never changes the lines, and the reader holds at most its
//! maximum.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| aptsim_fuzz::checks::smtp_command(data));
