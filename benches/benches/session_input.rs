//! The SMTP proxy session reading a client that pipelines whole messages: the cost per
//! message, sent in one segment or one segment each, at two counts.
//!
//! Each group (`session_input/1000`, `session_input/8000`) relays that many small messages
//! through a real `ProxySession` in release mode, with an upstream that answers at once
//! ([`aptsim_benches::session`]). `one_segment` sends them all before any reply, as a
//! hostile client may (about 110 KB and 880 KB, under the default `max_unread_bytes`);
//! `segment_per_message` sends each when the previous one is answered. Both report
//! `Throughput::Elements` in messages: when each byte is read once, the four rates are
//! about equal; a session that moved what waits behind each message would make
//! `one_segment` slower per message as the count grows.
//!
//! Run with `cargo bench -p aptsim-benches --bench session_input` (under a minute).

use std::hint::black_box;
use std::time::Duration;

use aptsim_benches::session::{Sending, relay};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

fn session_input(c: &mut Criterion) {
    for messages in [1_000, 8_000] {
        let mut group = c.benchmark_group(format!("session_input/{messages}"));
        group
            .throughput(Throughput::Elements(messages as u64))
            .sampling_mode(SamplingMode::Flat)
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(3));
        for (name, sending) in [
            ("one_segment", Sending::OneSegment),
            ("segment_per_message", Sending::SegmentPerMessage),
        ] {
            group.bench_function(name, |b| {
                b.iter(|| assert_eq!(relay(black_box(messages), sending), messages));
            });
        }
        group.finish();
    }
}

criterion_group!(benches, session_input);
criterion_main!(benches);
