"""E-mail over SMTP: the summary as the subject, a plain-text body with the detail.

`security`: "starttls" (submission, port 587: EHLO, STARTTLS, EHLO again), "ssl"
(implicit TLS, port 465) or "none" (a relay on a trusted network, port 25). With a
`username`, AUTH after TLS. The server's certificate is checked against the system's CAs,
or `ca_file` (an untrusted certificate is final). smtplib runs in a worker thread. A 4xx
reply is retried after the back-off (the server says "later"), a 5xx reply is final;
connection failures are retried.
The Message-ID is derived from the delivery id, so a repeat is recognisable.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

import aiohttp

from collector.alerts.notifiers.base import AlertMessage, Attempt
from collector.alerts.notifiers.webhook import DELIVERY_HEADER

SECURITY = ("starttls", "ssl", "none")


def compose(message: AlertMessage, *, sender: str, to: tuple[str, ...]) -> EmailMessage:
    event, text = message.event, message.text
    mail = EmailMessage()
    mail["Subject"] = text.summary
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Date"] = formatdate(message.at_s(), localtime=False)
    domain = sender.rpartition("@")[2] or "smsprobe"
    mail["Message-ID"] = f"<smsprobe.{message.alert_id}.{event.phase}@{domain}>"
    mail[DELIVERY_HEADER] = message.delivery_id
    figures = "\n".join(f"  {k}: {v}" for k, v in sorted(event.figures.items()))
    subject = "\n".join(f"  {k}: {v}" for k, v in sorted(event.subject.items()))
    mail.set_content(
        f"{text.title}\n\n{text.summary}\n\n"
        + (f"Evidence: {text.evidence_url}\n\n" if text.evidence_url else "")
        + f"Alert {message.alert_id} ({event.kind.value}, {event.phase})\nSubject:\n{subject}\n"
        + f"Figures:\n{figures}\n"
    )
    return mail


@dataclass(frozen=True, slots=True)
class EmailNotifier:
    name: str
    host: str
    sender: str
    to: tuple[str, ...]
    port: int = 587
    security: str = "starttls"
    username: str = ""
    password: str = ""
    ca_file: Path | None = None
    timeout_s: float = 10.0
    max_attempts: int | None = None

    @property
    def target(self) -> str:
        return f"email:{self.name}"

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)

    def _send_blocking(self, mail: EmailMessage) -> Attempt:
        smtp: smtplib.SMTP
        if self.security == "ssl":
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_s, context=self._tls()
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        try:
            smtp.ehlo()
            if self.security == "starttls":
                smtp.starttls(context=self._tls())
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.password)
            refused = smtp.send_message(mail)
        except ssl.SSLCertVerificationError as exc:  # a wrong CA stays wrong: final
            return Attempt(False, False, None, f"server certificate not trusted: {exc}")
        except smtplib.SMTPRecipientsRefused as exc:
            return Attempt(False, False, None, f"recipients refused: {sorted(exc.recipients)}")
        except smtplib.SMTPResponseException as exc:
            said = exc.smtp_error
            said = said.decode(errors="replace") if isinstance(said, bytes) else said
            detail = f"SMTP {exc.smtp_code}: {said}"
            return Attempt(False, 400 <= exc.smtp_code < 500, exc.smtp_code, detail)
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()
        if refused:  # some recipients took it, some did not: the page reached someone
            return Attempt(True, False, 250, f"refused by {sorted(refused)}")
        return Attempt(True, False, 250)

    async def send(self, message: AlertMessage, session: aiohttp.ClientSession) -> Attempt:
        mail = compose(message, sender=self.sender, to=self.to)
        return await asyncio.to_thread(self._send_blocking, mail)
