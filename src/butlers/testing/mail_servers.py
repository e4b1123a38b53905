"""Real mail servers for tests: Dovecot (IMAP) and aiosmtpd (SMTP), on 127.0.0.1, in a temp folder.

    from butlers.testing.mail_servers import TestDovecot, TestSmtpServer

    imap = TestDovecot(tmp_path / "dovecot", user="me@example.test", password="secret")
    imap.start()
    imap.deliver(b"From: a@b\\r\\nSubject: hi\\r\\n\\r\\nbody")   # APPEND through IMAP
    ...
    imap.stop()

    smtp = TestSmtpServer(user="me@example.test", password="secret")
    smtp.start()
    ... smtp.messages   # every message accepted, with envelope and parsed headers
    smtp.stop()

Dovecot comes from Debian's `dovecot-imapd` package and the certificate from `openssl`: both must
be on PATH (this repo's tests install them when missing, see `tests/support/system_packages.py`;
this package never installs anything itself). Dovecot runs in the
foreground (`dovecot -F`) with a generated config: one passwd-file user, plaintext login
allowed (tests only), maildir storage in the temp folder.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import imaplib
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from butlers.testing.ports import free_port


def _require(command: str, apt_package: str) -> str:
    """The path of `command`, or a clear error naming the Debian package to install."""
    found = shutil.which(command)
    if found is None:
        raise RuntimeError(f"'{command}' is not on PATH: install the Debian package '{apt_package}'")
    return found


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def make_certificate(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for `host` (also valid for localhost): (cert.pem, key.pem).

    Point SSL_CERT_FILE at cert.pem and Python's default TLS context trusts it.
    """
    openssl = _require("openssl", "openssl")
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-addext",
            f"subjectAltName=DNS:localhost,IP:{host}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def _dovecot_users(f: Path) -> tuple[pwd.struct_passwd, str, str]:
    """The mail user and the internal and login users Dovecot runs as (its own ones when we are root)."""
    if os.getuid() != 0:
        mail_user = pwd.getpwuid(os.getuid())
        return mail_user, mail_user.pw_name, mail_user.pw_name
    # Dovecot refuses root for mail and internal processes: use its own users.
    mail_user = pwd.getpwnam("dovecot")
    for sub in ("mail", "home"):
        os.chown(f / sub, mail_user.pw_uid, mail_user.pw_gid)
    f.chmod(0o755)
    for parent in f.parents:  # the mail user must reach its folder
        if parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o005)
    return mail_user, "dovecot", "dovenull"


def _dovecot_conf(
    f: Path, ssl: str, internal: str, login: str, mail_user: pwd.struct_passwd, port: int, tls_port: int
) -> str:
    return f"""
base_dir = {f}/run
state_dir = {f}/state
log_path = {f}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{f}/mail/%u
default_internal_user = {internal}
default_internal_group = {internal}
default_login_user = {login}
first_valid_uid = {mail_user.pw_uid}
last_valid_uid = {mail_user.pw_uid}
first_valid_gid = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {f}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user.pw_uid} gid={mail_user.pw_gid} home={f}/home/%u
}}
namespace inbox {{
  inbox = yes
  mailbox Drafts {{
    special_use = \\Drafts
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
"""


