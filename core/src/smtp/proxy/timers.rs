//! The proxy session's deadlines: the client's idle time, the command-line deadline, the
//! data budget (Postfix's minimum data rate), the upstream's reply time, and the
//! inspections' own (analysis timeouts, X2).
//!
//! The slow-sender ones are what keep one client from holding a connection for ever by
//! trickling bytes: every byte resets the idle timer, but not the command deadline, and
//! during DATA a byte buys only `1 / min_data_rate` seconds of budget.

use super::*;

/// The time budget of message data, as Postfix 3.7 keeps it with `smtpd_min_data_rate`
/// (`vstream_buf_get_ready`): it starts full, loses the time spent waiting, gains
/// `bytes / rate` seconds per read, and never exceeds the cap. Kept here as the deadline it
/// implies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct DataBudget {
    deadline: Timestamp,
}

impl DataBudget {
    /// A full budget from `now`.
    pub(super) fn start(now: Timestamp, cap: Duration) -> Self {
        DataBudget {
            deadline: now + cap,
        }
    }

    /// `bytes` arrived at `now`.
    pub(super) fn received(&mut self, bytes: usize, now: Timestamp, cap: Duration, rate: u32) {
        let left = self.deadline.saturating_since(now);
        let earned = match rate {
            0 => Duration::ZERO,
            r => Duration::from_millis((bytes as u64).saturating_mul(1_000) / u64::from(r)),
        };
        self.deadline = now + (left + earned).min(cap);
    }

    pub(super) fn deadline(self) -> Timestamp {
        self.deadline
    }
}

impl ProxySession {
    /// When `handle_timeout` is next due.
    pub fn poll_timeout(&self) -> Option<Timestamp> {
        let reading =
            matches!(self.client, ClientState::Command | ClientState::Data(_)) && !self.client_busy;
        let idle = reading.then(|| self.idle_since + self.config.idle_timeout);
        let command = self.command_deadline();
        let data = self.data_budget.map(DataBudget::deadline);
        let upstream = self
            .awaiting
            .as_ref()
            .map(|(_, at)| *at + self.config.upstream_timeout);
        let inspections = self
            .held
            .iter()
            .map(|h| &h.stage)
            .chain(self.background.iter().map(|b| &b.stage))
            .filter_map(|s| match s {
                held::Stage::Judging(i) => i.poll_timeout(),
                held::Stage::Extracting { .. } => None,
            });
        [idle, command, data, upstream, self.relay_deadline]
            .into_iter()
            .flatten()
            .chain(inspections)
            .min()
    }

    /// Acts on every deadline that has passed.
    pub fn handle_timeout(&mut self, gw: &mut Gateway, now: Timestamp) {
        self.now = now;
        if let Some((_, at)) = &self.awaiting
            && now >= *at + self.config.upstream_timeout
        {
            self.out.push_back(Output::CloseUpstream);
            self.upstream = Upstream::Gone;
            self.upstream_lost(gw, now);
        }
        if self.relay_deadline.is_some_and(|d| now >= d) {
            self.relay_too_late();
        }
        let reading =
            matches!(self.client, ClientState::Command | ClientState::Data(_)) && !self.client_busy;
        let slow = self.command_deadline().is_some_and(|d| now >= d)
            || self.data_budget.is_some_and(|b| now >= b.deadline());
        if slow {
            // Postfix's words when a deadline passes (`smtpd_proto`).
            let reply = Reply::new(
                421,
                format!("4.4.2 {} Error: timeout exceeded", self.config.hostname),
            );
            self.drop_client(reply);
        } else if reading && now >= self.idle_since + self.config.idle_timeout {
            let reply = Reply::new(
                421,
                format!(
                    "4.4.2 {} Idle timeout, closing connection",
                    self.config.hostname
                ),
            );
            self.drop_client(reply);
        }
        for inspection in self.inspections() {
            inspection.handle_timeout(now);
        }
        self.drive(gw, now);
        self.pump(gw, now);
    }

    /// X2 ran out between the decision and the body going upstream: the sender hears
    /// `451 4.7.0` and retries (the verdicts are cached by then), and this delivery stops.
    /// If DATA is out and its 354 not yet back, the upstream connection is dropped, since the
    /// server would otherwise wait for a body that will never come.
    fn relay_too_late(&mut self) {
        self.relay_deadline = None;
        if !matches!(self.client, ClientState::Delivering) {
            return;
        }
        self.body_work = None;
        // A server waiting for a body, or one still being reconnected and given the
        // envelope again, would hold a transaction the sender has been told is over: drop it
        // (the next transaction reconnects).
        let replaying = matches!(
            self.awaiting,
            Some((
                Op::Data | Op::Replay { .. } | Op::Xforward { .. } | Op::Greeting { relay: false },
                _
            ))
        );
        if replaying || self.upstream == Upstream::Connecting {
            self.awaiting = None;
            self.ops.clear();
            self.out.push_back(Output::CloseUpstream);
            self.upstream = Upstream::Gone;
        } else {
            self.ops.retain(|op| {
                !matches!(
                    op,
                    Op::Data | Op::Body { .. } | Op::Replay { .. } | Op::Xforward { .. }
                )
            });
        }
        let reply = Reply::new(
            451,
            "4.7.0 Message could not be relayed in time, try again later",
        );
        if let Some(mut log) = self.pending_log.take() {
            log.result = TxnResult::Tempfailed;
            log.reply = Some(reply.clone());
            self.emit(Event::Transaction(Box::new(log)));
        }
        self.reply(reply);
        self.finish_txn(true);
    }

    /// The deadline of a command line that has started but not ended.
    fn command_deadline(&self) -> Option<Timestamp> {
        let reading = matches!(self.client, ClientState::Command) && !self.client_busy;
        self.line_started
            .filter(|_| reading)
            .map(|at| at + self.config.command_timeout)
    }

    /// Closes a client the proxy gives up on with `reply`; a message it was sending is
    /// refused.
    fn drop_client(&mut self, reply: Reply) {
        if matches!(self.client, ClientState::Data(_)) {
            self.log_txn(
                Vec::new(),
                Action::Allow,
                TxnResult::Refused,
                None,
                Some(reply.clone()),
            );
        }
        self.reply(reply);
        self.close_client();
        self.quit_upstream();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_budget_follows_postfix_min_data_rate() {
        let cap = Duration::from_secs(300);
        let mut b = DataBudget::start(Timestamp::ZERO, cap);
        // At 500 bytes/s or faster the budget stays full.
        for s in 1..=100u64 {
            b.received(500, Timestamp::from_millis(s * 1_000), cap, 500);
        }
        assert_eq!(b.deadline(), Timestamp::from_millis(100_000) + cap);
        // One byte a second earns 2 ms a second: the budget runs out after about 300 s.
        let mut b = DataBudget::start(Timestamp::ZERO, cap);
        let mut s = 1;
        while Timestamp::from_millis(s * 1_000) < b.deadline() {
            b.received(1, Timestamp::from_millis(s * 1_000), cap, 500);
            s += 1;
        }
        assert!((300..=302).contains(&s), "cut off after {s} s");
    }
}
