"""Map a file path to a language name. Pure string work: no I/O, no parsing.

The names are our own vocabulary (stored in every chunk, shown to users, used as filters),
so they stay stable even where a grammar package spells them differently (C# is "csharp"
here and in tree-sitter-language-pack; TSX gets its own name because it needs its own
grammar). `None` means "unknown": the chunker still indexes such files as plain windows.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

# Languages the chunker parses into definitions with tree-sitter.
CODE_LANGUAGES: Final = frozenset(
    {
        "python",
        "javascript",
        "typescript",
        "tsx",
        "go",
        "rust",
        "java",
        "c",
        "cpp",
        "csharp",
        "ruby",
        "php",
        "kotlin",
        "swift",
        "scala",
        "bash",
    }
)

_EXTENSIONS: Final = MappingProxyType(
    {
        # Definition-aware languages.
        "py": "python",
        "pyi": "python",
        "pyw": "python",
        "js": "javascript",
        "mjs": "javascript",
        "cjs": "javascript",
        # The JavaScript grammar parses JSX as well; there is no separate jsx grammar.
        "jsx": "javascript",
        "ts": "typescript",
        "mts": "typescript",
        "cts": "typescript",
        "tsx": "tsx",
        "go": "go",
        "rs": "rust",
        "java": "java",
        "c": "c",
        # .h is ambiguous; C is the conservative label and the chunker upgrades a header to
        # C++ when its text clearly is (classes, namespaces, templates).
        "h": "c",
        "cc": "cpp",
        "cpp": "cpp",
        "cxx": "cpp",
        "c++": "cpp",
        "hh": "cpp",
        "hpp": "cpp",
        "hxx": "cpp",
        "h++": "cpp",
        "ipp": "cpp",
        "inl": "cpp",
        "tpp": "cpp",
        "cs": "csharp",
        "rb": "ruby",
        "rake": "ruby",
        "gemspec": "ruby",
        "ru": "ruby",
        "php": "php",
        "phtml": "php",
        "kt": "kotlin",
        "kts": "kotlin",
        "swift": "swift",
        "scala": "scala",
        "sc": "scala",
        "sh": "bash",
        "bash": "bash",
        # zsh and ksh scripts are close enough to bash that its grammar finds their functions.
        "zsh": "bash",
        "ksh": "bash",
        # Documents.
        "md": "markdown",
        "markdown": "markdown",
        "mdown": "markdown",
        "mkd": "markdown",
        "mdx": "markdown",
        "rst": "rst",
        "txt": "text",
        "text": "text",
        "adoc": "asciidoc",
        "asciidoc": "asciidoc",
        "org": "org",
        "tex": "latex",
        # Data and configuration.
        "json": "json",
        "jsonc": "json",
        "json5": "json",
        "jsonl": "json",
        "ndjson": "json",
        "geojson": "json",
        "ipynb": "json",
        "yaml": "yaml",
        "yml": "yaml",
        "toml": "toml",
        "ini": "ini",
        "cfg": "ini",
        "conf": "ini",
        "properties": "properties",
        "env": "dotenv",
        "xml": "xml",
        "xsd": "xml",
        "xsl": "xml",
        "xslt": "xml",
        "plist": "xml",
        "svg": "xml",
        "csv": "csv",
        "tsv": "csv",
        "proto": "protobuf",
        "graphql": "graphql",
        "gql": "graphql",
        "sql": "sql",
        "tf": "hcl",
        "tfvars": "hcl",
        "hcl": "hcl",
        "nix": "nix",
        # Web.
        "html": "html",
        "htm": "html",
        "xhtml": "html",
        "css": "css",
        "scss": "scss",
        "sass": "scss",
        "less": "less",
        "vue": "vue",
        "svelte": "svelte",
        "astro": "astro",
        # Other programming languages, indexed as windows.
        "m": "objc",
        "mm": "objc",
        "lua": "lua",
        "pl": "perl",
        "pm": "perl",
        "r": "r",
        "dart": "dart",
        "ex": "elixir",
        "exs": "elixir",
        "erl": "erlang",
        "hrl": "erlang",
        "hs": "haskell",
        "ml": "ocaml",
        "mli": "ocaml",
        "fs": "fsharp",
        "fsx": "fsharp",
        "clj": "clojure",
        "cljs": "clojure",
        "cljc": "clojure",
        "el": "elisp",
        "lisp": "commonlisp",
        "jl": "julia",
        "zig": "zig",
        "nim": "nim",
        "groovy": "groovy",
        "gradle": "groovy",
        "ps1": "powershell",
        "psm1": "powershell",
        "bat": "batch",
        "cmd": "batch",
        "fish": "fish",
        "cmake": "cmake",
        "mk": "make",
        "cu": "cuda",
        "cuh": "cuda",
        "f90": "fortran",
        "f": "fortran",
        "v": "verilog",
        "sv": "verilog",
        "vhd": "vhdl",
        "asm": "asm",
        "s": "asm",
        "sol": "solidity",
        "glsl": "glsl",
        "hlsl": "hlsl",
        "wgsl": "wgsl",
        "jinja": "jinja",
        "j2": "jinja",
        "tmpl": "template",
    }
)

# Files known by their whole name (compared lower-cased).
_FILENAMES: Final = MappingProxyType(
    {
        "dockerfile": "dockerfile",
        "containerfile": "dockerfile",
        "makefile": "make",
        "gnumakefile": "make",
        "cmakelists.txt": "cmake",
        "rakefile": "ruby",
        "gemfile": "ruby",
        "podfile": "ruby",
        "vagrantfile": "ruby",
        "brewfile": "ruby",
        "guardfile": "ruby",
        "fastfile": "ruby",
        "jenkinsfile": "groovy",
        "build": "starlark",
        "build.bazel": "starlark",
        "workspace": "starlark",
        ".bashrc": "bash",
        ".bash_profile": "bash",
        ".bash_aliases": "bash",
        ".bash_logout": "bash",
        ".profile": "bash",
        ".zshrc": "bash",
        ".zshenv": "bash",
        ".zprofile": "bash",
        ".envrc": "bash",
        "pkgbuild": "bash",
        ".gitignore": "ignore",
        ".dockerignore": "ignore",
        ".npmignore": "ignore",
        ".gitattributes": "gitattributes",
        ".editorconfig": "ini",
        ".env": "dotenv",
        "license": "text",
        "licence": "text",
        "copying": "text",
        "authors": "text",
        "notice": "text",
        "readme": "text",
        "changelog": "text",
        "go.mod": "gomod",
        "go.sum": "gosum",
        "cargo.lock": "toml",
        "pipfile": "toml",
        "poetry.lock": "toml",
    }
)


def language_for(path: str) -> str | None:
    """Language name for a posix path (relative or absolute), or None when unknown."""
    name = path.rsplit("/", 1)[-1].lower()
    if not name:
        return None
    by_name = _FILENAMES.get(name)
    if by_name is not None:
        return by_name
    if name.startswith(".env."):
        # .env.local, .env.production: the same format as .env.
        return "dotenv"
    if name.startswith("dockerfile.") or name.endswith(".dockerfile"):
        return "dockerfile"
    dot = name.rfind(".")
    # A leading dot alone ("." at index 0) marks a hidden file, not an extension.
    if dot <= 0:
        return None
    return _EXTENSIONS.get(name[dot + 1 :])


def is_code_language(language: str | None) -> bool:
    """True for languages the chunker splits into definitions."""
    return language in CODE_LANGUAGES
