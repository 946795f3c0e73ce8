//! The data center as the live coordinator sees it: the built-in model, run on the
//! coordinator's own clock, or an HTTP data center in another process
//! ([`crate::dc_http::client`]). Both take uploads and give back [`DcAnswer`]s, so the
//! coordinator hands answers to the node one way whichever it is.
//!
//! # Driving it
//! [`Sandbox::upload`] for each `NodeOutput::Upload`; [`Sandbox::poll_timeout`] joins the
//! coordinator's deadlines and [`Sandbox::handle_timeout`] runs when it passes (the built-in
//! model's analyses end then; a remote data center has no deadline here). A remote one's
//! answers arrive on tasks: the coordinator takes their receiver once
//! ([`Sandbox::take_answers`]), waits on it with [`next_answer`] in its `select!`, and hands
//! each to [`Sandbox::deliver`]. After any of these, drain [`Sandbox::poll_answer`].

use std::collections::VecDeque;

use aptsim_core::clock::Timestamp;
use aptsim_core::digest::Md5;
use aptsim_peers::datacenter::{DataCenter, DcAnswer, DcEvent};
use tokio::sync::mpsc;

use crate::dc_http::client::RemoteClient;

/// Where files go for analysis.
#[derive(Debug)]
pub enum Sandbox {
    /// The built-in data center (one gateway: answers need no address); boxed, being ten
    /// times the size of the other.
    Local(Box<DataCenter<()>>),
    /// An HTTP data center, and the answers it gave that the node has not had yet.
    Remote(RemoteClient, VecDeque<DcAnswer>),
}

impl From<DataCenter<()>> for Sandbox {
    fn from(dc: DataCenter<()>) -> Self {
        Sandbox::Local(Box::new(dc))
    }
}

impl From<RemoteClient> for Sandbox {
    fn from(client: RemoteClient) -> Self {
        Sandbox::Remote(client, VecDeque::new())
    }
}

impl Sandbox {
    /// Sends a file for analysis; its answer comes out of [`Sandbox::poll_answer`].
    pub fn upload(&mut self, md5: Md5, name: &str, bytes: Option<Vec<u8>>, now: Timestamp) {
        match self {
            Sandbox::Local(dc) => dc.upload(md5, bytes.as_deref(), (), now),
            Sandbox::Remote(client, _) => client.upload(md5, name, bytes),
        }
    }

    /// When [`Sandbox::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        match self {
            Sandbox::Local(dc) => dc.poll_timeout(),
            Sandbox::Remote(..) => None,
        }
    }

    /// Ends the built-in model's analyses due by `now`.
    pub fn handle_timeout(&mut self, now: Timestamp) {
        if let Sandbox::Local(dc) = self {
            dc.handle_timeout(now);
        }
    }

    /// The next answer for the node.
    pub fn poll_answer(&mut self) -> Option<DcAnswer> {
        match self {
            Sandbox::Local(dc) => loop {
                match dc.poll_event()? {
                    DcEvent::Answer { answer, .. } => return Some(answer),
                    // Analyses end through the model's own table (`poll_timeout`).
                    DcEvent::Started { .. } => {}
                }
            },
            Sandbox::Remote(_, ready) => ready.pop_front(),
        }
    }

    /// Where a remote data center's answers arrive; `None` for the built-in one, and after
    /// the first call.
    pub fn take_answers(&mut self) -> Option<mpsc::UnboundedReceiver<DcAnswer>> {
        match self {
            Sandbox::Local(_) => None,
            Sandbox::Remote(client, _) => client.take_answers(),
        }
    }

    /// An answer that arrived from a remote data center, for [`Sandbox::poll_answer`].
    pub fn deliver(&mut self, answer: DcAnswer) {
        if let Sandbox::Remote(_, ready) = self {
            ready.push_back(answer);
        }
    }

    /// Why a file is unreachable, for the log line of its answer.
    pub fn unreachable_reason(&self) -> &'static str {
        match self {
            Sandbox::Local(_) => "--dc-outage, S7",
            Sandbox::Remote(..) => "see the warning before, S7",
        }
    }
}

/// The next answer on `answers`; never, when there is no receiver (the built-in model).
pub async fn next_answer(answers: &mut Option<mpsc::UnboundedReceiver<DcAnswer>>) -> DcAnswer {
    match answers {
        Some(rx) => match rx.recv().await {
            Some(answer) => answer,
            // The client keeps a sender while it lives: no more answers ever.
            None => std::future::pending().await,
        },
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aptsim_peers::datacenter::{AnalysisTime, DcConfig};
    use rand_chacha::ChaCha8Rng;
    use rand_core::SeedableRng;
    use std::time::Duration;

    #[test]
    fn local_answers_after_its_deadline_and_skips_started_events() {
        let config = DcConfig {
            analysis: AnalysisTime::Fixed(Duration::from_secs(5)),
            ..DcConfig::default()
        };
        let mut s = Sandbox::from(DataCenter::new(config, ChaCha8Rng::seed_from_u64(0)));
        assert!(s.take_answers().is_none());
        let md5 = Md5::of(b"file");
        s.upload(md5, "f", Some(b"file".to_vec()), Timestamp::ZERO);
        assert_eq!(s.poll_answer(), None, "a Started event is not an answer");
        assert_eq!(s.poll_timeout(), Some(Timestamp::from_millis(5_000)));
        s.handle_timeout(Timestamp::from_millis(5_000));
        assert!(matches!(
            s.poll_answer(),
            Some(DcAnswer::Verdict { md5: m, .. }) if m == md5
        ));
        assert_eq!(s.poll_answer(), None);
    }
}
