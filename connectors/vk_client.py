"""One community's synchronous VK client (vk-api over requests): imported only when a VK channel starts, and
called only from worker threads, never from the event loop."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

import requests
import vk_api
from jconfig.memory import MemoryConfig
from requests.adapters import HTTPAdapter
from vk_api.exceptions import TOO_MANY_RPS_CODE, ApiError, ApiHttpError, VkApiError

API_VERSION = "5.199"
OFFICIAL_API = "https://api.vk.ru"
OFFICIAL_HOSTS = ("https://api.vk.ru/", "https://api.vk.com/")  # vk-api has used both
HTTP_TIMEOUT = 20.0  # seconds; requests (and so vk-api) would otherwise wait forever


class VkCallError(Exception):
    """A failed VK call: VK's error code (None for a network failure or an HTTP error status) and its text."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(f"[{code}] {message}" if code is not None else message)
        self.code = code
        self.message = message


class _Transport(HTTPAdapter):
    """Sends what vk-api addresses to VK's API host to `base` instead (tests, proxies), always with a timeout."""

    def __init__(self, base: str | None, timeout: float) -> None:
        super().__init__()
        self.base = base
        self.timeout = timeout

    def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        if self.base is not None:
            parts = urlsplit(request.url)
            request.url = self.base + parts.path + (f"?{parts.query}" if parts.query else "")
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, *args, **kwargs)


def _session(api_base: str) -> requests.Session:
    session = requests.Session()
    plain = _Transport(None, HTTP_TIMEOUT)
    session.mount("http://", plain)
    session.mount("https://", plain)
    api = _Transport(None if api_base == OFFICIAL_API else api_base, HTTP_TIMEOUT)
    for host in OFFICIAL_HOSTS:
        session.mount(host, api)
    return session


