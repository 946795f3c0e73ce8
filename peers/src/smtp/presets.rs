//! Sending-MTA presets: the client timeouts, retry schedule and queue lifetime of Postfix,
//! Exim, sendmail and Exchange, with each value's source (TIMINGS.md, "SMTP senders").
//!
//! A scenario picks a preset by name ([`preset`]) and may override any field: the structs
//! are plain data and map onto TOML with serde (unknown keys are an error).
//!
//! ```
//! use std::time::Duration;
//! use aptsim_peers::smtp::presets::{self, RetrySchedule};
//!
//! let mut p = presets::preset("postfix").expect("a known preset");
//! assert_eq!(p.timeouts.data_done, Duration::from_secs(600));
//! // amavisd-new asks for a longer wait after the final dot.
//! p.timeouts.data_done = Duration::from_secs(1_200);
//! assert_eq!(p.retry, RetrySchedule::Postfix);
//! ```

use std::time::Duration;

const MIN: u64 = 60;
const HOUR: u64 = 3_600;
const DAY: u64 = 86_400;

/// The names [`preset`] knows.
pub const PRESETS: [&str; 4] = ["postfix", "exim", "sendmail", "exchange"];

/// How long an SMTP client waits for each reply. The defaults ([`SenderTimeouts::rfc5321`])
/// are RFC 5321 §4.5.3.2's; each preset replaces them with its MTA's own.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SenderTimeouts {
    /// The 220 greeting, counted from the start of the connection attempt until the
    /// connection is up, then again from then on. Default 5 min (§4.5.3.2.1).
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub greeting: Duration,
    /// The reply to EHLO or HELO. RFC 5321 names none; default 5 min, Postfix's
    /// `smtp_helo_timeout` (300 s).
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub helo: Duration,
    /// The reply to MAIL. Default 5 min (§4.5.3.2.2).
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub mail: Duration,
    /// The reply to each RCPT. Default 5 min (§4.5.3.2.3).
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub rcpt: Duration,
    /// The 354 after DATA. Default 2 min (§4.5.3.2.4).
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub data_init: Duration,
    /// Writing each block of the body. Default 3 min (§4.5.3.2.5). Carried for completeness:
    /// the session hands the whole body to its driver at once and the simulator delivers it
    /// instantly, so no timer runs on it (see [`super::sender`]).
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub data_block: Duration,
    /// The reply after the final dot, counted from when the body is handed over. Default
    /// 10 min (§4.5.3.2.6). When it runs out the server may still have taken the message: a
    /// retry can deliver it twice.
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub data_done: Duration,
    /// The reply to QUIT. RFC 5321 names none; default 5 min, Postfix's `smtp_quit_timeout`
    /// (300 s).
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub quit: Duration,
}

impl SenderTimeouts {
    /// RFC 5321 §4.5.3.2's client timeouts (5 min for EHLO and QUIT, which it does not name).
    pub const fn rfc5321() -> Self {
        SenderTimeouts {
            greeting: Duration::from_secs(5 * MIN),
            helo: Duration::from_secs(5 * MIN),
            mail: Duration::from_secs(5 * MIN),
            rcpt: Duration::from_secs(5 * MIN),
            data_init: Duration::from_secs(2 * MIN),
            data_block: Duration::from_secs(3 * MIN),
            data_done: Duration::from_secs(10 * MIN),
            quit: Duration::from_secs(5 * MIN),
        }
    }

    /// Postfix (postconf(5)): `smtp_helo_timeout` 300 s (greeting and EHLO),
    /// `smtp_mail_timeout` and `smtp_rcpt_timeout` 300 s, `smtp_data_init_timeout` 120 s,
    /// `smtp_data_xfer_timeout` 180 s, `smtp_data_done_timeout` 600 s, `smtp_quit_timeout`
    /// 300 s: RFC 5321's values.
    pub const fn postfix() -> Self {
        Self::rfc5321()
    }

    /// Exim's `smtp` transport (Exim specification): `command_timeout` 5 min for the greeting
    /// and every command including DATA, `data_timeout` 5 min per block, `final_timeout`
    /// 10 min after the final dot.
    pub const fn exim() -> Self {
        SenderTimeouts {
            greeting: Duration::from_secs(5 * MIN),
            helo: Duration::from_secs(5 * MIN),
            mail: Duration::from_secs(5 * MIN),
            rcpt: Duration::from_secs(5 * MIN),
            data_init: Duration::from_secs(5 * MIN),
            data_block: Duration::from_secs(5 * MIN),
            data_done: Duration::from_secs(10 * MIN),
            quit: Duration::from_secs(5 * MIN),
        }
    }

