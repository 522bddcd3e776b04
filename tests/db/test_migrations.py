"""Migrations match the models, and the state enums match the fields that store them."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import models
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from pytest_django import Settings

from weft_django import models as weft_models
from weft_django import states
from weft_django.models import Attempt, Decision, Job, Task

# Every state enum in states.py and the one field that stores it.
STATE_FIELDS: list[tuple[type[states.Choices], type[models.Model], str]] = [
    (states.TaskStatus, Task, "status"),
    (states.JobStatus, Job, "status"),
    (states.AttemptOutcome, Attempt, "outcome"),
    (states.DecisionAction, Decision, "action"),
]


def _makemigrations_check() -> str:
    out = StringIO()
    try:
        call_command("makemigrations", "weft", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit:  # --check exits 1 when a migration is missing
        pytest.fail(f"models and migrations differ; run `manage.py makemigrations weft`:\n{out.getvalue()}")
    return out.getvalue()


@pytest.mark.django_db
def test_migrations__in_sync_with_models() -> None:
    assert "No changes detected" in _makemigrations_check()


@pytest.mark.django_db
def test_migrations__in_sync_under_a_different_default_auto_field(settings: Settings) -> None:
    # The app pins BigAutoField; a project default must not make it want a migration.
    settings.DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
    assert "No changes detected" in _makemigrations_check()


@pytest.mark.django_db
def test_migrations__all_applied_to_the_test_database() -> None:
    from django.db import connection

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes("weft"))
    assert plan == []


def test_migrations__numbers_never_collide() -> None:
    names = [name for app, name in MigrationLoader(None, ignore_no_migrations=True).disk_migrations if app == "weft"]
    numbers = [name.split("_", 1)[0] for name in names]
    assert len(numbers) == len(set(numbers)), f"two weft migrations share a number: {sorted(names)}"


def test_migrations__one_leaf() -> None:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    assert len(loader.graph.leaf_nodes("weft")) == 1


def test_states__every_enum_in_states_py_is_checked_here() -> None:
    enums = {obj for obj in vars(states).values()
             if isinstance(obj, type) and issubclass(obj, states.Choices) and obj is not states.Choices}
    assert enums == {enum for enum, _, _ in STATE_FIELDS}


@pytest.mark.parametrize(("enum", "model", "field_name"), STATE_FIELDS,
                         ids=[f"{m.__name__}.{f}" for _, m, f in STATE_FIELDS])
def test_states__enum_matches_the_model_field(enum: type[states.Choices], model: type[models.Model],
                                              field_name: str) -> None:
    field = model._meta.get_field(field_name)
    assert isinstance(field, models.CharField)
    assert list(field.choices or []) == list(enum.choices)
    assert field.max_length is not None
    assert max(len(v) for v in enum.values) <= field.max_length, "a value does not fit the column"
    if field.has_default():
        assert field.default in enum.values


def test_states__enum_matches_the_migrated_field() -> None:
    state = MigrationLoader(None, ignore_no_migrations=True).project_state()
    for enum, model, field_name in STATE_FIELDS:
        migrated = state.models["weft", model._meta.model_name].fields[field_name]
        assert [value for value, _ in migrated.choices] == list(enum.values), f"{model.__name__}.{field_name}"


def test_states__model_enums_fit_their_fields() -> None:
    pairs = [(weft_models.SkillKind, weft_models.Skill, "kind"),
             (weft_models.ArtifactKind, weft_models.Artifact, "kind"),
             (weft_models.WorkerState, weft_models.Worker, "state")]
    for enum, model, field_name in pairs:
        field = model._meta.get_field(field_name)
        assert isinstance(field, models.CharField)
        assert list(field.choices or []) == list(enum.choices)
        assert max(len(v) for v in enum.values) <= (field.max_length or 0)


def test_states__allowed_from_names_only_real_states() -> None:
    for transition, sources in states.ALLOWED_FROM.items():
        assert sources, transition
        assert sources <= set(states.TaskStatus), transition
    assert not (states.ALLOWED_FROM["claim"] & states.FINAL_TASK_STATES)
    assert states.ALLOWED_FROM["cancel"] == states.LIVE_TASK_STATES
    assert set(states.TaskStatus) == states.FINAL_TASK_STATES | states.LIVE_TASK_STATES
