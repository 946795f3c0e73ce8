//! Before login: what Dovecot's `imap-login` answers (imap-login-client.c,
//! client-authenticate.c, login-common): CAPABILITY, NOOP, LOGOUT, ENABLE, ID, LOGIN and
//! AUTHENTICATE PLAIN (with or without SASL-IR, RFC 4959). Anything else is `BAD Error in
//! IMAP command received by server.`; the 20th in a row ends the connection.
//!
//! A refused login is answered after the failure delay (`auth_failure_delay`, 2 s), and
//! nothing else the client sent is read before. A successful one answers `OK [CAPABILITY
//! …] Logged in`, or, when the client asked CAPABILITY before, the capabilities untagged
//! and a bare `OK Logged in` (imap/main.c).

use aptsim_core::clock::Timestamp;
use imap_codec::CommandCodec;
use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;

use super::config::{CAPABILITY, PRE_LOGIN_CAPABILITY};
use super::events::ImapServerEvent;
use super::server::{Held, ImapServerSession, State, line_of};
use super::store::Mailstore;

/// Dovecot's answer to ID (`imap_id_send = name *`).
pub(super) const ID_REPLY: &str = "* ID (\"name\" \"Dovecot\")\r\n";

/// The tag and the command name (upper case; `UID FETCH` for a UID command) of a line.
pub(super) fn tag_and_name(raw: &[u8]) -> (Option<String>, String) {
    let line = String::from_utf8_lossy(line_of(raw)).into_owned();
    let mut words = line.split(' ');
    let tag = words
        .next()
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned);
    let mut name = words.next().unwrap_or_default().to_ascii_uppercase();
    if name == "UID" {
        let next = words.next().unwrap_or_default().to_ascii_uppercase();
        name = format!("UID {next}");
    }
    (tag, name)
}

impl ImapServerSession {
    /// One command before login.
    pub(super) fn pre_login(&mut self, raw: &[u8], store: &mut Mailstore, now: Timestamp) {
        let (tag, name) = tag_and_name(raw);
        let Some(tag) = tag else {
            return self.invalid_pre_login("*");
        };
        match name.as_str() {
            // Read by hand, as Dovecot does: the initial response may be long, and its
            // errors have their own replies.
            "AUTHENTICATE" => return self.authenticate(&tag, line_of(raw), store, now),
            "ID" => {
                self.send(ID_REPLY.as_bytes());
                return self.reply(&tag, "OK ID completed.");
            }
            _ => {}
        }
        let body = match CommandCodec::default().decode(raw) {
            Ok((_, command)) => command.body,
            Err(_) if tag.eq_ignore_ascii_case("LOGIN") => {
                return self.reply(
                    &tag,
                    "BAD First parameter in line is IMAP's command tag, not the command \
                     name. Add that before the command, like: a login user pass",
                );
            }
            Err(_) => return self.invalid_pre_login(&tag),
        };
        match body {
            CommandBody::Capability => {
                self.asked_capability = true;
                self.send(format!("* CAPABILITY {PRE_LOGIN_CAPABILITY}\r\n").as_bytes());
                self.reply(
                    &tag,
                    "OK Pre-login capabilities listed, post-login capabilities have more.",
                );
            }
            CommandBody::Noop => self.reply(&tag, "OK NOOP completed."),
            CommandBody::Logout => {
                self.send(b"* BYE Logging out\r\n");
                self.reply(&tag, "OK Logout completed.");
                self.event(ImapServerEvent::LoggedOut);
                self.close();
            }
            CommandBody::Enable { .. } => {
                self.send(b"* ENABLED\r\n");
                self.reply(&tag, "OK ENABLE ignored in non-authenticated state.");
            }
            CommandBody::Login { username, password } => {
                let user = String::from_utf8_lossy(username.as_ref()).into_owned();
                let password = String::from_utf8_lossy(password.declassify().as_ref()).into_owned();
                self.log_in(&tag, &user, &password, store, now);
            }
            _ => self.invalid_pre_login(&tag),
        }
    }

