"""Config layering, the closed schema, and project-root discovery."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_vector_search.config import (
    INDEX_DIR_NAME,
    PROJECT_CONFIG_NAME,
    Config,
    default_user_config,
    find_project_root,
    load_config,
)
from mcp_vector_search.errors import ConfigError


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    return root


@pytest.fixture
def no_user(tmp_path: Path) -> Path:
    return tmp_path / "no-user-config.toml"


def write_project(root: Path, text: str) -> Path:
    path = root / PROJECT_CONFIG_NAME
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults(project: Path, no_user: Path) -> None:
    config = load_config(project, env={}, user_config=no_user)
    assert config == Config()
    assert config.index_dir == INDEX_DIR_NAME
    assert config.max_file_size == 1_048_576
    assert config.include == () and config.exclude == ()
    assert config.respect_gitignore is True and config.index_secrets is False
    assert config.model == "minilm"


def test_precedence_user_project_env_overrides(project: Path, tmp_path: Path) -> None:
    user = tmp_path / "user.toml"
    user.write_text(
        'model = "fake"\nmax_file_size = 8\nindex_dir = "u"\nindex_secrets = true\n'
        'exclude = ["u/"]\n'
    )
    write_project(project, 'max_file_size = 16\nindex_dir = "p"\nexclude = ["p/"]\n')
    env = {"MVS_INDEX_DIR": "e", "MVS_INDEX_SECRETS": "0", "UNRELATED": "x"}
    config = load_config(project, env=env, user_config=user)
    assert config.model == "fake"  # only the user file sets it
    assert config.max_file_size == 16  # project beats user
    assert config.exclude == ("p/",)  # lists are replaced, not merged
    assert config.index_dir == "e"  # env beats project
    assert config.index_secrets is False  # env beats user
    config = load_config(
        project,
        env=env,
        user_config=user,
        overrides={"index_dir": "f", "max_file_size": None, "exclude": "cli/"},
    )
    assert config.index_dir == "f"  # a flag beats everything
    assert config.max_file_size == 16  # None means "flag not given"
    assert config.exclude == ("cli/",)


def test_user_config_location_follows_xdg(project: Path, tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "mcp-vector-search").mkdir(parents=True)
    (xdg / "mcp-vector-search" / "config.toml").write_text("max_file_size = 7\n")
    env = {"XDG_CONFIG_HOME": str(xdg)}
    assert default_user_config(env) == xdg / "mcp-vector-search" / "config.toml"
    assert load_config(project, env=env).max_file_size == 7
    home = tmp_path / "home"
    assert default_user_config({"HOME": str(home)}) == (
        home / ".config" / "mcp-vector-search" / "config.toml"
    )
    # A relative XDG_CONFIG_HOME is invalid per the spec and ignored.
    assert default_user_config({"XDG_CONFIG_HOME": "rel", "HOME": str(home)}).is_relative_to(home)


def test_env_none_reads_os_environ(
    project: Path, no_user: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MVS_MAX_FILE_SIZE", "2M")
    monkeypatch.setenv("MVS_RESPECT_GITIGNORE", "off")
    monkeypatch.setenv("MVS_INCLUDE", "src/, *.py ,")
    config = load_config(project, user_config=no_user)
    assert config.max_file_size == 2 * 1024 * 1024
    assert config.respect_gitignore is False
    assert config.include == ("src/", "*.py")


def test_empty_env_values_count_as_unset(project: Path, no_user: Path) -> None:
    config = load_config(
        project, env={"MVS_MODEL": "", "MVS_MAX_FILE_SIZE": "  "}, user_config=no_user
    )
    assert config == Config()


def test_all_keys_from_a_file(project: Path, no_user: Path) -> None:
    write_project(
        project,
        """
