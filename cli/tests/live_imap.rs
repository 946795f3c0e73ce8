//! Interop of the live IMAP proxy (`aptsim proxy imap`) with IMAP software nobody here
//! wrote: runs `scripts/interop/imap_interop.py`, which starts a private Dovecot (its own
//! config, Maildir and log in a temporary folder), checks the clients against it alone
//! ((d1)-(d7): imaplib's fetch forms, mbsync, fetchmail, and how they take a hold), then puts
//! the proxy between them and Dovecot ((i1)-(i10): every fetch form byte for byte for clean
//! mail, EICAR never served in any form and the deny notice consistent with RFC822.SIZE and
//! BODYSTRUCTURE, refetch from the cache after a client timeout, outage, mbsync, fetchmail,
//! X4 keepalives, X6 with the SMTP proxy in the same process). The checks are listed in the
//! script's doc.

mod common;

#[test]
fn live_imap_proxy_with_dovecot_imaplib_mbsync_and_fetchmail() {
    let missing: Vec<String> = ["python3", "dovecot", "mbsync", "fetchmail", "smtp-sink"]
        .into_iter()
        .filter(|p| common::find(p).is_none())
        .map(str::to_owned)
        .collect();
    // Debian: apt-get install dovecot-imapd isync fetchmail postfix python3; dovecot is in
    // /usr/sbin, mbsync comes with isync, smtp-sink with postfix.
    common::require(&missing, "the live IMAP interop test");
    common::run_interop_script("imap_interop.py");
}
