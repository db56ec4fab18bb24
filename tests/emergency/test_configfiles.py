"""The YAML config loader: every error names the file, the line and the field."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, field_validator

from emergency.configfiles import ConfigFileError, ConfigProblem, load_yaml, load_yaml_text


class When(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str
    level: str

    @field_validator("level")
    @classmethod
    def _known(cls, value: str) -> str:
        if value == "purple":
            raise ValueError(f"{value!r} is not a level of SMG tropical_cyclone")
        return value


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    when: When
    channels: list[Literal["sms", "push"]] = []
    delay_minutes: int = 0


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: list[Rule]


RULES = """\
rules:
  - name: schools
    when: {source: SMG, level: "3"}
  - name: bridge
    when:
      source: SMG
      level: 8NE
    channels: [sms]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, **kwargs) -> ConfigFileError:
    with pytest.raises(ConfigFileError) as info:
        load_yaml(path, RulesFile, **kwargs)
    return info.value


def test_a_valid_file_loads(tmp_path: Path) -> None:
    rules = load_yaml(write(tmp_path, RULES), RulesFile)
    assert [r.name for r in rules.rules] == ["schools", "bridge"]
    assert rules.rules[1].when.level == "8NE"


def test_a_wrong_value_names_file_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, RULES.replace("level: 8NE", "level: purple"))
    error = error_of(path)
    assert (
        str(error)
        == f"{path}:7: rules[1].when.level: 'purple' is not a level of SMG tropical_cyclone"
    )
    assert (error.file, error.line) == (str(path), 7)
    assert error.issues[0].column == 14
    assert error.issues[0].path == "rules[1].when.level"


def test_a_wrong_type_and_a_wrong_choice(tmp_path: Path) -> None:
    path = write(
        tmp_path, RULES.replace("channels: [sms]", "channels: [sms, fax]\n    delay_minutes: soon")
    )
    message = str(error_of(path))
    assert f"{path}:8: rules[1].channels[1]: Input should be 'sms' or 'push' (got 'fax')" in message
    assert f"{path}:9: rules[1].delay_minutes: Input should be a valid integer" in message


def test_a_misspelt_field_is_named_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, RULES.replace("channels: [sms]", "chanels: [sms]"))
    assert str(error_of(path)) == f"{path}:8: rules[1].chanels: unknown field (a typo?)"


def test_a_missing_field_is_named_at_its_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, RULES.replace("      source: SMG\n", ""))
    assert str(error_of(path)) == f"{path}:6: rules[1].when.source: required field is missing"


def test_every_problem_is_reported_in_file_order(tmp_path: Path) -> None:
    text = RULES.replace('level: "3"', "level: purple").replace("level: 8NE", "levle: 8NE")
    error = error_of(write(tmp_path, text))
    assert [issue.line for issue in error.issues] == [3, 6, 7]


def test_a_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, RULES.replace("channels: [sms]", "channels: [sms\n  - name: x"))
    error = error_of(path)
    assert str(error).startswith(f"{path}:9: YAML syntax error")
    path = write(tmp_path, "rules:\n  - name: a\n   when: {}\n")
    assert str(error_of(path)).startswith(f"{path}:3: YAML syntax error")


def test_tabs_and_unsafe_tags_are_errors_with_a_line(tmp_path: Path) -> None:
    path = write(tmp_path, "rules:\n  - name: !!python/object/apply:os.system ['true']\n")
    assert str(error_of(path)).startswith(f"{path}:2: YAML syntax error")


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, RULES + "    channels: [push]\n")
    assert str(error_of(path)) == f"{path}:9: duplicate key 'channels' (first at line 8)"


def test_alias_bombs_are_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    path = write(tmp_path, "\n".join(lines) + "\nrules: []\n")
    start = time.thread_time()  # CPU time of this thread: the expansion's work, not the load
    assert "aliases expand to too much data" in str(error_of(path))
    assert time.thread_time() - start < 1


def test_empty_and_missing_files(tmp_path: Path) -> None:
    assert str(error_of(write(tmp_path, "# nothing\n"))).endswith(":1: the file is empty")
    assert "file not found" in str(error_of(tmp_path / "absent.yaml"))


def test_a_cross_check_is_reported_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, RULES)

    def no_bridge_before_schools(rules: RulesFile) -> None:
        if rules.rules[1].name == "bridge":
            raise ConfigProblem(("rules", 1, "name"), "'bridge' needs an operator prompt")

    def every_rule_has_channels(rules: RulesFile):
        for i, rule in enumerate(rules.rules):
            if not rule.channels:
                yield ConfigProblem(("rules", i, "channels"), "no channel")

    error = error_of(path, checks=[no_bridge_before_schools, every_rule_has_channels])
    assert str(error) == (
        f"{path}:2: rules[0].channels: no channel\n"
        f"{path}:4: rules[1].name: 'bridge' needs an operator prompt"
    )


def test_text_in_memory_uses_the_name_given() -> None:
    with pytest.raises(ConfigFileError, match=r"^config/rules.yaml:2: rules\[0\].when: required"):
        load_yaml_text("rules:\n  - name: a\n", RulesFile, name="config/rules.yaml")
