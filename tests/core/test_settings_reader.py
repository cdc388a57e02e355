"""settings_reader: typed reads of LINGMA_* settings, one error naming the variable, and the
core's settings read through it."""

import dataclasses

import pytest

from lingma_flask.lingma.settings import CoreSettings
from lingma_flask.settings_reader import SettingError
from lingma_flask.settings_reader import Settings
from lingma_flask.settings_reader import environment


def read(**values):
    return Settings(values)


@pytest.mark.parametrize("value, expected", [("3", 3), (" 42 ", 42), (7, 7), ("-2", -2)])
def test_integer_reads_whole_numbers(value, expected):
    assert read(N=value).integer("N", 1) == expected


@pytest.mark.parametrize("value", ["two", "1e5", "2.5", "0x10", "[1]"])
def test_integer_refuses_anything_else_naming_the_variable(value):
    with pytest.raises(SettingError) as caught:
        read(WORKERS=value).integer("WORKERS", 1)
    assert str(caught.value) == f"LINGMA_WORKERS must be a whole number, not {value!r}"
    assert caught.value.name == "LINGMA_WORKERS"


def test_integer_minimum():
    assert read(N="1").integer("N", 5, minimum=1) == 1
    with pytest.raises(SettingError, match=r"^LINGMA_N must be a whole number of at least 1, not '0'$"):
        read(N="0").integer("N", 5, minimum=1)
    with pytest.raises(SettingError, match="at least 1, not 'x'"):
        read(N="x").integer("N", 5, minimum=1)


@pytest.mark.parametrize("value", [None, "", "   "])
def test_unset_none_or_blank_means_the_default(value):
    settings = read(X=value)
    assert settings.integer("X", 4) == 4 and settings.number("X", 2.5) == 2.5
    assert settings.flag("X", True) is True and settings.text("X", None) is None
    assert settings.choice("X", ("a", "b")) == "a" and settings.items("X") == ()
    assert read().integer("X", None) is None


def test_number_reads_whole_and_fractional_numbers():
    assert read(T="0.5").number("T", 1.0) == 0.5
    assert read(T="30").number("T", 1.0) == 30.0
    assert read(T=2).number("T", 1.0) == 2.0
    with pytest.raises(SettingError, match=r"^LINGMA_T must be a number, not 'soon'$"):
        read(T="soon").number("T", 1.0)


@pytest.mark.parametrize("value, expected", [
    ("1", True), ("true", True), ("Yes", True), (" ON ", True), (True, True),
    ("0", False), ("false", False), ("no", False), ("OFF", False), (False, False),
])
def test_flag_reads_the_usual_spellings(value, expected):
    assert read(F=value).flag("F", not expected) is expected


def test_flag_refuses_a_typo_instead_of_reading_it_as_false():
    with pytest.raises(SettingError, match=r"^LINGMA_AUTO_MEMORY must be true or false .*, not 'ture'$"):
        read(AUTO_MEMORY="ture").flag("AUTO_MEMORY", False)


def test_text_is_stripped():
    assert read(S="  chat ").text("S", "x") == "chat"
    assert read(S="null").text("S", None) == "null"  # read as given


def test_choice_ignores_case_and_returns_the_choice_as_spelled():
    assert read(C=" Inline ").choice("C", ("separate", "inline")) == "inline"
    assert read(C="debug").choice("C", ("INFO", "DEBUG"), "INFO") == "DEBUG"
    assert read().choice("C", ("INFO", "DEBUG"), "DEBUG") == "DEBUG"
    with pytest.raises(SettingError, match=r"^LINGMA_C must be one of a, b, not 'c'$"):
        read(C="c").choice("C", ("a", "b"))


def test_items_split_on_commas_and_drop_empty_ones():
    assert read(L=" a , b,,c ").items("L") == ("a", "b", "c")
    assert read(L=["x ", "", " y"]).items("L") == ("x", "y")
    assert read(L=",").items("L") == ()


def test_a_long_bad_value_is_cut_in_the_message():
    with pytest.raises(SettingError) as caught:
        read(N="9" * 30 + "x" * 100).integer("N", 1)
    assert len(str(caught.value)) < 120


def test_setting_error_is_a_value_error():
    assert issubclass(SettingError, ValueError)


def test_environment_reads_lingma_variables_without_the_prefix_and_env_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("LINGMA_WORKERS=3\nLINGMA_LOG_FORMAT=text\nLINGMA_EMPTY\nOTHER=1\n")
    monkeypatch.chdir(tmp_path)
    values = environment({"LINGMA_WORKERS": "2", "PATH": "/bin"})
    assert values == {"WORKERS": "2", "LOG_FORMAT": "text"}
    assert environment({"LINGMA_WORKERS": "2"}, dotenv=False) == {"WORKERS": "2"}


def test_environment_without_a_dotenv_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert environment({"LINGMA_X": "1"}) == {"X": "1"}


# -- the core's settings, read through it ---------------------------------------------------

def test_core_settings_read_every_field_by_its_type():
    settings = CoreSettings.from_mapping({
        "POOL_SIZE": "2", "STARTUP_TIMEOUT": "1.5", "AUTO_MEMORY": "yes", "BIN": " simulator ",
        "SOCKET_PORT": "37010", "WORK_DIR": "", "ASK_MODE": "agent", "MACHINE_TOKEN": None,
    })
    assert (settings.pool_size, settings.startup_timeout, settings.auto_memory) == (2, 1.5, True)
    assert (settings.bin, settings.socket_port, settings.work_dir) == ("simulator", 37010, None)
    assert (settings.ask_mode, settings.machine_token) == ("agent", None)


def test_core_settings_defaults_are_the_fields_defaults():
    assert CoreSettings.from_mapping({}) == CoreSettings()
    assert CoreSettings.from_env({"PATH": "/bin"}) == CoreSettings()


@pytest.mark.parametrize("field", dataclasses.fields(CoreSettings), ids=lambda f: f.name)
def test_every_core_field_reads_its_default_back(field):
    value = getattr(CoreSettings(), field.name)
    mapping = {} if value is None else {field.name.upper(): str(value)}
    assert getattr(CoreSettings.from_mapping(mapping), field.name) == value


@pytest.mark.parametrize("key, value, words", [
    ("MAX_CONCURRENCY", "many", "LINGMA_MAX_CONCURRENCY must be a whole number, not 'many'"),
    ("IDLE_TIMEOUT", "1m", "LINGMA_IDLE_TIMEOUT must be a number, not '1m'"),
    ("SOCKET_PORT", "port", "LINGMA_SOCKET_PORT must be a whole number, not 'port'"),
    ("AUTO_MEMORY", "maybe", "LINGMA_AUTO_MEMORY must be true or false"),
])
def test_core_settings_name_a_bad_variable(key, value, words):
    with pytest.raises(SettingError, match=words):
        CoreSettings.from_mapping({key: value})
    with pytest.raises(SettingError, match=words):
        CoreSettings.from_env({"LINGMA_" + key: value})