    /// sendmail (cf/README, `Timeout.*`): `initial` 5 min, `helo` 5 min, `mail` 10 min,
    /// `rcpt` 1 h, `datainit` 5 min, `datablock` 1 h, `datafinal` 1 h, `quit` 2 min.
    pub const fn sendmail() -> Self {
        SenderTimeouts {
            greeting: Duration::from_secs(5 * MIN),
            helo: Duration::from_secs(5 * MIN),
            mail: Duration::from_secs(10 * MIN),
            rcpt: Duration::from_secs(HOUR),
            data_init: Duration::from_secs(5 * MIN),
            data_block: Duration::from_secs(HOUR),
            data_done: Duration::from_secs(HOUR),
            quit: Duration::from_secs(2 * MIN),
        }
    }

    /// Exchange: its SMTP client timeouts are not documented in the sources TIMINGS.md uses,
    /// so RFC 5321's values stand in (10 min after the final dot).
    pub const fn exchange() -> Self {
        Self::rfc5321()
    }
}

impl Default for SenderTimeouts {
    /// [`SenderTimeouts::rfc5321`].
    fn default() -> Self {
        Self::rfc5321()
    }
}

/// Postfix `minimal_backoff_time`: 300 s.
pub const POSTFIX_MIN_BACKOFF: Duration = Duration::from_secs(300);
/// Postfix `maximal_backoff_time`: 4000 s.
pub const POSTFIX_MAX_BACKOFF: Duration = Duration::from_secs(4_000);
/// Postfix `queue_run_delay`: the deferred queue is scanned every 300 s.
pub const POSTFIX_QUEUE_RUN: Duration = Duration::from_secs(300);

/// When a deferred message is tried again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum RetrySchedule {
    /// Postfix (postconf(5), src/global/mail_params.h): the next try is due after a backoff
    /// equal to the message's age, clamped to [`POSTFIX_MIN_BACKOFF`] (300 s) and
    /// [`POSTFIX_MAX_BACKOFF`] (4000 s); the queue manager only looks at the deferred queue
    /// every [`POSTFIX_QUEUE_RUN`] (300 s), so the try happens at the first queue run at or
    /// after that.
    ///
    /// **Rounding.** Queue runs are modelled at whole multiples of 300 s after the message
    /// was queued, and the age is taken in whole seconds, as Postfix's clock (`event_time()`,
    /// file mtimes) has one-second resolution. An attempt that fails within a second of a
    /// queue run is thus tried again exactly `backoff` later; one that failed later in the
    /// second, or took longer (a timeout), waits for the run after. Tries fall at about 5,
    /// 10, 20, 40, 80 min of age, then every 70 min (the 4000 s cap rounded up to runs).
    Postfix,
    /// Exim's default retry rule (configure.default), `F,2h,15m; G,16h,1h,1.5; F,4d,6h`:
    /// every 15 min while the message is under 2 h old; then 1 h, growing by ×1.5 after each
    /// try, while under 16 h; then every 6 h. Exim measures from the first failure and only
    /// retries on queue runs; here the age since queuing stands in (the first attempt is
    /// made at once) and queue-run granularity is not modelled. The geometric interval is
    /// the one a message retried on schedule would have reached at this age.
    Exim,
    /// sendmail: a failed message waits for the next queue run; with the common `-q15m`
    /// that is every 15 min.
    Sendmail,
    /// Exchange (message-intervals docs): 6 transient-failure retries 5 min apart
    /// (`TransientFailureRetryCount`, `TransientFailureRetryInterval`), then every 15 min
    /// (`MessageRetryInterval`).
    Exchange,
    /// A custom schedule: always the same interval.
    Fixed {
        /// Time between attempts.
        #[serde(with = "aptsim_core::duration::serde_text")]
        interval: Duration,
    },
}

