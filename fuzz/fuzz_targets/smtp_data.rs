//! `DataReceiver` fed message data in two pieces (cut where the first byte says), then
//! `finish`. Beyond no panic: the cut and the size limit never move the end of data, which
//! comes only at CRLF `.` CRLF; an accepted body has canonical line ends and short lines;
//! `dot_stuff` of it ends with CRLF `.` CRLF and, received again, gives the body back.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| aptsim_fuzz::checks::smtp_data(data));
