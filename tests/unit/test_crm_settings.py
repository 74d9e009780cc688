"""The `crm.statuses` block: plain ids as before, or statuses with a name, a colour and a kind (a working step, won,
or one of several rejections), checked with the line of the mistake."""

from __future__ import annotations

from pathlib import Path

from tests.unit.test_config import BASE, assert_problems, load, problems_of


def test_plain_ids_keep_working_and_get_a_name_and_a_colour(tmp_path: Path) -> None:
    settings, problems = load(tmp_path, BASE + "crm:\n  statuses: [new, in_work, done]\n")
    assert problems == [] and settings is not None
    assert settings.crm.statuses == ["new", "in_work", "done"]
    assert [(s.name, s.kind) for s in settings.crm.pipeline] == [
        ("New", "work"),
        ("In work", "work"),
        ("Done", "work"),
    ]
    assert all(s.color.startswith("#") for s in settings.crm.pipeline)


def test_several_rejections_each_with_its_reason(tmp_path: Path) -> None:
    text = BASE + (
        "crm:\n"
        "  statuses:\n"
        "    - new\n"
        "    - {id: qualified, name: Qualified, color: '#2563eb'}\n"
        "    - {id: won, name: Won, kind: won}\n"
        "    - {id: no_budget, name: 'Rejected: no budget', kind: rejected}\n"
        "    - {id: spam, name: 'Rejected: spam', kind: rejected}\n"
    )
    settings, problems = load(tmp_path, text)
    assert problems == [] and settings is not None
    assert [s.id for s in settings.crm.pipeline if s.kind == "rejected"] == ["no_budget", "spam"]
    assert settings.crm.status("qualified").color == "#2563eb"  # type: ignore[union-attr]


def test_mistakes_are_named_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "openlines.yaml"
    bad = BASE + "crm:\n  statuses:\n    - {id: new}\n    - {id: won, color: red}\n"
    assert_problems(problems_of(tmp_path, bad), path, [(19, "crm.statuses.1.color", "pattern")])
    bad = BASE + "crm:\n  statuses:\n    - {id: lost, kind: rejected}\n    - new\n"
    assert_problems(problems_of(tmp_path, bad), path, [(16, "crm", "first status")])
    assert_problems(
        problems_of(tmp_path, BASE + "crm:\n  statuses: [new, new]\n"), path, [(16, "crm", "twice")]
    )