    /// `AUTHENTICATE mechanism [initial-response]`.
    fn authenticate(&mut self, tag: &str, line: &[u8], store: &mut Mailstore, now: Timestamp) {
        let line = String::from_utf8_lossy(line).into_owned();
        let mut words = line.split(' ').skip(2);
        let mechanism = words.next().unwrap_or_default();
        let initial = words.next();
        if mechanism.is_empty() || words.next().is_some() {
            return self.invalid_pre_login(tag);
        }
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            return self.reply(tag, "NO [ALERT] Unsupported authentication mechanism.");
        }
        match initial {
            None => {
                // An empty challenge: the client sends its response on the next line.
                self.send(b"+ \r\n");
                self.authenticating = Some(tag.to_owned());
            }
            // RFC 4959: `=` is an empty initial response.
            Some("=") => self.plain(tag, b"", store, now),
            Some(encoded) => match base64_simd::STANDARD.decode_to_vec(encoded) {
                Ok(data) => self.plain(tag, &data, store, now),
                Err(_) => self.reply(tag, "BAD Invalid base64 data in initial response"),
            },
        }
    }

    /// The client's SASL response to `+ ` (one line).
    pub(super) fn sasl_response(
        &mut self,
        tag: &str,
        line: &[u8],
        store: &mut Mailstore,
        now: Timestamp,
    ) {
        if line == b"*" {
            return self.reply(tag, "BAD Authentication aborted by client.");
        }
        match base64_simd::STANDARD.decode_to_vec(line) {
            Ok(data) => self.plain(tag, &data, store, now),
            Err(_) => self.reply(tag, "BAD Invalid base64 data in continued response"),
        }
    }

    /// SASL PLAIN (RFC 4616): `authzid NUL authcid NUL password`; an authorization
    /// identity other than the user's own is refused (Dovecot has no master users here).
    fn plain(&mut self, tag: &str, data: &[u8], store: &mut Mailstore, now: Timestamp) {
        let fields: Vec<&[u8]> = data.split(|&b| b == 0).collect();
        let (user, password) = match fields.as_slice() {
            [authz, user, password] if authz.is_empty() || authz == user => (*user, *password),
            _ => (&b""[..], &b""[..]),
        };
        let user = String::from_utf8_lossy(user).into_owned();
        let password = String::from_utf8_lossy(password).into_owned();
        self.log_in(tag, &user, &password, store, now);
    }

    fn log_in(
        &mut self,
        tag: &str,
        user: &str,
        password: &str,
        store: &mut Mailstore,
        now: Timestamp,
    ) {
        if user.is_empty() || !store.check_password(user, password) {
            self.held = Some(Held {
                due: now + self.config.auth_failure_delay,
                reply: format!("{tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
                    .into_bytes(),
                event: ImapServerEvent::LoginFailed {
                    user: user.to_owned(),
                },
            });
            return;
        }
        let reply = if self.asked_capability {
            format!("* CAPABILITY {CAPABILITY}\r\n{tag} OK Logged in\r\n")
        } else {
            format!("{tag} OK [CAPABILITY {CAPABILITY}] Logged in\r\n")
        };
        self.send(reply.as_bytes());
        self.state = State::Authenticated {
            user: user.to_owned(),
            selected: None,
        };
        self.bad_commands = 0;
        self.last_activity = now;
        self.event(ImapServerEvent::LoggedIn {
            user: user.to_owned(),
        });
    }

    /// A tagged reply before login: no timing.
    fn reply(&mut self, tag: &str, text: &str) {
        self.send(format!("{tag} {text}\r\n").as_bytes());
    }

    /// Dovecot's `client_invalid_command`.
    fn invalid_pre_login(&mut self, tag: &str) {
        self.bad_commands += 1;
        if self.bad_commands >= self.config.max_bad_commands {
            return self.bye("Too many invalid IMAP commands.");
        }
        let text = "BAD Error in IMAP command received by server.";
        self.reply(tag, text);
        self.event(ImapServerEvent::Refused {
            tag: tag.to_owned(),
            reply: text.to_owned(),
        });
    }
}
