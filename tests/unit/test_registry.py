"""Argv templates are refused when malformed and rendered one placeholder to one element, never via a shell."""

from __future__ import annotations

from typing import Any

import pytest

from weft_django import registry
from weft_django.exceptions import InvalidInput, UnknownSkill
from weft_django.registry import SkillDef, check_argv_template, command_skill, render_argv


def refused_template(argv: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as info:
        check_argv_template(argv)
    return info.value


def cmd(argv: list[str], name: str = "unit.cmd", allow_options: frozenset[str] = frozenset()) -> SkillDef:
    return SkillDef(name=name, kind="command", argv=check_argv_template(argv), allow_options=allow_options)


# ---------------------------------------------------------------- malformed templates


@pytest.mark.parametrize(("argv", "field"), [
    (["echo", "{a"], "argv[1]"),
    (["echo", "a}"], "argv[1]"),
    (["echo", "ok", "}{"], "argv[2]"),
    (["echo", "{a.b}"], "argv[1]"),
    (["echo", "{a[0]}"], "argv[1]"),
    (["echo", "{a!r}"], "argv[1]"),
    (["echo", "{a:>3}"], "argv[1]"),
    (["echo", "{a:{b}}"], "argv[1]"),
    (["echo", "{}"], "argv[1]"),
    (["echo", "{0}"], "argv[1]"),
    (["echo", 5], "argv[1]"),
    (["echo", None], "argv[1]"),
    (["echo", b"bytes"], "argv[1]"),
    (["echo", ["nested"]], "argv[1]"),
    (["{prog}", "x"], "argv[0]"),
    (["/usr/bin/{prog}"], "argv[0]"),
])
def test_check_argv_template__malformed_element_is_named(argv: Any, field: str) -> None:
    assert refused_template(argv).field == field


@pytest.mark.parametrize("argv", ["echo {text}", [], (), None, {"echo": "{text}"}, {"echo", "x"}, 5])
def test_check_argv_template__not_a_list_of_strings_is_refused(argv: Any) -> None:
    error = refused_template(argv)
    assert error.field == "argv"
    assert error.message == "must be a non-empty list of strings (an argv, never a shell line)"


def test_check_argv_template__messages_say_what_is_wrong() -> None:
    assert refused_template(["echo", "{a!r}"]).message == "placeholder {a} must be a plain {name}"
    assert refused_template(["echo", "{a.b}"]).message == "placeholder {a.b} must be a plain {name}"
    assert refused_template(["{prog}"]).message == "the program must be fixed, not a placeholder"
    assert refused_template(["echo", "{a"]).message.startswith("malformed placeholder in '{a': ")
    assert refused_template(["echo", 1.5]).message == "must be a string, got float"


def test_check_argv_template__valid_templates_pass() -> None:
    assert check_argv_template(("echo", "{text}")) == ("echo", "{text}")
    assert check_argv_template(["cp", "--", "{src}", "{dst}"]) == ("cp", "--", "{src}", "{dst}")
    assert check_argv_template(["printf", "{{literal}} {x}-{y}"]) == ("printf", "{{literal}} {x}-{y}")
    assert check_argv_template(["{{weird}}"]) == ("{{weird}}",)


def test_command_skill__malformed_template_is_refused_and_not_registered(clean_registry: None) -> None:
    with pytest.raises(InvalidInput) as info:
        command_skill("unit.bad", ["sh", "-c", "{script!s}"])
    assert info.value.field == "skills.unit.bad.argv[2]"
    with pytest.raises(UnknownSkill):
        registry.get("unit.bad")


def test_command_skill__default_schema_requires_every_placeholder(clean_registry: None) -> None:
    definition = command_skill("unit.cp", ["cp", "{src}", "{dst}"])
    assert definition.params_schema["required"] == ["dst", "src"]
    assert registry.get("unit.cp") is definition


# ---------------------------------------------------------------- rendering


@pytest.mark.parametrize("value", [
    "hello world",
    "; rm -rf /",
    "$(reboot)",
    "`id`",
    "a'b\"c",
    "line1\nline2",
    "--flag=1 --other",
    "{text}",
    "{{}}",
    "*",
    "",
])
def test_render_argv__value_fills_exactly_one_element(value: str) -> None:
    skill = cmd(["echo", "-n", "{text}", "end"], allow_options=frozenset({"text"}))  # "--flag=1 --other" too
    assert render_argv(skill, {"text": value}) == ["echo", "-n", value, "end"]


def test_render_argv__several_placeholders_in_one_element_stay_in_it() -> None:
    argv = render_argv(cmd(["printf", "{{x}}", "--name={first} {last}"]), {"first": "a b", "last": "; ls"})
    assert argv == ["printf", "{x}", "--name=a b ; ls"]


@pytest.mark.parametrize(("value", "text"), [(3, "3"), (2.5, "2.5"), (True, "True")])
def test_render_argv__numbers_become_text(value: Any, text: str) -> None:
    assert render_argv(cmd(["sleep", "{seconds}"]), {"seconds": value}) == ["sleep", text]


def test_render_argv__missing_param_is_named() -> None:
    with pytest.raises(InvalidInput) as info:
        render_argv(cmd(["cp", "{src}", "{dst}"]), {"src": "a"})
    assert str(info.value) == "params.dst: required by argv[2] of skill 'unit.cmd'"


@pytest.mark.parametrize("value", [None, [1], {"a": 1}])
def test_render_argv__structured_value_is_refused(value: Any) -> None:
    with pytest.raises(InvalidInput) as info:
        render_argv(cmd(["echo", "{text}"]), {"text": value})
    assert str(info.value) == "params.text: must be a string or a number to fill an argv element"


def test_render_argv__nul_character_is_refused() -> None:
    # exec() cannot pass a NUL inside an argument; refuse it at submit instead of crashing at run time
    with pytest.raises(InvalidInput) as info:
        render_argv(cmd(["echo", "{text}"]), {"text": "a\x00b"})
    assert str(info.value) == "params.text: must not contain a NUL character"


# ---------------------------------------------------------------- option injection (issue 10)


@pytest.mark.parametrize(("argv", "params", "field"), [
    (["sort", "{file}"], {"file": "--output=out.txt"}, "params.file"),
    (["sort", "{file}"], {"file": "-o"}, "params.file"),
    (["sort", "{file}"], {"file": "-"}, "params.file"),
    (["cp", "{src}", "{dst}"], {"src": "a", "dst": "-rf"}, "params.dst"),
    (["convert", "{name}.png"], {"name": "-write x"}, "params.name"),
    (["echo", "{a}{b}"], {"a": "", "b": "-n"}, "params.b"),  # the value that brings the "-" is named
    (["echo", "{a}{b}"], {"a": "-n", "b": "x"}, "params.a"),
    (["sort", "{n}"], {"n": -5}, "params.n"),  # a number is text in argv: "-5" is an option too
])
def test_render_argv__a_value_that_would_be_an_option_is_refused(argv: list[str], params: dict[str, Any],
                                                                 field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        render_argv(cmd(argv), params)
    assert info.value.field == field
    assert "must not start with '-'" in str(info.value) and argv[0] in str(info.value)


@pytest.mark.parametrize(("argv", "params", "rendered"), [
    (["sort", "{file}"], {"file": "a-b.txt"}, ["sort", "a-b.txt"]),  # a "-" inside is fine
    (["sort", "--", "{file}"], {"file": "--output=x"}, ["sort", "--", "--output=x"]),  # after "--": an operand
    (["sort", "--", "-k", "{file}"], {"file": "-x"}, ["sort", "--", "-k", "-x"]),
    (["head", "-n{n}"], {"n": "-5"}, ["head", "-n-5"]),  # the template starts the element
    (["tool", "--width={w}"], {"w": "-3"}, ["tool", "--width=-3"]),
    (["tool", "x{w}"], {"w": "-3"}, ["tool", "x-3"]),
])
def test_render_argv__values_that_cannot_become_options_pass(argv: list[str], params: dict[str, Any],
                                                            rendered: list[str]) -> None:
    assert render_argv(cmd(argv), params) == rendered


def test_render_argv__a_value_rendering_to_double_dash_does_not_end_the_options() -> None:
    skill = cmd(["tool", "{sep}", "{file}"], allow_options=frozenset({"sep"}))
    with pytest.raises(InvalidInput) as info:
        render_argv(skill, {"sep": "--", "file": "--output=x"})
    assert info.value.field == "params.file"


def test_command_skill__allow_options_is_per_placeholder(clean_registry: None) -> None:
    d = command_skill("unit.sort", ["sort", "{flags}", "{file}"], allow_options=["flags"])
    assert render_argv(d, {"flags": "-r", "file": "data.txt"}) == ["sort", "-r", "data.txt"]
    with pytest.raises(InvalidInput) as info:
        render_argv(d, {"flags": "-r", "file": "--output=out.txt"})
    assert info.value.field == "params.file"


@pytest.mark.parametrize(("allow", "detail"), [
    (["nope"], "'nope' is not a placeholder of the argv"),
    ("file", "must be a list of placeholder names"),
])
def test_command_skill__allow_options_must_name_placeholders(clean_registry: None, allow: Any, detail: str) -> None:
    with pytest.raises(InvalidInput) as info:
        command_skill("unit.bad_allow", ["sort", "{file}"], allow_options=allow)
    assert info.value.field == "skills.unit.bad_allow.allow_options" and detail in str(info.value)
    with pytest.raises(UnknownSkill):
        registry.get("unit.bad_allow")


def test_render_argv__extra_params_are_ignored() -> None:
    assert render_argv(cmd(["true"]), {"unused": 1}) == ["true"]


# ---------------------------------------------------------------- registration


def _f() -> None:
    return None


@pytest.mark.parametrize(("changes", "field"), [
    ({"timeout": -1}, "skills.unit.py.timeout"),
    ({"timeout": "60"}, "skills.unit.py.timeout"),
    ({"priority": 10}, "skills.unit.py.priority"),
    ({"queue": "no spaces"}, "skills.unit.py.queue"),
    ({"retry": {"max_attempts": 0}}, "skills.unit.py.retry.max_attempts"),
    ({"retry": {"tries": 3}}, "skills.unit.py.retry.tries"),
    ({"params_schema": {"type": "nope"}}, "skills.unit.py.params"),
    ({"isolation": "thread"}, "skills.unit.py.isolation"),
])
def test_register__bad_skill_defaults_are_refused_at_registration(
        clean_registry: None, changes: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        registry.register(SkillDef(name="unit.py", kind="python", func=_f, **changes))
    assert info.value.field == field
    with pytest.raises(UnknownSkill):
        registry.get("unit.py")


def test_register__a_second_different_definition_is_refused(clean_registry: None) -> None:
    command_skill("unit.twice", ["echo", "{a}"])
    command_skill("unit.twice", ["echo", "{a}"])  # the same target again (a module reloaded) is fine
    with pytest.raises(InvalidInput) as info:
        command_skill("unit.twice", ["echo", "{b}"])
    assert info.value.message == "skill 'unit.twice@1' is already registered as ['echo', '{a}']"


def test_skill__unnamed_skill_errors_use_its_dotted_name(clean_registry: None) -> None:
    with pytest.raises(InvalidInput) as info:
        registry.skill(limits={"memory_mb": -1})(_f)
    assert info.value.field == f"skills.{__name__}._f.limits.memory_mb"


def test_get__unknown_skill_names_it() -> None:
    with pytest.raises(UnknownSkill) as info:
        registry.get("no.such.skill")
    assert (info.value.field, info.value.message) == ("skill", "unknown skill 'no.such.skill'")