class TestDovecot:
    """One Dovecot IMAP server for one user, started and stopped by the test."""

    __test__ = False

    def __init__(
        self,
        folder: Path,
        *,
        user: str = "me@example.test",
        password: str = "secret",
        certificate: tuple[Path, Path] | None = None,
    ) -> None:
        self.folder = folder
        self.user = user
        self.password = password
        self.certificate = certificate  # (cert, key): STARTTLS on `port`, implicit TLS on `tls_port`
        self.port = free_port()
        self.tls_port = free_port() if certificate else 0
        self.host = "127.0.0.1"
        self._proc: subprocess.Popen[bytes] | None = None
        self._binary = _require("dovecot", "dovecot-imapd")
        self._conf = self._write_config()

    def _write_config(self) -> Path:
        f = self.folder
        for sub in ("run", "state", "mail", "home"):
            (f / sub).mkdir(parents=True, exist_ok=True)
        mail_user, internal, login = _dovecot_users(f)
        (f / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}::::::\n")
        ssl = "ssl = no"
        if self.certificate:
            cert, key = self.certificate
            ssl = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}"
        conf = f / "dovecot.conf"
        conf.write_text(_dovecot_conf(f, ssl, internal, login, mail_user, self.port, self.tls_port))
        return conf

    def start(self, timeout: float = 15.0) -> None:
        assert self._proc is None, "already running"
        self._proc = subprocess.Popen(
            [self._binary, "-F", "-c", str(self._conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: stop() takes the imap processes down too
        )
        deadline = time.monotonic() + timeout
        while not _port_open(self.port):
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode() if self._proc.stderr else ""
                self._proc = None
                raise RuntimeError(f"dovecot exited at startup: {err}\n{self.log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"dovecot did not listen on {self.port} within {timeout}s\n{self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        # Like a server going down: the master and every open IMAP connection's process.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        deadline = time.monotonic() + 10
        while _port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self._proc is not None

    def log(self) -> str:
        path = self.folder / "dovecot.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _connect(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        conn.login(self.user, self.password)
        return conn

    def deliver(self, message: bytes | EmailMessage, mailbox: str = "INBOX", flags: str = "") -> None:
        """Put a message into `mailbox` (IMAP APPEND as the user, like a delivery agent)."""
        data = message.as_bytes() if isinstance(message, EmailMessage) else message
        conn = self._connect()
        try:
            typ, resp = conn.append(mailbox, f"({flags})" if flags else None, None, data)
            assert typ == "OK", f"APPEND failed: {resp}"
        finally:
            conn.logout()

    def fetch_all(self, mailbox: str = "INBOX") -> list[tuple[int, set[str], EmailMessage]]:
        """Every message of `mailbox`: (uid, flags, parsed message)."""
        conn = self._connect()
        try:
            typ, _ = conn.select(f'"{mailbox}"', readonly=True)
            assert typ == "OK"
            typ, data = conn.uid("SEARCH", "ALL")
            uids = [int(u) for u in (data[0] or b"").split()]
            out: list[tuple[int, set[str], EmailMessage]] = []
            for uid in uids:
                typ, parts = conn.uid("FETCH", str(uid), "(FLAGS BODY.PEEK[])")
                head, body = parts[0]
                flags = set(imaplib.ParseFlags(head))
                msg = email.message_from_bytes(body, policy=email.policy.default)
                assert isinstance(msg, EmailMessage)
                out.append((uid, {fl.decode() for fl in flags}, msg))
            return out
        finally:
            conn.logout()


@dataclass
class CapturedMessage:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    login: str | None
    message: EmailMessage = field(init=False)

    def __post_init__(self) -> None:
        msg = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.message = msg


class _Handler:
    def __init__(self, server: TestSmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: SMTPServer, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or (envelope.content if isinstance(envelope.content, bytes) else b"")
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        captured = CapturedMessage(
            mail_from=envelope.mail_from or "", rcpt_tos=list(envelope.rcpt_tos), data=data, login=login
        )
        with self.server.lock:
            self.server.messages.append(captured)
        return "250 OK"


class _QuietController(Controller):
    def factory(self) -> SMTPServer:
        # aiosmtpd warns about AUTH without TLS on every connection: intended here, on the loopback.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return super().factory()


class TestSmtpServer:
    """aiosmtpd on 127.0.0.1 that requires the given login and captures every message."""

    __test__ = False

    def __init__(
        self,
        *,
        user: str = "me@example.test",
        password: str = "secret",
        security: str = "none",
        certificate: tuple[Path, Path] | None = None,
    ) -> None:
        assert security in ("none", "tls", "starttls") and (security == "none" or certificate)
        self.user = user
        self.password = password
        self.security = security
        self.certificate = certificate
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages: list[CapturedMessage] = []
        self.lock = threading.Lock()
        self._controller: Controller | None = None

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    def start(self) -> None:
        tls: dict[str, Any] = {}
        if self.certificate:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*self.certificate)
            if self.security == "tls":
                tls = {"ssl_context": context}
            else:
                tls = {"tls_context": context, "require_starttls": True}
        self._controller = _QuietController(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            authenticator=self._authenticate,
            auth_required=True,
            # With implicit TLS aiosmtpd cannot tell the connection is encrypted: AUTH is allowed without
            # STARTTLS there, and in the loopback tests without TLS.
            auth_require_tls=self.security == "starttls",
            **tls,
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def snapshot(self) -> list[CapturedMessage]:
        with self.lock:
            return list(self.messages)
