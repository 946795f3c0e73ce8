#!/usr/bin/env bash
# Installs what the live-proxy interop tests (scripts/interop/smtp_interop.py,
# sender_interop.py, datacenter_interop.py, cache_interop.py, xforward_interop.py and
# imap_interop.py) and the shared-cache tests of aptsim-live need:
#   swaks            a sender nobody here wrote
#   postfix          for /usr/sbin/smtp-sink (the upstream that keeps what it receives) and
#                    /usr/sbin/smtp-source (Postfix's SMTP client, a third sender); and a
#                    real Postfix upstream (xforward_interop.py): a private instance with its
#                    own config, queue and log in a temporary folder (postfix.py), run from
#                    the package's programs (master, smtpd, cleanup, postcat)
#   python3          smtplib, the second sender (Python's standard library)
#   redis-server     the store several proxies share verdicts through (--cache redis://),
#                    with redis-cli (package redis-tools). The checks start their own
#                    servers on free loopback ports; no system Redis is left running: where
#                    no policy-rc.d forbids starting services, one is put in place for the
#                    install and removed after it.
#   exim             a real sending MTA (sender_interop.py, check l). Not installed as a
#                    package: exim4-daemon-light conflicts with postfix (both are the
#                    mail-transport-agent), so its .deb is fetched with `apt-get download`
#                    and unpacked with `dpkg-deb -x` into $APTSIM_EXIM_DIR (default
#                    /var/cache/aptsim-interop/exim), setuid bit removed; the libraries it
#                    links (its Depends that are lib*) are installed with apt-get; and the
#                    system user Debian-exim is created, which Debian's binary looks up at
#                    every start (its compiled-in EXIM_USER), as the package would.
#                    scripts/interop/exim.py runs it unprivileged with its own config.
#   dovecot-imapd    the IMAP server behind the IMAP proxy (imap_interop.py); dovecot.py
#                    runs a private instance from its own config in the work folder. Like
#                    redis-server, installed with service starts forbidden: no system
#                    Dovecot is left running.
#   isync, fetchmail the batch IMAP clients mbsync and fetchmail (imap_interop.py), run
#                    once per check with private configurations; fetchmail's daemon is
#                    off by default (/etc/default/fetchmail) and stays off.
#   chromium         the browser the HTML report is checked in (scripts/report/
#                    browser_check.py, cli/tests/report_browser.rs): headless, from file://,
#                    background networking off.
# First it runs scripts/build-deps.sh (libssl-dev, pkg-config: what the `openssl-md5`
# feature of aptsim-core needs to build, which the tests build too).
# Idempotent: when everything is already there it prints one line (and build-deps.sh one)
# and returns at once.
# Debian/Ubuntu only (apt-get); run as root. Safe in CI: postfix is preseeded to
# "No configuration", so no system mail server is configured or started on port 25, and
# no Exim daemon is installed or started.
set -euo pipefail

bash "$(dirname "$0")/../build-deps.sh"

EXIM_DIR="${APTSIM_EXIM_DIR:-/var/cache/aptsim-interop/exim}"
EXIM_USER=Debian-exim

have_tools() {
    command -v swaks >/dev/null 2>&1 &&
        [ -x /usr/sbin/smtp-sink ] &&
        [ -x /usr/sbin/smtp-source ] &&
        [ -x /usr/sbin/postcat ] &&
        [ -x /usr/lib/postfix/sbin/master ] &&
        command -v python3 >/dev/null 2>&1
}

have_redis() {
    command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1
}

have_imap() {
    [ -x /usr/sbin/dovecot ] && [ -x /usr/lib/dovecot/imap ] &&
        getent passwd dovecot >/dev/null && getent passwd dovenull >/dev/null &&
        command -v mbsync >/dev/null 2>&1 && command -v fetchmail >/dev/null 2>&1
}

have_exim() {
    [ -x "$EXIM_DIR/usr/sbin/exim4" ] &&
        getent passwd "$EXIM_USER" >/dev/null &&
        "$EXIM_DIR/usr/sbin/exim4" -C /dev/null -bV >/dev/null 2>&1
}

exim_version() {
    "$EXIM_DIR/usr/sbin/exim4" -C /dev/null -bV 2>/dev/null | sed -n 's/^Exim version \([^ ]*\).*/\1/p'
}

have_chromium() {
    command -v chromium >/dev/null 2>&1
}

if have_tools && have_redis && have_imap && have_exim && have_chromium; then
    echo "interop deps: swaks, postfix (smtp-sink, smtp-source, master), python3, redis-server, dovecot-imapd, isync, fetchmail, chromium and exim $(exim_version) already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "interop deps: run as root (needs apt-get install swaks postfix python3 redis-server dovecot-imapd isync fetchmail chromium, and apt-get download exim4-daemon-light)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
log="$(mktemp)"
tmp="$(mktemp -d)"
policy_rc=""
cleanup() {
    rm -rf "$log" "$tmp"
    if [ -n "$policy_rc" ]; then rm -f "$policy_rc"; fi
}
trap cleanup EXIT

# Quiet when it works; the whole output and what failed when it does not.
run() {
    local what="$1"
    shift
    if ! "$@" >>"$log" 2>&1; then
        cat "$log" >&2
        echo "interop deps: $what failed" >&2
        exit 1
    fi
}

