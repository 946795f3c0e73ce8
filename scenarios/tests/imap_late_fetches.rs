//! mbsync syncing a large mailbox through a slow data center (I3): every message is fetched
//! within the scenario's two hours, whatever the seed. mbsync writes each per-message
//! `UID FETCH` on its own, so all but the first arrive after the first one's hold began;
//! before those fetches could join the hold, a sync whose first message was held submitted
//! that one message's file and timed out, and the mailbox took a sync (five minutes) per
//! distinct file. These are the seeds of 60 where the old proxy left messages unfetched.

use std::path::PathBuf;

use aptsim_scenarios::files::load;
use aptsim_scenarios::runner;
use aptsim_simulator::trace::Record;

#[test]
fn mbsync_fetches_the_whole_mailbox_at_the_seeds_where_late_fetches_waited() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("suite")
        .join("imap-mbsync-1000-messages.toml");
    let s = load(&file).expect("valid scenario");
    for seed in [2, 22, 33, 50] {
        let report = runner::run(&s, seed).expect("runs");
        assert!(
            report.passed(),
            "seed {seed}: {:?} {:?}",
            report.failures,
            report.violations
        );
        // The fetches behind the first joined its hold: more than one command's messages
        // were judged in a hold (the first resolve names one message, a late one the rest).
        let joined = report
            .trace
            .iter()
            .any(|l| matches!(&l.record, Record::ImapHoldStart { messages, .. } if *messages > 1));
        assert!(joined, "seed {seed}: no hold judged more than one message");
    }
}
