#!/usr/bin/env bash
# Installs what the live-proxy interop tests (scripts/interop/smtp_interop.py) need:
#   swaks            a sender nobody here wrote
#   postfix          for /usr/sbin/smtp-sink (the upstream that keeps what it receives) and
#                    /usr/sbin/smtp-source (Postfix's SMTP client, a third sender)
#   python3          smtplib, the second sender (Python's standard library)
# Idempotent: when everything is already there it prints one line and returns at once.
# Debian/Ubuntu only (apt-get); run as root. Safe in CI: postfix is preseeded to
# "No configuration", so no system mail server is configured or started on port 25.
set -euo pipefail

have_all() {
    command -v swaks >/dev/null 2>&1 &&
        [ -x /usr/sbin/smtp-sink ] &&
        [ -x /usr/sbin/smtp-source ] &&
        command -v python3 >/dev/null 2>&1
}

if have_all; then
    echo "interop deps: swaks, smtp-sink, smtp-source and python3 already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "interop deps: run as root (needs apt-get install swaks postfix python3)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# Postfix asks what kind of mail server to be; "No configuration" writes no main.cf, so its
# init script does not start a daemon (and policy-rc.d, where present, forbids it anyway).
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "postfix postfix/mailname string localhost" | debconf-set-selections

echo "interop deps: installing swaks postfix python3 (apt-get)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# Quiet when it works; the whole apt output when it does not.
if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends swaks postfix python3; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "interop deps: apt-get failed" >&2
    exit 1
fi

if ! have_all; then
    echo "interop deps: install finished but swaks, smtp-sink, smtp-source or python3 is missing" >&2
    exit 1
fi
echo "interop deps: installed"
