"""The `crm` block (docs/configuration.md): the lead status pipeline, in order, each status with its name, colour
and kind (a working step, won, or one of several rejections, each named by its reason)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from router.app.deal_settings import DEFAULT_PIPELINE, CustomFields, Pipeline, check_pipelines

DEFAULT_STATUSES: list[Any] = [
    {"id": "new", "name": "New", "color": "#64748b"},
    {"id": "in_progress", "name": "In progress", "color": "#2563eb"},
    {"id": "proposal", "name": "Proposal", "color": "#7c3aed"},
    {"id": "negotiation", "name": "Negotiation", "color": "#d97706"},
    {"id": "converted", "name": "Converted", "color": "#16a34a", "kind": "won"},
    {"id": "rejected", "name": "Rejected", "color": "#dc2626", "kind": "rejected"},
]
# a status given without a colour takes the next of these
_PALETTE = ("#64748b", "#2563eb", "#7c3aed", "#0891b2", "#d97706", "#db2777", "#65a30d", "#9333ea")
_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"


class LeadStatus(BaseModel):
    """One step of the lead pipeline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID)
    name: str = Field("", max_length=100)  # "" → the id
    color: str = Field("", pattern=r"^(#[0-9a-fA-F]{6})?$")
    # work: a step of the sale; won: the lead reached its goal; rejected: a dead end, the status's name saying why
    kind: Literal["work", "won", "rejected"] = "work"


class CrmSettings(BaseModel):
    """`crm.statuses`: plain ids (as before) or `{id, name, color, kind}`; a new lead gets the first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pipeline: list[LeadStatus] = Field(
        default_factory=lambda: [LeadStatus(**s) for s in DEFAULT_STATUSES],
        min_length=2,
        alias="statuses",
    )
    # deal pipelines (router/app/deal_settings.py); the first is the default one
    pipelines: list[Pipeline] = Field(default_factory=lambda: [Pipeline(**DEFAULT_PIPELINE)], min_length=1)
    fields: CustomFields = CustomFields()
    # a lead or deal without activity this many days is flagged to its responsible (0: never)
    remind_after_days: int = Field(7, ge=0, le=365)

    @field_validator("pipeline", mode="before")
    @classmethod
    def _plain_ids(cls, value: Any) -> Any:
        if not isinstance(value, list):
            return value
        out = []
        for i, item in enumerate(value):
            item = {"id": item} if isinstance(item, str) else item
            if isinstance(item, dict):
                item = {"color": _PALETTE[i % len(_PALETTE)], **item}
                item.setdefault("name", str(item.get("id", "")).replace("_", " ").capitalize())
            out.append(item)
        return out

    @model_validator(mode="after")
    def _sound(self) -> CrmSettings:
        ids = [s.id for s in self.pipeline]
        if len(set(ids)) != len(ids):
            raise ValueError("statuses: an id is given twice")
        if self.pipeline[0].kind != "work":
            raise ValueError("statuses: the first status (a new lead's) must be a working one")
        check_pipelines(self.pipelines, self.fields)
        return self

    def lead_pipeline(self, line_statuses: list[str] | None) -> list[LeadStatus]:
        """The lead statuses of a line's customers (its own, `lines[].crm.statuses`), or every status."""
        if not line_statuses:
            return list(self.pipeline)
        by_id = {s.id: s for s in self.pipeline}
        return [by_id[s] for s in line_statuses if s in by_id]

    def deal_pipeline(self, pipeline_id: str | None) -> Pipeline | None:
        """The pipeline of that id (None: the first, the default)."""
        if pipeline_id is None:
            return self.pipelines[0]
        return next((p for p in self.pipelines if p.id == pipeline_id), None)

    @property
    def statuses(self) -> list[str]:
        """The statuses' ids, in order."""
        return [s.id for s in self.pipeline]

    def status(self, status_id: str) -> LeadStatus | None:
        """The status of that id, if the pipeline has it."""
        return next((s for s in self.pipeline if s.id == status_id), None)


def line_pipeline_problems(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """`lines[].crm.pipeline` names a pipeline of `crm.pipelines` (read from the raw config, so it is reported even
    when other fields are wrong)."""
    crm = data.get("crm") if isinstance(data.get("crm"), dict) else {}
    given = crm.get("pipelines") if isinstance(crm, dict) else None
    ids = (
        {p.get("id") for p in given if isinstance(p, dict)}
        if isinstance(given, list)
        else {DEFAULT_PIPELINE["id"]}
    )
    out: list[tuple[tuple[str | int, ...], str]] = []
    lines = data.get("lines")
    for i, line in enumerate(lines if isinstance(lines, list) else []):
        block = line.get("crm") if isinstance(line, dict) else None
        wanted = block.get("pipeline") if isinstance(block, dict) else None
        if wanted is not None and wanted not in ids:
            out.append((("lines", i, "crm", "pipeline"), f"unknown pipeline {wanted!r}"))
        out += _line_statuses(crm, i, block.get("statuses") if isinstance(block, dict) else None)
    return out


def _line_statuses(crm: Any, i: int, statuses: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """A line's own lead statuses name statuses of crm.statuses, the first a working one."""
    if not isinstance(statuses, list) or not statuses:
        return []
    given = crm.get("statuses") if isinstance(crm, dict) else None
    if isinstance(given, list):
        kinds = {
            (x if isinstance(x, str) else x.get("id")): (
                "work" if isinstance(x, str) else x.get("kind", "work")
            )
            for x in given
            if isinstance(x, str | dict)
        }
    else:  # the default pipeline
        kinds = {x["id"]: x.get("kind", "work") for x in DEFAULT_STATUSES}
    out: list[tuple[tuple[str | int, ...], str]] = []
    for j, status in enumerate(statuses):
        if status not in kinds:
            out.append(
                (("lines", i, "crm", "statuses", j), f"unknown status {status!r} (not in crm.statuses)")
            )
    if statuses[0] in kinds and kinds[statuses[0]] != "work":
        out.append(
            (("lines", i, "crm", "statuses", 0), "the first status (a new lead's) must be a working one")
        )
    return out
