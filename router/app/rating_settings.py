"""A line's `rating` block (docs/configuration.md): how the customer is asked to rate the answer on close."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RatingSettings(BaseModel):
    """Asked after the closing text when an operator closes a dialog; the line asks nothing without the block."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scale: Literal["like", "five"] = "like"  # like/dislike (Bitrix24) or 1..5 (Chatwoot)
    comment: bool = False  # the customer may add a comment to their score
    # None: the default question in the line's language
    question: str | None = Field(None, min_length=1, max_length=1000)
