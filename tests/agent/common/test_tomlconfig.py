"""agent/common/tomlconfig.py, the one strict reader: each getter, its bounds, unknown keys,
non-finite numbers, key paths, and the one message shape."""

from __future__ import annotations

import enum
import math
import re
from pathlib import Path

import pytest

from agent.common.tomlconfig import (
    MAX_DURATION_S,
    ConfigError,
    Table,
    check_finite,
    load_json,
    load_toml,
    parse_json,
)


class Colour(enum.StrEnum):
    RED = "red"
    BLUE = "blue"


def _t(**data: object) -> Table:
    return Table(data, file="c.toml", path="sec")


def _message(call: object) -> str:
    assert callable(call)
    with pytest.raises(ConfigError) as caught:
        call()
    assert isinstance(caught.value, ValueError)
    return str(caught.value)


def test_strings_choices_and_enums() -> None:
    t = _t(name="x", blank="", code="AB12", level="info", colour="red")
    assert t.get_str("name") == "x" and t.get_str("absent", "dflt") == "dflt"
    assert t.get_optional_str("missing") is None and t.get_optional_str("name") == "x"
    assert t.get_choice("level", ("debug", "info")) == "info"
    assert t.get_enum("colour", Colour) is Colour.RED
    assert t.get_enum("other", Colour, Colour.BLUE) is Colour.BLUE
    assert _message(lambda: t.get_str("blank", non_empty=True)) == (
        'c.toml: sec.blank: expected a string, got ""'
    )
    code = re.compile(r"[A-Z]+")
    assert _message(lambda: t.get_str("code", pattern=code, expected="capitals")) == (
        'c.toml: sec.code: expected capitals, got "AB12"'
    )
    assert _message(lambda: t.get_choice("level", ("debug", "warning"))) == (
        'c.toml: sec.level: expected one of "debug", "warning", got "info"'
    )
    assert _message(lambda: _t(colour="green").get_enum("colour", Colour)) == (
        'c.toml: sec.colour: expected one of "red", "blue", got "green"'
    )
    assert _message(lambda: t.get_str("nope")) == "c.toml: sec.nope: expected a string, got nothing"


def test_bool_and_int_bounds() -> None:
    t = _t(on=True, one=1, big=70000, flag=True)
    assert t.get_bool("on") is True and t.get_bool("off", False) is False
    assert t.get_int("one", min_value=1, max_value=1) == 1
    assert _message(lambda: t.get_bool("one")) == "c.toml: sec.one: expected true or false, got 1"
    assert _message(lambda: t.get_int("big", min_value=0, max_value=65535)) == (
        "c.toml: sec.big: expected an integer from 0 to 65535, got 70000"
    )
    assert _message(lambda: t.get_int("one", min_value=2)) == (
        "c.toml: sec.one: expected an integer >= 2, got 1"
    )
    # true is an int in Python, never in a config
    assert _message(lambda: t.get_int("flag")) == "c.toml: sec.flag: expected an integer, got true"
    assert t.get_optional_int("absent") is None


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_every_number_getter_refuses_non_finite(value: float) -> None:
    t = _t(v=value, vs=[1.0, value])
    shown = repr(value)
    assert _message(lambda: t.get_float("v")) == f"c.toml: sec.v: expected a number, got {shown}"
    assert _message(lambda: t.get_optional_float("v")).endswith(f", got {shown}")
    assert _message(lambda: t.get_duration("v")).endswith(f", got {shown}")
    assert _message(lambda: t.get_float_list("vs")) == (
        f"c.toml: sec.vs[1]: expected a number, got {shown}"
    )
    assert _message(lambda: _t(m={"k": value}).get_scalar_map("m")) == (
        f"c.toml: sec.m.k: expected a string, a finite number or true/false, got {shown}"
    )


