"""Real mail servers for the e-mail tests: Debian's Dovecot (IMAP) and aiosmtpd (SMTP), on free local ports."""

from __future__ import annotations

import asyncio
import email
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aioimaplib
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"  # sbin is not on every PATH
MAILBOX = "support@example.test"
PASSWORD = "mail-secret"


def free_port() -> int:
    """A port nobody listens on right now (aiosmtpd's Controller cannot take port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dovecot exited: {log.read_text() if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("dovecot did not start listening")


@dataclass
class Dovecot:
    """A throwaway Dovecot serving one mailbox user over plain IMAP on 127.0.0.1."""

    dir: Path
    port: int
    tls_port: int | None = None  # also serve IMAPS here, and STARTTLS on `port`, with a self-signed cert
    proc: subprocess.Popen[bytes] | None = None

    @property
    def cert(self) -> Path:
        """The self-signed certificate of 127.0.0.1 (for a client's trust store)."""
        return self.dir / "cert.pem"

    def _tls_config(self) -> tuple[str, str]:
        if self.tls_port is None:
            return "ssl = no", "port = 0"
        if not self.cert.exists():
            key, cert = str(self.dir / "key.pem"), str(self.cert)
            subprocess.run(
                [
                    *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
                    *("-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1"),
                    *("-addext", "subjectAltName=IP:127.0.0.1"),
                ],
                check=True,
                capture_output=True,
            )
        ssl = f"ssl = yes\nssl_cert = <{self.cert}\nssl_key = <{self.dir / 'key.pem'}"
        return ssl, f"address = 127.0.0.1\n    port = {self.tls_port}"

    def start(self) -> None:
        """Start (or start again, keeping the mail) and wait until it listens."""
        d = self.dir
        (d / "mail").mkdir(exist_ok=True)
        shutil.chown(d / "mail", "nobody", "nogroup")  # Dovecot refuses uid 0 for mail
        os.chmod(d, 0o755)  # the auth process reads the users file as its own user
        (d / "users").write_text(f"{MAILBOX}:{{PLAIN}}{PASSWORD}\n")
        ssl, imaps = self._tls_config()
        (d / "dovecot.conf").write_text(
            f"""base_dir = {d}/run
state_dir = {d}/state
instance_name = test-dovecot-{self.port}
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{d}/mail/%u/Maildir
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/users
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    {imaps}
  }}
}}
"""
        )
        self.proc = subprocess.Popen(
            [DOVECOT, "-c", str(d / "dovecot.conf"), "-F"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() ends the master and its children at once
        )
        _wait_port(self.port, self.proc, d / "dovecot.log")

    def stop(self) -> None:
        """Kill this Dovecot's process group (a graceful SIGTERM takes seconds; the mail is on disk)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)


class Mailbox:
    """The test's own IMAP client of the support mailbox: delivers mail (APPEND) and reads flags."""

    def __init__(self, port: int) -> None:
        self.port = port

    async def _client(self) -> aioimaplib.IMAP4:
        imap = aioimaplib.IMAP4(host="127.0.0.1", port=self.port, timeout=10)
        await imap.wait_hello_from_server()
        assert (await imap.login(MAILBOX, PASSWORD)).result == "OK"
        return imap

    async def deliver(self, raw: bytes | EmailMessage, folder: str = "INBOX") -> None:
        """Put a mail into a folder as a mail server's delivery would (unseen)."""
        data = raw.as_bytes(policy=policy.SMTP) if isinstance(raw, EmailMessage) else raw
        imap = await self._client()
        try:
            response = await imap.append(data, mailbox=folder)
            assert response.result == "OK", response
        finally:
            await imap.logout()

    async def flags(self, folder: str = "INBOX") -> dict[str, set[str]]:
        """Message-ID → flags of every mail in a folder."""
        return {mid: flags for _, mid, flags in await self._list(folder)}

    async def flags_by_uid(self, folder: str = "INBOX") -> dict[int, set[str]]:
        """UID → flags of every mail in a folder (two deliveries of one mail are two entries)."""
        return {uid: flags for uid, _, flags in await self._list(folder)}

    async def _list(self, folder: str) -> list[tuple[int, str, set[str]]]:
        imap = await self._client()
        try:
            selected = await imap.select(folder)
            if b"0 EXISTS" in selected.lines:
                return []
            res = await imap.uid("fetch", "1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            out: list[tuple[int, str, set[str]]] = []
            uid, flags = 0, set()
            for line in res.lines:
                if isinstance(line, bytes) and b"FETCH (" in line and b"UID " not in line:
                    continue  # an unsolicited flags update (the daemon set \Seen meanwhile): no UID, no body
                if isinstance(line, bytes) and b"FETCH (" in line:
                    uid = int(line.split(b"UID ", 1)[1].split()[0].rstrip(b")"))
                    flags = set(line.split(b"FLAGS (", 1)[1].split(b")", 1)[0].decode().split())
                elif isinstance(line, bytearray):
                    header = email.message_from_bytes(bytes(line), policy=policy.default)
                    out.append((uid, str(header.get("Message-ID", "")).strip(), flags))
            return out
        finally:
            await imap.logout()

    async def create(self, folder: str) -> None:
        """Make a folder."""
        imap = await self._client()
        try:
            await imap.create(folder)
        finally:
            await imap.logout()


@dataclass
class Received:
    """One mail aiosmtpd accepted."""

    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class Recorder:
    """An aiosmtpd handler that keeps what it accepts and answers scripted failures first."""

    received: list[Received] = field(default_factory=list)
    rcpt_replies: list[str] = field(default_factory=list)  # e.g. "550 5.1.1 no such user", used once each
    data_replies: list[str] = field(default_factory=list)  # e.g. "451 4.3.0 try later"
    attempts: int = 0
    logins: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self.lock:
            if self.rcpt_replies:
                self.attempts += 1
                return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.attempts += 1
            if self.data_replies:
                return self.data_replies.pop(0)
            raw = envelope.original_content or envelope.content
            assert isinstance(raw, bytes)
            msg = email.message_from_bytes(raw, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), msg))
        return "250 OK queued"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            MAILBOX.encode(),
            PASSWORD.encode(),
        ):
            self.logins.append(auth_data.login.decode())
            return AuthResult(success=True)
        # handled=False, or aiosmtplib waits 60 s for an answer that never comes
        return AuthResult(success=False, handled=False)

    async def wait(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Wait until `count` mails were accepted."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} mails received, expected {count}")
            await asyncio.sleep(0.05)
        return list(self.received)