updated=no
apt_update() {
    if [ "$updated" = no ]; then
        run "apt-get update" apt-get update -qq
        updated=yes
    fi
}

if ! have_tools; then
    # Postfix asks what kind of mail server to be; "No configuration" writes no main.cf, so
    # its init script does not start a daemon (and policy-rc.d, where present, forbids it).
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    echo "postfix postfix/mailname string localhost" | debconf-set-selections
    echo "interop deps: installing swaks postfix python3 (apt-get)"
    apt_update
    run "apt-get install" apt-get install -y -qq --no-install-recommends swaks postfix python3
    if ! have_tools; then
        echo "interop deps: install finished but swaks, smtp-sink, smtp-source, postcat, Postfix's master or python3 is missing" >&2
        exit 1
    fi
fi

if ! have_redis; then
    echo "interop deps: installing redis-server (apt-get)"
    apt_update
    # The package would start a system Redis on port 6379; the checks start their own.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy_rc=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
        chmod 755 "$policy_rc"
    fi
    run "apt-get install redis-server" apt-get install -y -qq --no-install-recommends redis-server
    if [ -n "$policy_rc" ]; then
        rm -f "$policy_rc"
        policy_rc=""
    fi
    if ! have_redis; then
        echo "interop deps: install finished but redis-server or redis-cli is missing" >&2
        exit 1
    fi
fi

# Forbids service starts for one install (policy-rc.d, where none is in place), so that
# no system daemon is left running; the checks start their own.
no_service_starts() {
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy_rc=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy_rc"
        chmod 755 "$policy_rc"
    fi
}

allow_service_starts() {
    if [ -n "$policy_rc" ]; then
        rm -f "$policy_rc"
        policy_rc=""
    fi
}

if ! have_imap; then
    echo "interop deps: installing dovecot-imapd isync fetchmail (apt-get)"
    apt_update
    no_service_starts
    run "apt-get install dovecot-imapd isync fetchmail" \
        apt-get install -y -qq --no-install-recommends dovecot-imapd isync fetchmail
    allow_service_starts
    if ! have_imap; then
        echo "interop deps: install finished but dovecot (with its imap server and users dovecot, dovenull), mbsync or fetchmail is missing" >&2
        exit 1
    fi
fi

if ! have_chromium; then
    echo "interop deps: installing chromium (apt-get)"
    apt_update
    run "apt-get install chromium" apt-get install -y -qq --no-install-recommends chromium
    if ! have_chromium; then
        echo "interop deps: install finished but chromium is missing" >&2
        exit 1
    fi
fi

if ! have_exim; then
    echo "interop deps: unpacking exim4-daemon-light into $EXIM_DIR (apt-get download, dpkg-deb -x)"
    apt_update
    # apt-get download writes into the current folder, as the _apt user when it can.
    chmod 755 "$tmp"
    (cd "$tmp" && run "apt-get download exim4-daemon-light" apt-get download -qq exim4-daemon-light)
    deb="$(ls "$tmp"/exim4-daemon-light_*.deb 2>/dev/null | head -n 1)"
    if [ -z "$deb" ]; then
        cat "$log" >&2
        echo "interop deps: apt-get download exim4-daemon-light gave no .deb" >&2
        exit 1
    fi
    # The shared libraries it links: every lib* package in its Depends (version
    # constraints and alternatives dropped). Libraries only: no conflict with postfix.
    libs="$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/^ *//; s/ *$//' |
        grep '^lib' || true)"
    if [ -n "$libs" ]; then
        # shellcheck disable=SC2086 # one word per package
        run "apt-get install (exim's libraries: $(echo $libs))" \
            apt-get install -y -qq --no-install-recommends $libs
    fi
    rm -rf "$EXIM_DIR.new"
    mkdir -p "$EXIM_DIR.new"
    run "dpkg-deb -x $deb" dpkg-deb -x "$deb" "$EXIM_DIR.new"
    # No setuid root binary lying in a cache folder: the checks run it unprivileged.
    chmod u-s,g-s "$EXIM_DIR.new/usr/sbin/exim4"
    rm -rf "$EXIM_DIR"
    mv "$EXIM_DIR.new" "$EXIM_DIR"
    if ! getent passwd "$EXIM_USER" >/dev/null; then
        group_opt=(--user-group)
        if getent group "$EXIM_USER" >/dev/null; then
            group_opt=(--gid "$EXIM_USER")
        fi
        run "useradd $EXIM_USER" useradd --system "${group_opt[@]}" --no-create-home \
            --home-dir /nonexistent --shell /usr/sbin/nologin "$EXIM_USER"
    fi
    if missing="$(ldd "$EXIM_DIR/usr/sbin/exim4" | grep 'not found')"; then
        echo "interop deps: exim in $EXIM_DIR lacks libraries:" >&2
        echo "$missing" >&2
        exit 1
    fi
    if ! have_exim; then
        "$EXIM_DIR/usr/sbin/exim4" -C /dev/null -bV >&2 || true
        echo "interop deps: exim unpacked into $EXIM_DIR but does not run (exim4 -C /dev/null -bV above)" >&2
        exit 1
    fi
fi
echo "interop deps: installed (exim $(exim_version) in $EXIM_DIR)"
