//! Who the proxy's client is, as far as the proxy knows: its address and the name it gave in
//! HELO or EHLO. The next hop hears it through XFORWARD ([`super::xforward`]) and reads it
//! in the proxy's `Received:` header ([`super::received`]). No DNS: the proxy does no
//! look-ups, so the client has no verified host name.

use std::net::IpAddr;

use super::*;

/// The client's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ClientIdentity {
    /// Its IP address, if the session's site is one (IPv4-mapped IPv6 read as IPv4).
    pub(super) addr: Option<IpAddr>,
    /// The argument of its last HELO or EHLO, as it sent it (free text: check before use).
    pub(super) helo: Option<String>,
    /// It greeted with EHLO (ESMTP) rather than HELO.
    pub(super) esmtp: bool,
}

impl ProxySession {
    /// The client's identity now.
    pub(super) fn client_identity(&self) -> ClientIdentity {
        let addr = self.site.parse::<IpAddr>().ok().map(|ip| ip.to_canonical());
        let hello = self.helo.as_deref().and_then(|l| command::parse(l).ok());
        let (helo, esmtp) = match hello {
            Some(Command::Ehlo(name)) => (Some(name), true),
            Some(Command::Helo(name)) => (Some(name), false),
            _ => (None, false),
        };
        ClientIdentity { addr, helo, esmtp }
    }
}