@dataclass
class MailServers:
    """Dovecot and aiosmtpd for one test, and a channel block pointing at them."""

    dovecot: Dovecot
    smtp_port: int
    smtp: Recorder
    mailbox: Mailbox

    def channel(self, **extra: Any) -> dict[str, Any]:
        """An `email` channel block for a line, polling quickly."""
        imap = {
            "host": "127.0.0.1",
            "port": self.dovecot.port,
            "ssl": False,
            "password": PASSWORD,
            "poll_interval": "200ms",
            **extra.pop("imap", {}),
        }
        smtp = {
            "host": "127.0.0.1",
            "port": self.smtp_port,
            "starttls": False,
            "retry_after": 0.2,
            **extra.pop("smtp", {}),
        }
        return {"type": "email", "address": MAILBOX, "imap": imap, "smtp": smtp, **extra}


@pytest.fixture(name="dovecot")
def dovecot_fixture() -> Iterator[Dovecot]:
    """A Dovecot of its own for one test."""
    # not pytest's tmp_path: its parents are 0700 and Dovecot's auth user must reach the users file
    root = Path(tempfile.mkdtemp(prefix="openlines-dovecot-"))
    server = Dovecot(root, free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(name="mail")
async def mail_fixture(dovecot: Dovecot) -> AsyncIterator[MailServers]:
    """Dovecot plus an aiosmtpd that requires the mailbox's login."""
    recorder = Recorder()
    port = free_port()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        authenticator=recorder.authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield MailServers(dovecot, port, recorder, Mailbox(dovecot.port))
    finally:
        controller.stop()
