"""The `crm.pipelines` and `crm.fields` blocks (docs/configuration.md): deal pipelines, each an ordered list of
stages with the fields a deal needs before it may enter one, and the custom fields of leads, contacts and deals."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

_ID = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_PALETTE = ("#64748b", "#2563eb", "#7c3aed", "#0891b2", "#d97706", "#db2777", "#65a30d", "#9333ea")
# what a deal has of its own, that a stage may require as it may a custom field
DEAL_BUILTINS = ("title", "amount", "contact", "company", "responsible", "request")
FIELD_TYPES = ("string", "number", "list", "date", "datetime", "address", "link", "file", "boolean")
ENTITIES = ("lead", "contact", "deal")

# the seed's pipeline: the significant steps of a sale, never actions
DEFAULT_PIPELINE: dict[str, Any] = {
    "id": "sales",
    "name": "Sales",
    "stages": [
        {"id": "new", "name": "New"},
        {"id": "contract", "name": "Contract", "required": ["contact"]},
        {"id": "invoice", "name": "Invoice", "required": ["amount"]},
        {"id": "prepayment", "name": "Prepayment"},
        {"id": "in_work", "name": "In work / shipping"},
        {"id": "payment", "name": "Payment"},
        {"id": "won", "name": "Closed won", "kind": "won"},
        {"id": "lost", "name": "Closed lost", "kind": "lost"},
    ],
}


class CustomField(BaseModel):
    """One custom field of a lead, contact or deal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID)
    name: str = Field("", max_length=100)  # "" → the id
    type: Literal["string", "number", "list", "date", "datetime", "address", "link", "file", "boolean"]
    values: list[str] = Field(default_factory=list, max_length=200)  # a list's choices
    multiple: bool = False  # a list: several of its values

    @model_validator(mode="after")
    def _sound(self) -> CustomField:
        if self.type == "list" and not self.values:
            raise ValueError(f"field {self.id}: a list needs its values")
        if self.type != "list" and (self.values or self.multiple):
            raise ValueError(f"field {self.id}: only a list has values (or multiple)")
        if len(set(self.values)) != len(self.values):
            raise ValueError(f"field {self.id}: a value is given twice")
        return self

    @property
    def title(self) -> str:
        """The name shown (the id when none is given)."""
        return self.name or self.id


class CustomFields(BaseModel):
    """`crm.fields`: the custom fields of each kind of record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lead: list[CustomField] = Field(default_factory=list)
    contact: list[CustomField] = Field(default_factory=list)
    deal: list[CustomField] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> CustomFields:
        for entity in ENTITIES:
            ids = [f.id for f in getattr(self, entity)]
            if len(set(ids)) != len(ids):
                raise ValueError(f"fields.{entity}: an id is given twice")
            if entity == "deal" and set(ids) & set(DEAL_BUILTINS):
                raise ValueError(
                    f"fields.deal: {', '.join(sorted(set(ids) & set(DEAL_BUILTINS)))} is a deal's own"
                )
        return self

    def of(self, entity: str) -> list[CustomField]:
        """The custom fields of a lead, contact or deal."""
        return list(getattr(self, entity))


class Stage(BaseModel):
    """One stage of a deal pipeline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID)
    name: str = Field("", max_length=100)
    color: str = Field("", pattern=r"^(#[0-9a-fA-F]{6})?$")
    # work: a step of the sale; won / lost: the deal is closed
    kind: Literal["work", "won", "lost"] = "work"
    required: list[str] = Field(default_factory=list)  # deal fields (own or custom) it needs filled


class Pipeline(BaseModel):
    """A deal pipeline: its stages in order; a new deal enters the first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID)
    name: str = Field("", max_length=100)
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$")  # a new deal's
    stages: list[Stage] = Field(min_length=2)

    @model_validator(mode="before")
    @classmethod
    def _colours(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("stages"), list):
            value = dict(value)
            value["stages"] = [
                {
                    "color": _PALETTE[i % len(_PALETTE)],
                    "name": str(s.get("id", "")).replace("_", " ").capitalize(),
                    **s,
                }
                if isinstance(s, dict)
                else s
                for i, s in enumerate(value["stages"])
            ]
        return value

    @model_validator(mode="after")
    def _sound(self) -> Pipeline:
        ids = [s.id for s in self.stages]
        if len(set(ids)) != len(ids):
            raise ValueError(f"pipeline {self.id}: a stage id is given twice")
        if self.stages[0].kind != "work":
            raise ValueError(f"pipeline {self.id}: the first stage (a new deal's) must be a working one")
        if not any(s.kind == "won" for s in self.stages) or not any(s.kind == "lost" for s in self.stages):
            raise ValueError(f"pipeline {self.id}: needs a won stage and a lost stage")
        return self

    def stage(self, stage_id: str) -> Stage | None:
        """The stage of that id, if the pipeline has it."""
        return next((s for s in self.stages if s.id == stage_id), None)


class LineCrm(BaseModel):
    """`lines[].crm`: what a new conversation creates (Bitrix24's CRM_CREATE)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # lead: a new customer gets a lead; deal: a deal in `pipeline`'s first stage, and a returning customer's dialog
    # joins their open deal of that pipeline (a new one when none is open)
    create: Literal["lead", "deal"] = "lead"
    pipeline: str | None = None  # create: deal — which (the first pipeline when not given)
    # the lead statuses of this line's customers, in its own order: ids of crm.statuses (None: all of them); a new
    # customer's lead gets the first, a working one
    statuses: list[str] | None = Field(None, min_length=2)


def check_pipelines(pipelines: list[Pipeline], fields: CustomFields) -> None:
    """Every stage's required field is a deal's own or a declared custom field; pipeline ids are unique."""
    ids = [p.id for p in pipelines]
    if len(set(ids)) != len(ids):
        raise ValueError("pipelines: an id is given twice")
    known = set(DEAL_BUILTINS) | {f.id for f in fields.deal}
    for p in pipelines:
        for s in p.stages:
            unknown = [f for f in s.required if f not in known]
            if unknown:
                raise ValueError(
                    f"pipeline {p.id}, stage {s.id}: required {', '.join(unknown)} is neither a deal's own field"
                    f" ({', '.join(DEAL_BUILTINS)}) nor in crm.fields.deal"
                )