impl RetrySchedule {
    /// The wait before the next attempt. `attempt` is the number of attempts made so far,
    /// the one that just failed included (1 after the first); `age` is the message's time
    /// in the queue when that attempt ended. Pure: the same inputs give the same delay.
    pub fn next_delay(&self, attempt: u32, age: Duration) -> Duration {
        match self {
            RetrySchedule::Postfix => {
                let age_s = age.as_secs();
                let backoff =
                    age_s.clamp(POSTFIX_MIN_BACKOFF.as_secs(), POSTFIX_MAX_BACKOFF.as_secs());
                let run = POSTFIX_QUEUE_RUN.as_secs().max(1);
                let due = age_s.saturating_add(backoff);
                let at = due.div_ceil(run).saturating_mul(run);
                Duration::from_secs(at).saturating_sub(age)
            }
            RetrySchedule::Exim => exim_delay(age),
            RetrySchedule::Sendmail => Duration::from_secs(15 * MIN),
            RetrySchedule::Exchange if attempt <= 6 => Duration::from_secs(5 * MIN),
            RetrySchedule::Exchange => Duration::from_secs(15 * MIN),
            RetrySchedule::Fixed { interval } => *interval,
        }
    }
}

/// Exim's `F,2h,15m; G,16h,1h,1.5; F,4d,6h`.
fn exim_delay(age: Duration) -> Duration {
    let age = age.as_secs();
    if age < 2 * HOUR {
        return Duration::from_secs(15 * MIN);
    }
    if age >= 16 * HOUR {
        return Duration::from_secs(6 * HOUR);
    }
    // Tries on the geometric schedule fall at 2 h, 3 h, 4.5 h, 6.75 h, …; the gap after the
    // k-th is 1 h × 1.5^k. At most six steps fit before 16 h.
    let mut start = 2 * HOUR;
    let mut gap = HOUR;
    while start + gap <= age {
        start += gap;
        gap = gap * 3 / 2;
    }
    Duration::from_secs(gap)
}

/// How a sender ends its session after the final dot (SMTP-SENDERS.md §1): what matters to
/// a proxy that holds the dot's reply is whether `QUIT` (and a FIN) arrive before it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionEnd {
    /// `QUIT` after the dot's reply, then the 221 is awaited (Sendmail 8.17/8.18, smtplib,
    /// PHPMailer; Exchange, whose habit is unconfirmed).
    #[default]
    Lockstep,
    /// `QUIT` in the same write as the dot when the server offered PIPELINING; the dot's
    /// reply is awaited, the 221 is not (`smtp_skip_quit_response = yes`), then a plain
    /// `close()`. Postfix 3.x (`src/smtp/smtp_proto.c`) for a session it will not cache.
    PipelinedQuit,
    /// `QUIT` in the same write as the dot, then `shutdown(SHUT_WR)`: the FIN arrives
    /// before the dot's reply; the reply is read, then the 221 for at most 1 s. Exim ≥ 4.95
    /// on plain TCP with PIPELINING, on a message's first delivery attempt only
    /// (`deliver_firsttime`; `src/src/transports/smtp.c`, commit 001bf8f58); its retries
    /// end in lockstep.
    PipelinedQuitHalfClose,
}

/// A sending MTA's timing: its timeouts, retry schedule and how long it keeps trying.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SenderPreset {
    /// Name, for traces (`postfix`, …, or a scenario's own).
    pub name: String,
    /// Reply timeouts.
    pub timeouts: SenderTimeouts,
    /// When deferred messages are retried.
    pub retry: RetrySchedule,
    /// A message still undelivered after this long in the queue is bounced.
    #[serde(with = "aptsim_core::duration::serde_text")]
    pub queue_lifetime: Duration,
    /// How it ends a session after the final dot.
    pub session_end: SessionEnd,
}

impl SenderPreset {
    /// A preset of the scenario's own making.
    pub fn custom(
        name: impl Into<String>,
        timeouts: SenderTimeouts,
        retry: RetrySchedule,
        queue_lifetime: Duration,
    ) -> Self {
        SenderPreset {
            name: name.into(),
            timeouts,
            retry,
            queue_lifetime,
            session_end: SessionEnd::Lockstep,
        }
    }

    /// The same preset ending its sessions as `end` says.
    pub fn ending(mut self, end: SessionEnd) -> Self {
        self.session_end = end;
        self
    }

    /// Postfix: `smtp_data_done_timeout` 600 s, backoff by age, `maximal_queue_lifetime`
    /// 5 d (postconf(5)); `QUIT` pipelined with the dot (one message per connection here,
    /// so the session is never cached).
    pub fn postfix() -> Self {
        Self::custom(
            "postfix",
            SenderTimeouts::postfix(),
            RetrySchedule::Postfix,
            Duration::from_secs(5 * DAY),
        )
        .ending(SessionEnd::PipelinedQuit)
    }

