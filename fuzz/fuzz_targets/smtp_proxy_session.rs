//! A `ProxySession` driven by a script (client and upstream bytes, canned client lines,
//! upstream replies, connects and closes, time, verdicts, failed jobs; docs/fuzzing.md),
//! jobs run inline. Beyond no panic: upstream gets only clean command lines (no control
//! byte) and, only after a 354 to DATA, bodies that are exactly one canonical message
//! (no CRLF `.` CRLF before the end, no bare CR or LF) of a transaction decided for
//! delivery whose client is still there; never two upstream connections; no timer
//! livelock; with both sides closed the session finishes and holds no bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| aptsim_fuzz::checks::smtp_proxy_session(data));