class VkClient:
    """The VK methods one community uses, with errors as `VkCallError`."""

    def __init__(self, token: str, group_id: int, api_base: str, requests_per_second: int) -> None:
        self.group_id = group_id
        self.http = _session(api_base)
        self.poll_http = _session(api_base)  # long polls wait; they must not share a connection with calls
        self.vk = vk_api.VkApi(token=token, session=self.http, api_version=API_VERSION, config=MemoryConfig)
        # vk-api spaces calls of one VkApi under a lock; VK allows community tokens about 20 requests a second
        self.vk.RPS_DELAY = 1.0 / requests_per_second
        # error 6 becomes a retryable failure for the shared dispatcher, not vk-api's unbounded sleep-and-retry
        self.vk.error_handlers.pop(TOO_MANY_RPS_CODE, None)
        self.upload = vk_api.VkUpload(self.vk)
        self.upload.http = self.http

    def close(self) -> None:
        """Close the HTTP connections."""
        self.http.close()
        self.poll_http.close()

    def call(self, method: str, **values: Any) -> Any:
        """One API method; raises VkCallError."""
        try:
            return self.vk.method(method, {k: v for k, v in values.items() if v is not None})
        except ApiError as exc:
            raise VkCallError(int(exc.code), str(exc.error.get("error_msg") or "")) from exc
        except ApiHttpError as exc:
            raise VkCallError(None, f"HTTP {exc.response.status_code} from {method}") from exc
        except (requests.RequestException, ValueError, VkApiError) as exc:
            raise VkCallError(None, f"{type(exc).__name__}: {exc}"[:300]) from exc

    # ---- inbound --------------------------------------------------------------------------------

    def users(self, ids: list[int]) -> dict[int, dict[str, Any]]:
        """users.get for up to 1000 ids."""
        found = self.call("users.get", user_ids=",".join(map(str, ids)), fields="screen_name")
        return {int(u["id"]): u for u in found or [] if isinstance(u, dict) and "id" in u}

    def long_poll_server(self) -> dict[str, Any]:
        """groups.getLongPollServer: {server, key, ts}."""
        return dict(self.call("groups.getLongPollServer", group_id=self.group_id))

    def check(self, server: str, key: str, ts: str, wait: int) -> dict[str, Any]:
        """One Bots Long Poll request: {ts, updates} or {failed, ts?}."""
        try:
            r = self.poll_http.get(
                server, params={"act": "a_check", "key": key, "ts": ts, "wait": str(wait)}, timeout=wait + 10
            )
            r.raise_for_status()
            body = r.json()
        except (requests.RequestException, ValueError) as exc:
            raise VkCallError(None, f"long poll: {type(exc).__name__}: {exc}"[:300]) from exc
        if not isinstance(body, dict):
            raise VkCallError(None, "long poll: the answer is not an object")
        return body

    def message(self, peer_id: int, cmid: int) -> dict[str, Any] | None:
        """A message by its conversation_message_id (to get fresh URLs of its files)."""
        found = self.call(
            "messages.getByConversationMessageId",
            peer_id=peer_id,
            conversation_message_ids=cmid,
            group_id=self.group_id,
        )
        items = (found or {}).get("items") or []
        return items[0] if items and isinstance(items[0], dict) else None

    # ---- outbound -------------------------------------------------------------------------------

    def send(
        self, peer_id: int, text: str, random_id: int, attachment: str | None, keyboard: str | None = None
    ) -> int:
        """messages.send (with a keyboard: its JSON); VK delivers a repeated random_id once."""
        return int(
            self.call(
                "messages.send",
                peer_id=peer_id,
                message=text or None,
                random_id=random_id,
                attachment=attachment,
                keyboard=keyboard,
                dont_parse_links=1,
            )
        )

    def answer_event(self, event_id: str, user_id: int, peer_id: int, event_data: str | None) -> None:
        """messages.sendMessageEventAnswer: a pressed callback button stops waiting (and shows `event_data`)."""
        self.call(
            "messages.sendMessageEventAnswer",
            event_id=event_id,
            user_id=user_id,
            peer_id=peer_id,
            event_data=event_data,
        )

    def edit(self, peer_id: int, cmid: int, text: str, keyboard: str | None) -> None:
        """messages.edit of the community's own message by its conversation_message_id."""
        self.call(
            "messages.edit",
            peer_id=peer_id,
            conversation_message_id=cmid,
            message=text,
            keyboard=keyboard,
            group_id=self.group_id,
            dont_parse_links=1,
        )

    def typing(self, peer_id: int) -> None:
        """messages.setActivity: the conversation shows the community typing."""
        self.call("messages.setActivity", peer_id=peer_id, type="typing", group_id=self.group_id)

    def upload_photo(self, peer_id: int, data: bytes, name: str) -> str:
        """photos.getMessagesUploadServer, the upload, photos.saveMessagesPhoto: the attachment string."""
        photos = self._upload(lambda: self.upload.photo_messages(_named(data, name), peer_id=peer_id))
        p = photos[0]
        return _attachment_string("photo", p)

    def upload_doc(self, peer_id: int, data: bytes, name: str) -> str:
        """docs.getMessagesUploadServer, the upload, docs.save: the attachment string."""
        saved = self._upload(
            lambda: self.upload.document_message(_named(data, name), title=name, peer_id=peer_id)
        )
        # API 5.103+: {"type": "doc" | "audio_message", "doc": {...}}; older versions: a list of docs
        doc = saved.get(saved.get("type") or "doc") if isinstance(saved, dict) else saved[0]
        if not isinstance(doc, dict):
            raise VkCallError(None, "docs.save returned no document")
        return _attachment_string("doc", doc)

    def _upload(self, run: Any) -> Any:
        try:
            return run()
        except ApiError as exc:
            raise VkCallError(int(exc.code), str(exc.error.get("error_msg") or "")) from exc
        except ApiHttpError as exc:
            raise VkCallError(None, f"HTTP {exc.response.status_code}") from exc
        except (requests.RequestException, ValueError, KeyError, IndexError, TypeError, VkApiError) as exc:
            raise VkCallError(None, f"upload failed: {type(exc).__name__}: {exc}"[:300]) from exc


def _named(data: bytes, name: str) -> io.BytesIO:
    f = io.BytesIO(data)
    f.name = name  # vk-api names the uploaded part after it (the extension tells VK the type)
    return f


def _attachment_string(kind: str, obj: dict[str, Any]) -> str:
    key = f"_{obj['access_key']}" if obj.get("access_key") else ""
    return f"{kind}{obj['owner_id']}_{obj['id']}{key}"
