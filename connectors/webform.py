"""The CRM web form channel (`type: form`): a form of its own at `/forms/ID`, and embeddable in any site with one
script tag (widget/site/form.js), whose every submission makes a lead and a dialog in the line's queue, its
answers the first message (Bitrix24's CRM forms; Chatwoot has none).

    GET  /forms/ID          the form's page (ours, with the line's texts)
    GET  /forms/ID/schema   the form as form.js draws it, and a proof-of-work challenge when the form asks one
    POST /forms/ID          a submission: {"submission", "values", "website", "challenge", "nonce"}

Spam is held off by the address's allowance (`rate_per_ip`), a honeypot field (`website`: people never see it, so
whatever fills it is a robot, answered as if all went well and dropped), and, when the form asks it, a proof of work
(`proof_of_work` leading zero bits of SHA-256 over "CHALLENGE:NONCE": cheap for one person, dear for a flood).
The submission id the page chooses is the message's idempotency key: sent twice, stored once. A reply to such a
dialog cannot be delivered here (the customer left no chat): its delivery fails with that reason, and the operator
calls or writes to the phone or e-mail given."""

from __future__ import annotations

import builtins
import hashlib
import re
import secrets
import time
from datetime import UTC, datetime
from html import escape
from typing import Any, ClassVar, Literal

import orjson
import structlog
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connectors.base import AttachmentBody, Binding, ConnectorContext, SendResult
from connectors.origins import OriginPolicy, check_origins, client_address
from connectors.ratelimit import Limits, MemoryLimits, Rate, retry_after
from connectors.widget_page import page_headers, page_language
from queues.forms import Form, FormField, check_answers, contacts, transcript
from queues.messages import InboundMessage, OutboundMessage, Receipt, SenderProfile, event_ts

log = structlog.get_logger(__name__)
FORMS = "/forms/"
MAX_BODY = 64 * 1024
CHALLENGE_TTL = 600  # seconds a proof-of-work challenge may be used in
_SUBMISSION = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