def test_float_bounds_inclusive_and_exclusive() -> None:
    t = _t(zero=0, half=0.5, one=1)
    assert t.get_float("zero", min_value=0.0) == 0.0 and isinstance(t.get_float("one"), float)
    assert t.get_float("half", above=0.0, max_value=1.0) == 0.5
    assert _message(lambda: t.get_float("zero", above=0.0)) == (
        "c.toml: sec.zero: expected a number > 0.0, got 0"
    )
    assert _message(lambda: t.get_float("one", min_value=0.0, max_value=0.5)) == (
        "c.toml: sec.one: expected a number from 0.0 to 0.5, got 1"
    )
    assert _message(lambda: t.get_float("half", above=0.0, max_value=0.25)) == (
        "c.toml: sec.half: expected a number > 0.0 and <= 0.25, got 0.5"
    )
    assert t.get_optional_float("absent") is None


def test_durations() -> None:
    t = _t(off=0, ten_years=MAX_DURATION_S, more=MAX_DURATION_S + 1, text="5s")
    assert t.get_duration("off", allow_zero=True) == 0.0
    assert t.get_duration("ten_years") == MAX_DURATION_S
    assert t.get_duration("absent", 30.0) == 30.0
    assert _message(lambda: t.get_duration("off")) == (
        "c.toml: sec.off: expected a number of seconds > 0 and <= 315360000 (10 years), got 0"
    )
    assert _message(lambda: t.get_duration("more", allow_zero=True)) == (
        "c.toml: sec.more: expected a number of seconds >= 0 and <= 315360000 (10 years), "
        "got 315360001.0"
    )
    assert _message(lambda: t.get_duration("text", max_s=60)) == (
        'c.toml: sec.text: expected a number of seconds > 0 and <= 60, got "5s"'
    )


def test_lists_name_the_bad_item_by_index() -> None:
    t = _t(words=["a", ""], mems=["SM", "FLASH"], ports=[1, -2], one=["x"], none=[], nums=[1, 2.5])
    assert t.get_str_list("words", non_empty_items=False) == ("a", "")
    assert _message(lambda: t.get_str_list("words")) == (
        'c.toml: sec.words[1]: expected a non-empty string, got ""'
    )
    assert _message(lambda: t.get_str_list("mems", choices=("SM", "ME"))) == (
        'c.toml: sec.mems[1]: expected one of "SM", "ME", got "FLASH"'
    )
    assert _message(lambda: t.get_int_list("ports", min_value=0)) == (
        "c.toml: sec.ports[1]: expected an integer >= 0, got -2"
    )
    assert _message(lambda: t.get_str_list("none", min_len=1)) == (
        "c.toml: sec.none: expected a non-empty array of strings, got an empty array"
    )
    assert _message(lambda: t.get_str_list("one", min_len=2, max_len=3)) == (
        "c.toml: sec.one: expected an array of strings with 2 to 3 items, got an array"
    )
    assert _message(lambda: _t(s="x").get_str_list("s")) == (
        'c.toml: sec.s: expected an array of strings, got "x"'
    )
    assert t.get_float_list("nums") == (1.0, 2.5)
    # An absent key is its default, unchecked: the caller's own value.
    assert t.get_str_list("absent", (), min_len=1) == ()


def test_maps_tables_and_arrays_of_tables_build_key_paths() -> None:
    root = Table(
        {"modems": [{"port": "a"}, {"port": "b"}, {"port": 3}], "agents": {"bad id": 1}},
        file="agent.toml",
    )
    modems = root.get_tables("modems", required=True, min_len=1)
    assert [m.path for m in modems] == ["modems[0]", "modems[1]", "modems[2]"]
    assert _message(lambda: modems[2].get_str("port")) == (
        "agent.toml: modems[2].port: expected a string, got 3"
    )
    agents = root.get_table("agents")
    assert agents is not None
    assert _message(lambda: agents.get_table("bad id")) == (
        'agent.toml: agents."bad id": expected a table, got 1'
    )
    assert root.get_table("absent") is None
    assert root.section("absent").path == "absent"
    assert _message(lambda: root.section("absent").get_str("init")) == (
        "agent.toml: absent.init: expected a string, got nothing"
    )
    assert _message(lambda: root.get_tables("none", required=True)) == (
        "agent.toml: none: expected an array of tables, got nothing"
    )
    assert _message(lambda: Table({"m": [1]}, file="f").get_tables("m")) == (
        "f: m[0]: expected a table, got 1"
    )
    assert _t(h={"a": "1"}).get_str_map("h") == {"a": "1"}
    assert _message(lambda: _t(h={"a": 1}).get_str_map("h")) == (
        "c.toml: sec.h.a: expected a string, got 1"
    )


