"""The search benchmark's data (bench/search.py): leads, identities, dialogs and messages in time order, with
message texts in several scripts, as plain row tuples for sqlite3 `executemany` and PostgreSQL COPY.

Text: 4–14 words per message, Zipf-distributed over ~60,000 words in Latin, Cyrillic and Greek script (real
frequent words first, syllable-made ones after), a capital first letter, and an order number in one message of
ten (a word found once). Every tenth dialog's lead has a responsible operator; the newest 1 % of dialogs are open.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

LINES = [f"line{i}" for i in range(8)]
CHANNELS = ["widget", "telegram", "vk", "email"]
OPERATORS = [f"op{i}" for i in range(40)]  # five per line
START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=700)
PER_DIALOG = 10  # messages per dialog on average
OPEN_SHARE = 0.01  # the newest dialogs are still open

_REAL_TEXT = (
    "the order delivery please thank you where is my parcel hello payment refund problem account password help "
    "заказ доставка спасибо пожалуйста где мой привет оплата возврат проблема счёт пароль помощь когда курьер "
    "παραγγελία παράδοση ευχαριστώ γεια πληρωμή επιστροφή πρόβλημα λογαριασμός βοήθεια πότε "
    "Bestellung Lieferung danke bitte Hallo Zahlung Problem commande livraison merci bonjour paiement"
)
REAL = _REAL_TEXT.split()
SYLLABLES = {
    "latin": "ka lo mi ter son ver pra de li nu ro sta ble gen tor mar fi quo bri da el um an ix".split(),  # noqa: SIM905
    "cyrillic": "ка ло ми тер сон вер пра де ли ну ро ста бле ген тор мар фи жу ще ый ан ус".split(),  # noqa: SIM905
    "greek": "κα λο μι τερ σον βερ πρα δε λι νυ ρο στα γεν τορ μαρ φι ξυ ψα".split(),  # noqa: SIM905
}


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """The words by rank: the real frequent ones, then made ones in each script in turn."""
    words = list(dict.fromkeys(w.lower() for w in REAL))
    seen = set(words)
    scripts = itertools.cycle(SYLLABLES.values())
    while len(words) < size:
        syl = next(scripts)
        w = "".join(rng.choice(syl) for _ in range(rng.randint(2, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


class Texts:
    """Message texts: windows of a Zipf-sampled word stream (one stream, sampled once: fast for 10^7 texts)."""

    def __init__(self, rng: random.Random, messages: int, vocab_size: int = 60_000) -> None:
        self.rng = rng
        pool = min(4_000_000, max(200_000, messages))
        self.words = vocabulary(vocab_size, rng)
        cum = list(itertools.accumulate(1.0 / (r + 2.7) for r in range(len(self.words))))
        self.pool = rng.choices(self.words, cum_weights=cum, k=pool)
        self.counts = Counter(self.pool)

    def text(self, i: int) -> str:
        n = self.rng.randint(4, 14)
        start = self.rng.randrange(len(self.pool) - n)
        words = self.pool[start : start + n]
        text = " ".join(words)
        text = text[0].upper() + text[1:]
        if i % 10 == 0:
            text += f", order {5_000_000 + i}"
        return text + ("?" if i % 3 == 0 else ".")

    def by_frequency(self, messages: int) -> dict[str, list[str]]:
        """Words of each class by expected message frequency (a pool word is in ~messages*9/pool messages)."""
        scale = messages * 9 / len(self.pool)
        est = {w: c * scale for w, c in self.counts.items()}
        classes: dict[str, list[str]] = {"rare": [], "medium": [], "common": []}
        for w, f in sorted(est.items(), key=lambda x: -x[1]):
            if f >= messages / 50:
                classes["common"].append(w)
            elif messages / 2000 <= f <= messages / 500:
                classes["medium"].append(w)
            elif 10 <= f <= 100:
                classes["rare"].append(w)
        ranked = sorted(est, key=lambda w: -est[w])
        for k, fallback in (("common", ranked[:20]), ("medium", ranked[20:200]), ("rare", ranked[-200:])):
            classes[k] = classes[k] or fallback  # a tiny run: the nearest words
        return {k: v[:200] for k, v in classes.items()}


def _ts(at: datetime) -> str:
    """A time as SQLAlchemy stores it on SQLite (naive UTC)."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def rows(n_leads: int, n_messages: int, seed: int = 20261207) -> Iterator[tuple[str, Any]]:
    """The leads, identities, dialogs and messages, in time order, as (table, row tuple)."""
    rng = random.Random(seed)
    texts = Texts(rng, n_messages)
    step = SPAN / n_messages
    n_dialogs = max(1, n_messages // PER_DIALOG)
    open_from = int(n_dialogs * (1 - OPEN_SHARE))
    for d in range(n_dialogs):
        lead = d % n_leads
        at = START + step * d * PER_DIALOG
        line = LINES[d % len(LINES)]
        ops = OPERATORS[LINES.index(line) * 5 : LINES.index(line) * 5 + 5]
        op = ops[(d // len(LINES)) % 5]
        channel = CHANNELS[lead % len(CHANNELS)]
        if d < n_leads:
            yield (
                "lead",
                (
                    f"L{lead:012d}",
                    f"Customer {lead}",
                    f"customer {lead}",
                    "new",
                    rng.choice(OPERATORS) if lead % 10 == 0 else None,
                    _ts(at),
                    _ts(at),
                ),
            )
            yield (
                "identity",
                (f"I{lead:012d}", f"L{lead:012d}", channel, "main", f"x{lead}", "", "{}", _ts(at)),
            )
        state = ("queued", "offered", "assigned", "assigned")[d % 4] if d >= open_from else "closed"
        operator = op if state in ("assigned", "closed") else None
        offered = json.dumps([op]) if state == "offered" else "[]"
        yield (
            "dialog",
            (
                f"D{d:012d}",
                f"L{lead:012d}",
                f"I{lead:012d}",
                line,
                channel,
                "main",
                f"x{lead}",
                state,
                operator,
                offered,
                "[]",
                "",
                _ts(at),
                _ts(at),
                _ts(at + timedelta(hours=1)) if state == "closed" else None,
                "[]",
            ),
        )
        first = d * PER_DIALOG
        last = n_messages if d == n_dialogs - 1 else first + PER_DIALOG
        for i in range(first, last):
            m_at = START + step * i
            inbound = i % 2 == 0
            yield (
                "message",
                (
                    f"M{i:025d}",
                    f"D{d:012d}",
                    channel,
                    "main",
                    f"e{i}" if inbound else None,
                    "in" if inbound else "out",
                    "customer" if inbound else "operator",
                    None if inbound else op,
                    "",
                    texts.text(i),
                    "internal" if i % 97 == 0 else "public",
                    "[]",
                    _ts(m_at),
                    "[]",
                    0,
                ),
            )
    for lead in range(n_dialogs, n_leads):  # leads without a dialog yet
        at = START + SPAN
        yield "lead", (f"L{lead:012d}", f"Customer {lead}", f"customer {lead}", "new", None, _ts(at), _ts(at))
        channel = CHANNELS[lead % len(CHANNELS)]
        yield "identity", (f"I{lead:012d}", f"L{lead:012d}", channel, "main", f"x{lead}", "", "{}", _ts(at))


SQL = {
    "lead": "INSERT INTO leads (id, name, name_search, status, responsible, created_at, updated_at) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)",
    "identity": "INSERT INTO identities (id, lead_id, channel, account, external_id, display_name, profile, "
    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "dialog": "INSERT INTO dialogs (id, lead_id, identity_id, line_id, channel, account, chat_id, state, operator, "
    "offered_to, excluded, customer_name, created_at, updated_at, closed_at, invited) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    "message": "INSERT INTO messages (id, dialog_id, channel, account, external_id, direction, author_kind, "
    "author_id, author_name, text, visibility, attachments, created_at, edits, delivery_attempts) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
}