    /// Exim: `final_timeout` 10 min, the default retry rule, which gives up after 4 d
    /// (Exim specification, configure.default); on a first attempt the dot, `QUIT` and a
    /// half-close in one go.
    pub fn exim() -> Self {
        Self::custom(
            "exim",
            SenderTimeouts::exim(),
            RetrySchedule::Exim,
            Duration::from_secs(4 * DAY),
        )
        .ending(SessionEnd::PipelinedQuitHalfClose)
    }

    /// sendmail: `Timeout.datafinal` 1 h, queue runs every 15 min, `Timeout.queuereturn` 5 d
    /// (cf/README); never pipelines `QUIT` (SMTP-SENDERS.md §1).
    pub fn sendmail() -> Self {
        Self::custom(
            "sendmail",
            SenderTimeouts::sendmail(),
            RetrySchedule::Sendmail,
            Duration::from_secs(5 * DAY),
        )
    }

    /// Exchange: RFC 5321 timeouts (its own are not documented), 6 retries at 5 min then
    /// every 15 min, `MessageExpirationTimeout` 2 d (message-intervals docs).
    pub fn exchange() -> Self {
        Self::custom(
            "exchange",
            SenderTimeouts::exchange(),
            RetrySchedule::Exchange,
            Duration::from_secs(2 * DAY),
        )
    }
}

impl Default for SenderPreset {
    /// [`SenderPreset::postfix`]: the fields a scenario leaves out are Postfix's.
    fn default() -> Self {
        Self::postfix()
    }
}

