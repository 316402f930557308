from __future__ import annotations

import pytest

from mcp_vector_search.languages import CODE_LANGUAGES, is_code_language, language_for


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("src/app/main.py", "python"),
        ("stubs/types.pyi", "python"),
        ("web/index.js", "javascript"),
        ("web/index.mjs", "javascript"),
        ("web/App.jsx", "javascript"),
        ("web/api.ts", "typescript"),
        ("web/api.d.ts", "typescript"),
        ("web/App.tsx", "tsx"),
        ("cmd/server/main.go", "go"),
        ("src/lib.rs", "rust"),
        ("src/main/java/Account.java", "java"),
        ("lib/stack.c", "c"),
        ("lib/stack.h", "c"),
        ("lib/shape.cpp", "cpp"),
        ("lib/shape.cc", "cpp"),
        ("lib/shape.hpp", "cpp"),
        ("Models/Order.cs", "csharp"),
        ("lib/invoice.rb", "ruby"),
        ("app/Http/UserController.php", "php"),
        ("app/Circle.kt", "kotlin"),
        ("build.gradle.kts", "kotlin"),
        ("Sources/Vector.swift", "swift"),
        ("src/main/scala/User.scala", "scala"),
        ("scripts/deploy.sh", "bash"),
        ("README.md", "markdown"),
        ("docs/guide.markdown", "markdown"),
        ("docs/index.rst", "rst"),
        ("notes.txt", "text"),
        ("package.json", "json"),
        ("config.yaml", "yaml"),
        ("config.yml", "yaml"),
        ("pyproject.toml", "toml"),
        ("site/index.html", "html"),
        ("site/style.css", "css"),
        ("db/schema.sql", "sql"),
    ],
)
def test_extensions(path: str, language: str) -> None:
    assert language_for(path) == language


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("Dockerfile", "dockerfile"),
        ("docker/Dockerfile.prod", "dockerfile"),
        ("Makefile", "make"),
        ("CMakeLists.txt", "cmake"),
        ("Gemfile", "ruby"),
        ("Rakefile", "ruby"),
        ("home/.bashrc", "bash"),
        (".zshrc", "bash"),
        (".env", "dotenv"),
        (".env.local", "dotenv"),
        ("LICENSE", "text"),
    ],
)
def test_known_file_names(path: str, language: str) -> None:
    assert language_for(path) == language


def test_extension_match_ignores_case() -> None:
    assert language_for("SRC/MAIN.PY") == "python"
    assert language_for("Docs/README.MD") == "markdown"


@pytest.mark.parametrize(
    "path",
    ["", "bin/tool", "data/blob.xyz", "archive.tar.unknown", ".hidden", "dir.d/noext", "a/"],
)
def test_unknown_is_none(path: str) -> None:
    assert language_for(path) is None


def test_directory_dots_are_not_extensions() -> None:
    assert language_for("pkg.py/tool") is None
    assert language_for("v1.2/notes.txt") == "text"


def test_code_languages_are_the_sixteen() -> None:
    assert len(CODE_LANGUAGES) == 16
    assert is_code_language("csharp")
    assert not is_code_language("markdown")
    assert not is_code_language(None)