def test_unknown_keys_are_refused_with_the_known_ones() -> None:
    t = _t(port="a", baudrate=9600)
    t.get_str("port")
    t.get_int("speed", 1)
    assert _message(t.finish) == ("c.toml: sec.baudrate: unknown key (known here: port, speed)")
    empty = Table({"x": 1}, file="c.toml")
    assert _message(empty.finish) == "c.toml: x: unknown key (known here: none)"
    t.known("baudrate")
    t.finish()


def test_host_port_and_paths(tmp_path: Path) -> None:
    t = _t(listen="[::]:7443", bad="localhost", far="h:70000", rel="x/db", home="~/db")
    assert t.get_host_port("listen") == "[::]:7443"
    assert _message(lambda: t.get_host_port("bad")) == (
        'c.toml: sec.bad: expected "host:port", got "localhost"'
    )
    assert _message(lambda: t.get_host_port("far")).endswith('got "h:70000"')
    assert t.get_path("rel", base_dir=tmp_path) == tmp_path / "x" / "db"
    assert t.get_path("home", base_dir=tmp_path, expanduser=False) == tmp_path / "~" / "db"
    assert t.get_path("home", base_dir=tmp_path) == Path("~/db").expanduser()


def test_the_table_itself_and_the_file_level_errors(tmp_path: Path) -> None:
    assert _message(lambda: Table([1], file="c.toml", path="tls")) == (
        "c.toml: tls: expected a table, got an array"
    )
    assert str(ConfigError("", "k", "x", 1)) == "k: expected x, got 1"  # no file: key first
    bad = tmp_path / "bad.toml"
    bad.write_text("a = [")
    assert _message(lambda: load_toml(bad)).startswith("bad.toml: invalid TOML: ")
    bad.write_bytes(b"a = '\xff'")
    assert _message(lambda: load_toml(bad)) == "bad.toml: expected UTF-8 text"
    assert _message(lambda: load_toml(tmp_path / "gone.toml")) == (
        "gone.toml: cannot read: No such file or directory"
    )
    good = tmp_path / "good.toml"
    good.write_text("a = 1\n[b]\nc = 'x'\n")
    assert load_toml(good) == {"a": 1, "b": {"c": "x"}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"at_s": NaN}', "s.jsonl:2: at_s: expected a finite number, got nan"),
        ('{"a": {"b": [1, 1e999]}}', "s.jsonl:2: a.b[1]: expected a finite number, got inf"),
        ('{"x": -Infinity}', "s.jsonl:2: x: expected a finite number, got -inf"),
        ("{oops", "s.jsonl:2: not JSON (Expecting property name enclosed in double quotes)"),
    ],
)
def test_json_refuses_non_finite_numbers_by_key_path(text: str, message: str) -> None:
    assert _message(lambda: parse_json(text, file="s.jsonl:2")) == message


def test_json_files_and_check_finite(tmp_path: Path) -> None:
    doc = tmp_path / "s.json"
    doc.write_text('{"vendors": {"b": {"speed": 2.5}}}')
    assert load_json(doc) == {"vendors": {"b": {"speed": 2.5}}}
    doc.write_text('{"vendors": {"b": {"speed": NaN}}}')
    assert _message(lambda: load_json(doc)) == (
        "s.json: vendors.b.speed: expected a finite number, got nan"
    )
    check_finite({"ok": [1, 2.0, "inf"]}, file="f")  # a string "inf" is not a number