/// The preset called `name` (one of [`PRESETS`], any case), or `None`.
pub fn preset(name: &str) -> Option<SenderPreset> {
    let name = name.to_ascii_lowercase();
    match name.as_str() {
        "postfix" => Some(SenderPreset::postfix()),
        "exim" => Some(SenderPreset::exim()),
        "sendmail" => Some(SenderPreset::sendmail()),
        "exchange" => Some(SenderPreset::exchange()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ages (in seconds) at which a message is tried, each attempt failing `took` after it
    /// starts, until `until`.
    fn schedule(retry: &RetrySchedule, took: Duration, until: Duration) -> Vec<u64> {
        let mut starts = Vec::new();
        let mut start = Duration::ZERO;
        let mut attempt = 0;
        while start < until {
            starts.push(start.as_secs());
            attempt += 1;
            let end = start + took;
            start = end + retry.next_delay(attempt, end);
        }
        starts
    }

    #[test]
    fn postfix_backs_off_by_age_on_queue_runs() {
        let s = schedule(
            &RetrySchedule::Postfix,
            Duration::from_millis(200),
            Duration::from_secs(5 * HOUR),
        );
        // About 5, 10, 20, 40 min, then 80, and every 70 min (4000 s rounded up to runs).
        let minutes: Vec<u64> = s.iter().map(|a| a / 60).collect();
        assert_eq!(minutes, [0, 5, 10, 20, 40, 80, 150, 220, 290]);
        for a in &s {
            assert_eq!(a % 300, 0, "every try on a queue run: {s:?}");
        }
    }

    #[test]
    fn postfix_rounding_to_the_next_queue_run() {
        let p = RetrySchedule::Postfix;
        // Failed 0.2 s after the queue run at 600 s: due at 1200 s, a run.
        assert_eq!(
            p.next_delay(3, Duration::from_millis(600_200)),
            Duration::from_millis(599_800)
        );
        // A 10 min timeout in the attempt at 600 s: due at 2400 s, a run.
        assert_eq!(
            p.next_delay(3, Duration::from_secs(1_200)),
            Duration::from_secs(1_200)
        );
        // Due at 2 × 1250 s = 2500 s: the run at 2700 s takes it.
        assert_eq!(
            p.next_delay(3, Duration::from_secs(1_250)),
            Duration::from_secs(1_450)
        );
        // Old messages: the 4000 s cap, rounded up to 4200 s.
        assert_eq!(
            p.next_delay(9, Duration::from_secs(3 * DAY)),
            Duration::from_secs(4_200)
        );
    }

    #[test]
    fn exim_phases() {
        let e = RetrySchedule::Exim;
        let q = Duration::from_secs(15 * MIN);
        assert_eq!(e.next_delay(1, Duration::ZERO), q);
        assert_eq!(e.next_delay(8, Duration::from_secs(2 * HOUR - 1)), q);
        assert_eq!(
            e.next_delay(9, Duration::from_secs(2 * HOUR)),
            Duration::from_secs(HOUR)
        );
        assert_eq!(
            e.next_delay(10, Duration::from_secs(3 * HOUR + 1)),
            Duration::from_secs(HOUR * 3 / 2)
        );
        assert_eq!(
            e.next_delay(11, Duration::from_secs(HOUR * 9 / 2)),
            Duration::from_secs(HOUR * 9 / 4)
        );
        assert_eq!(
            e.next_delay(20, Duration::from_secs(16 * HOUR)),
            Duration::from_secs(6 * HOUR)
        );
        let s = schedule(&e, Duration::from_secs(1), Duration::from_secs(4 * DAY));
        let hours: Vec<f64> = s.iter().map(|a| *a as f64 / 3_600.0).collect();
        // Eight tries 15 min apart under 2 h, then at 2, 3, 4.5, 6.75, 10.1, 15.2 and 22.8 h
        // (the last geometric gap starts before 16 h), then every 6 h.
        assert_eq!(s.iter().filter(|a| **a < 2 * HOUR).count(), 8);
        assert!((hours[8] - 2.0).abs() < 0.01, "{hours:?}");
        assert!((hours[9] - 3.0).abs() < 0.01, "{hours:?}");
        assert!((hours[10] - 4.5).abs() < 0.01, "{hours:?}");
        assert!((hours[13] - 15.1875).abs() < 0.01, "{hours:?}");
        for w in s.windows(2).skip(14) {
            assert_eq!(w[1] - w[0], 6 * HOUR + 1, "{hours:?}");
        }
    }

    #[test]
    fn exchange_switches_after_six_retries() {
        let x = RetrySchedule::Exchange;
        let age = Duration::from_secs(HOUR);
        for attempt in 1..=6 {
            assert_eq!(x.next_delay(attempt, age), Duration::from_secs(5 * MIN));
        }
        assert_eq!(x.next_delay(7, age), Duration::from_secs(15 * MIN));
        assert_eq!(x.next_delay(40, age), Duration::from_secs(15 * MIN));
        assert_eq!(
            RetrySchedule::Sendmail.next_delay(3, age),
            Duration::from_secs(15 * MIN)
        );
    }

    #[test]
    fn presets_by_name() {
        assert_eq!(preset("nosuchmta"), None);
        assert_eq!(preset(""), None);
        let want = [
            ("postfix", 600, 5 * DAY),
            ("exim", 600, 4 * DAY),
            ("sendmail", HOUR, 5 * DAY),
            ("exchange", 600, 2 * DAY),
        ];
        for (name, done, life) in want {
            let p = preset(name).expect("known");
            assert_eq!(p.name, name);
            assert_eq!(p.timeouts.data_done, Duration::from_secs(done), "{name}");
            assert_eq!(p.queue_lifetime, Duration::from_secs(life), "{name}");
        }
        assert_eq!(preset("Postfix"), Some(SenderPreset::postfix()));
        assert_eq!(PRESETS.map(|n| preset(n).is_some()), [true; 4]);
    }

    #[test]
    fn scenarios_override_fields_in_toml() {
        let p: SenderPreset = toml::from_str(
            r#"
            name = "slow-filter"
            queue_lifetime = "1d"
            retry = { fixed = { interval = "30m" } }
            [timeouts]
            data_done = "20m"
            "#,
        )
        .expect("valid");
        assert_eq!(p.timeouts.data_done, Duration::from_secs(1_200));
        assert_eq!(p.timeouts.mail, Duration::from_secs(300));
        assert_eq!(
            p.retry.next_delay(1, Duration::ZERO),
            Duration::from_secs(1_800)
        );
        assert_eq!(p.queue_lifetime, Duration::from_secs(DAY));
        let named: SenderPreset = toml::from_str("retry = \"exim\"").expect("valid");
        assert_eq!(named.retry, RetrySchedule::Exim);
        assert!(toml::from_str::<SenderPreset>("retires = \"exim\"").is_err());
        assert!(toml::from_str::<SenderTimeouts>("dataa_done = \"1m\"").is_err());
        let back: SenderPreset =
            toml::from_str(&toml::to_string(&SenderPreset::exim()).expect("writes"))
                .expect("reads back");
        assert_eq!(back, SenderPreset::exim());
    }
}