class WebFormSettings(BaseModel):
    """The `form` channel block of a line: the form's texts and fields, and what guards it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["form"]
    account: str | None = Field(
        None, pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$"
    )  # /forms/ACCOUNT; default the line id
    title: str | None = Field(None, min_length=1, max_length=200)
    text: str | None = Field(None, min_length=1, max_length=1000)
    submit: str | None = Field(None, min_length=1, max_length=60)
    thanks: str | None = Field(None, min_length=1, max_length=500)  # said after a submission
    fields: tuple[FormField, ...] = Field(min_length=1, max_length=30)
    allowed_origins: list[str] = []  # sites that may embed it; empty: any
    trust_forwarded_for: bool = False
    rate_per_ip: int = Field(10, ge=1, le=6000)  # submissions a minute from one address
    burst_per_ip: int = Field(5, ge=1, le=1000)
    proof_of_work: int = Field(0, ge=0, le=24)  # leading zero bits asked of every submission; 0: none

    @model_validator(mode="after")
    def _check_form(self) -> WebFormSettings:
        self.form()  # raises with the problem
        return self

    @field_validator("allowed_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        return check_origins(value)

    def form(self) -> Form:
        """The form itself."""
        return Form(title=self.title, text=self.text, submit=self.submit, fields=self.fields)


def pow_ok(challenge: str, nonce: str, bits: int) -> bool:
    """Whether SHA-256 of "CHALLENGE:NONCE" starts with `bits` zero bits."""
    digest = int.from_bytes(hashlib.sha256(f"{challenge}:{nonce}".encode()).digest(), "big")
    return digest >> (256 - bits) == 0 if bits else True


class WebFormConnector:
    """Serves `/forms/ID` for every line with a form channel."""

    type: ClassVar[str] = "form"
    Settings: ClassVar[builtins.type[BaseModel]] = WebFormSettings
    immediate: ClassVar[bool] = True  # `send` answers at once (it can deliver nothing)

    def __init__(self, bindings: list[Binding], ctx: ConnectorContext) -> None:
        self.ctx = ctx
        self.forms: dict[str, WebFormSettings] = {b.account: b.settings for b in bindings}
        self.origins = {b.account: OriginPolicy(b.settings.allowed_origins) for b in bindings}
        self.limits: Limits = ctx.limits or MemoryLimits()
        self._used: dict[str, float] = {}  # proof-of-work challenges spent, until they expire anyway

    async def start(self) -> None:
        """Mount the routes."""
        self.ctx.routes.add("GET", FORMS + "{form}", self._page)
        self.ctx.routes.add("GET", FORMS + "{form}/schema", self._schema)
        for method in ("POST", "OPTIONS"):
            self.ctx.routes.add(method, FORMS + "{form}", self._submit)
        for account in self.forms:
            self.ctx.health.set(account, "up")

    async def stop(self) -> None:
        """Nothing runs in the background."""

    async def open_files(self) -> None:
        """A form takes no files."""

    async def send(self, msg: OutboundMessage) -> SendResult:
        """Nothing can be delivered: the customer left a form, not a chat."""
        return SendResult(
            ok=False,
            error="a web form's customer cannot be answered here: call or write to the phone or e-mail they gave",
        )

    async def on_receipt(self, receipt: Receipt) -> None:
        """The submission is stored (the page was answered when it was handed over)."""

    async def fetch_attachment(self, account: str, ref: str) -> AttachmentBody | None:
        """A form takes no files."""
        return None

    # ---- routes --------------------------------------------------------------------------------------

    def _cors(self, request: web.Request, account: str) -> dict[str, str] | None:
        """The CORS headers for a page of an allowed site (or none for no Origin); None for a site not allowed."""
        origin = request.headers.get("Origin")
        policy = self.origins.get(account)
        own = {f"{request.scheme}://{request.host}", (self.ctx.public_url or "").rstrip("/")}
        if origin is None or origin in own:  # the form's own page
            return {}
        if policy is None or not policy.allows(origin):
            return None
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    async def _page(self, request: web.Request) -> web.Response:
        account = request.match_info["form"]
        lang = page_language(request.query.get("lang"), request.headers.get("Accept-Language"))
        form = self.forms.get(account)
        headers = page_headers(request.host)
        title = (
            escape(form.title or account)
            if form
            else ("Form not found" if lang == "en" else "Форма не найдена")
        )
        script = (
            f'<script src="/widget/form.js" data-form="{escape(account)}" data-lang="{lang}" data-mode="page" async>'
            "</script>"
            if form
            else f"<main><h1>{title}</h1></main>"
        )
        body = (
            f'<!doctype html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<title>{title}</title>\n<link rel="stylesheet" href="/widget/page.css">\n</head>\n'
            f'<body class="{"form-page" if form else "missing"}">\n{script}\n</body>\n</html>\n'
        )
        return web.Response(status=200 if form else 404, text=body, content_type="text/html", headers=headers)

    async def _schema(self, request: web.Request) -> web.Response:
        account = request.match_info["form"]
        form, cors = self.forms.get(account), self._cors(request, account)
        if cors is None:
            return _answer(403, {"code": "origin_not_allowed", "message": "this site may not show this form"})
        if form is None:
            return _answer(404, {"code": "not_found", "message": "there is no such form"}, cors)
        body: dict[str, Any] = {
            "form": form.form().view(),
            "thanks": form.thanks,
        }
        if form.proof_of_work:
            token = self.ctx.signer.sign({"kind": "form.pow", "form": account, "r": secrets.token_hex(8)})
            body["pow"] = {"challenge": token, "bits": form.proof_of_work}
        return _answer(200, body, {**cors, "Cache-Control": "no-store"})

    async def _submit(self, request: web.Request) -> web.Response:
        account = request.match_info["form"]
        form, cors = self.forms.get(account), self._cors(request, account)
        if cors is None:
            log.info("form.refused", form=account[:64], code="origin_not_allowed")
            return _answer(403, {"code": "origin_not_allowed", "message": "this site may not send this form"})
        if request.method == "OPTIONS":
            allow = {
                "Access-Control-Allow-Methods": "GET, POST",
                "Access-Control-Allow-Headers": "Content-Type",
            }
            return web.Response(status=204, headers={**cors, **allow, "Access-Control-Max-Age": "600"})
        if form is None:
            return _answer(404, {"code": "not_found", "message": "there is no such form"}, cors)
        try:
            answer = await self._take(request, account, form)
        except _Refused as r:
            log.info("form.refused", form=account, code=r.body["code"])
            extra = {"Retry-After": str(r.retry)} if r.retry else {}
            return _answer(r.status, r.body, {**cors, **extra})
        return _answer(200, answer, cors)

    async def _take(self, request: web.Request, account: str, form: WebFormSettings) -> dict[str, Any]:
        forwarded = request.headers.get("X-Forwarded-For") if form.trust_forwarded_for else None
        address = client_address(request.remote, forwarded)
        rate = Rate.per_minute(form.rate_per_ip, form.burst_per_ip)
        try:
            wait = await self.limits.take([(f"form:{account}:ip:{address}", rate)], time.time())
        except Exception as exc:  # Redis away: the visitor sends it again
            log.warning("form.limits.failed", form=account, error=str(exc))
            raise _Refused(503, "unavailable", "the form cannot be taken now; send it again") from None
        if wait:
            raise _Refused(429, "rate_limited", "too many submissions; try again later", retry_after(wait))
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise _Refused(413, "too_large", f"a submission is at most {MAX_BODY} bytes")
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise _Refused(413, "too_large", f"a submission is at most {MAX_BODY} bytes")
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise _Refused(400, "bad_json", "send the submission as a JSON object") from None
        if not isinstance(data, dict):
            raise _Refused(400, "bad_json", "send the submission as a JSON object")
        submission = data.get("submission")
        if not isinstance(submission, str) or not _SUBMISSION.match(submission):
            raise _Refused(400, "bad_field", "submission must be an id of 8-64 letters, digits, - or _")
        thanks = {"status": "ok", "thanks": form.thanks}
        if data.get("website"):  # the honeypot: people never see it
            log.info("form.spam", form=account, reason="honeypot")
            return thanks
        if form.proof_of_work:
            self._check_work(account, data.get("challenge"), data.get("nonce"), form.proof_of_work)
        answers, wrong = check_answers(form.form(), data.get("values"))
        if wrong:
            raise _Refused(422, "bad_form", "some answers need a look", fields=wrong)
        text = transcript(form.form(), answers)
        if not text:
            raise _Refused(422, "empty_message", "the form is empty")
        given = contacts(form.form(), answers)
        event = InboundMessage(
            event_id=f"form:{submission}:{secrets.token_hex(4)}",
            channel=self.type,
            account=account,
            chat_id=submission,
            external_id=submission,
            text=text[: self.ctx.max_message_length],
            ts=event_ts(datetime.now(UTC)),
            sender=SenderProfile(
                display_name=given.get("name") or given.get("email") or given.get("phone") or "Web form",
                phone=given.get("phone"),
                email=given.get("email"),
                verified=False,  # typed into a form: it fills the lead, it joins no other
            ),
        )
        try:
            await self.ctx.sink.publish([event])
        except Exception as exc:  # the queue away: nothing was taken, the page sends it again
            log.warning("form.publish.failed", form=account, error=str(exc))
            raise _Refused(503, "unavailable", "the form cannot be taken now; send it again") from None
        log.info("form.submitted", form=account)
        return thanks

    def _check_work(self, account: str, challenge: Any, nonce: Any, bits: int) -> None:
        """The proof of work: a challenge we issued for this form, not used before, and a nonce that pays it."""
        if not isinstance(challenge, str) or not isinstance(nonce, str) or len(nonce) > 64:
            raise _Refused(400, "proof_required", "this form needs the proof of work its page computes")
        payload = self.ctx.signer.verify(challenge, max_age_seconds=CHALLENGE_TTL)
        if not payload or payload.get("kind") != "form.pow" or payload.get("form") != account:
            raise _Refused(
                400, "proof_required", "the challenge is not one of this form's, or it has expired"
            )
        now = time.monotonic()
        for spent in [c for c, until in self._used.items() if until < now]:
            del self._used[spent]
        if challenge in self._used or not pow_ok(challenge, nonce, bits):
            raise _Refused(400, "proof_required", "the proof of work does not hold; load the form again")
        self._used[challenge] = now + CHALLENGE_TTL


class _Refused(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        retry: int | None = None,
        fields: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.retry = status, retry
        self.body: dict[str, Any] = {"code": code, "message": message}
        if fields is not None:
            self.body["fields"] = fields


def _answer(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), content_type="application/json", headers=headers or {}
    )