index_dir = "/var/idx"
max_file_size = 5000
include = ["src/**"]
exclude = ["*.md", "!README.md"]
respect_gitignore = false
index_secrets = true
model = "fake"
""",
    )
    assert load_config(project, env={}, user_config=no_user) == Config(
        index_dir="/var/idx",
        max_file_size=5000,
        include=("src/**",),
        exclude=("*.md", "!README.md"),
        respect_gitignore=False,
        index_secrets=True,
        model="fake",
    )


def assert_one_line_error(exc: pytest.ExceptionInfo[ConfigError], *parts: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, (part, message)
    assert exc.value.exit_code == 2


def test_invalid_toml_names_file_and_position(project: Path, no_user: Path) -> None:
    path = write_project(project, "max_file_size = 3\nmodel = \n")
    with pytest.raises(ConfigError) as exc:
        load_config(project, env={}, user_config=no_user)
    assert_one_line_error(exc, str(path), "invalid TOML", "line 2")


def test_non_utf8_toml(project: Path, no_user: Path) -> None:
    path = project / PROJECT_CONFIG_NAME
    path.write_bytes(b'model = "\xff"\n')
    with pytest.raises(ConfigError) as exc:
        load_config(project, env={}, user_config=no_user)
    assert_one_line_error(exc, str(path), "invalid TOML")


def test_invalid_user_toml_names_the_user_file(project: Path, tmp_path: Path) -> None:
    user = tmp_path / "user.toml"
    user.write_text("[[[")
    with pytest.raises(ConfigError) as exc:
        load_config(project, env={}, user_config=user)
    assert_one_line_error(exc, str(user), "invalid TOML")


def test_unknown_key_names_key_and_suggests(project: Path, no_user: Path) -> None:
    path = write_project(project, "max_size = 10\n")
    with pytest.raises(ConfigError) as exc:
        load_config(project, env={}, user_config=no_user)
    assert_one_line_error(exc, str(path), "'max_size'", "max_file_size")


def test_unknown_table_is_an_unknown_key(project: Path, no_user: Path) -> None:
    write_project(project, "[tool]\nx = 1\n")
    with pytest.raises(ConfigError) as exc:
        load_config(project, env={}, user_config=no_user)
    assert_one_line_error(exc, "unknown key 'tool'")


@pytest.mark.parametrize(
    ("line", "key", "what"),
    [
        ('max_file_size = "32"', "max_file_size", "integer"),
        ("max_file_size = true", "max_file_size", "integer"),
        ("max_file_size = 0", "max_file_size", ">= 1"),
        ("max_file_size = 1.5", "max_file_size", "integer"),
        ("respect_gitignore = 1", "respect_gitignore", "true or false"),
        ('index_secrets = "yes"', "index_secrets", "true or false"),
        ('include = "src/"', "include", "array"),
        ("exclude = [1]", "exclude", "item 0"),
        ("model = 3", "model", "string"),
        ('model = ""', "model", "empty"),
        ("index_dir = []", "index_dir", "string"),
        ("[include]", "include", "array"),
    ],
)
def test_wrong_types_name_the_key(
    project: Path, no_user: Path, line: str, key: str, what: str
) -> None:
    path = write_project(project, line + "\n")
    with pytest.raises(ConfigError) as exc:
        load_config(project, env={}, user_config=no_user)
    assert_one_line_error(exc, str(path), f"'{key}'", what)


@pytest.mark.parametrize(
    ("var", "value", "what"),
    [
        ("MVS_MAX_FILE_SIZE", "0", ">= 1"),
        ("MVS_MAX_FILE_SIZE", "lots", "integer"),
        ("MVS_MAX_FILE_SIZE", "1.5M", "integer"),
        ("MVS_RESPECT_GITIGNORE", "maybe", "true/false"),
        ("MVS_INDEX_SECRETS", "2", "true/false"),
    ],
)
def test_bad_env_values_name_the_variable(
    project: Path, no_user: Path, var: str, value: str, what: str
) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(project, env={var: value}, user_config=no_user)
    assert_one_line_error(exc, var, what, value)


def test_env_sizes_and_booleans(project: Path, no_user: Path) -> None:
    for text, size in [("123", 123), ("4k", 4096), ("2MiB", 2 << 20), ("1_000", 1000)]:
        config = load_config(project, env={"MVS_MAX_FILE_SIZE": text}, user_config=no_user)
        assert config.max_file_size == size
    for text, value in [("1", True), ("YES", True), ("off", False), ("False", False)]:
        config = load_config(project, env={"MVS_INDEX_SECRETS": text}, user_config=no_user)
        assert config.index_secrets is value


def test_bad_overrides(project: Path, no_user: Path) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(project, env={}, user_config=no_user, overrides={"maxfilesize": 3})
    assert_one_line_error(exc, "command line", "'maxfilesize'", "max_file_size")
    with pytest.raises(ConfigError) as exc:
        load_config(project, env={}, user_config=no_user, overrides={"max_file_size": "many"})
    assert_one_line_error(exc, "command line", "'max_file_size'", "integer")


def test_config_directory_in_place_of_file(project: Path, no_user: Path) -> None:
    (project / PROJECT_CONFIG_NAME).mkdir()
    with pytest.raises(ConfigError) as exc:
        load_config(project, env={}, user_config=no_user)
    assert_one_line_error(exc, PROJECT_CONFIG_NAME, "directory")


def test_index_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "p"
    root.mkdir()
    assert Config().index_path(root) == (root / INDEX_DIR_NAME).resolve()
    assert Config(index_dir="sub/idx").index_path(root) == (root / "sub" / "idx").resolve()
    assert Config(index_dir=str(tmp_path / "abs")).index_path(root) == (tmp_path / "abs")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert Config(index_dir="~/idx").index_path(root) == (tmp_path / "home" / "idx").resolve()


def test_config_is_frozen_and_hashable() -> None:
    config = Config()
    with pytest.raises(AttributeError):
        config.max_file_size = 3  # type: ignore[misc]
    assert hash(config) == hash(Config())


# --- find_project_root -------------------------------------------------------------------


def test_find_project_root_from_nested_dir(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    nested = root / "a" / "b" / "c"
    nested.mkdir(parents=True)
    assert find_project_root(nested, env={}) is None
    (root / INDEX_DIR_NAME).mkdir()
    assert find_project_root(nested, env={}) == root
    assert find_project_root(root, env={}) == root
    (nested / "file.py").write_text("x\n")
    assert find_project_root(nested / "file.py", env={}) == root


def test_find_project_root_by_config_file_and_nearest_wins(tmp_path: Path) -> None:
    outer = tmp_path / "outer"
    inner = outer / "inner"
    deep = inner / "src"
    deep.mkdir(parents=True)
    (outer / INDEX_DIR_NAME).mkdir()
    (inner / PROJECT_CONFIG_NAME).write_text("")
    assert find_project_root(deep, env={}) == inner
    # A file named like the index dir is not a marker.
    (deep / INDEX_DIR_NAME).write_text("")
    assert find_project_root(deep, env={}) == inner


def test_find_project_root_honours_custom_index_dir_name(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    nested = root / "pkg"
    nested.mkdir(parents=True)
    (root / ".idx").mkdir()
    assert find_project_root(nested, env={}) is None
    assert find_project_root(nested, env={"MVS_INDEX_DIR": ".idx"}) == root


def test_find_project_root_env_none_uses_os_environ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "custom-idx").mkdir()
    monkeypatch.setenv("MVS_INDEX_DIR", "custom-idx")
    assert find_project_root(tmp_path) == tmp_path
