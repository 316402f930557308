"""Per-language knowledge for tree-sitter chunking: which nodes are definitions, their kind
and name. Everything grammar-specific lives here so the extraction code stays generic.

Kinds: "function" is resolved to "method" when the enclosing definition is class-like
(see CLASS_LIKE); node types that are methods by construction map to "method" directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from tree_sitter import Node

# Definitions whose function children are methods.
CLASS_LIKE: Final = frozenset(
    {"class", "struct", "interface", "trait", "impl", "enum", "object", "extension", "union"}
)
# Containers that do not prefix qualified names: a namespace usually spans the whole file,
# and "App.Models.User.Greet" would spend header tokens on what the path already says.
NON_QUALIFYING: Final = frozenset({"namespace"})

# Comment-like nodes and annotations that belong to the definition right below them.
LEADING_TYPES: Final = frozenset(
    {
        "comment",
        "line_comment",
        "block_comment",
        "multiline_comment",
        "doc_comment",
        "decorator",
        "attribute_item",
        "annotation",
        "marker_annotation",
    }
)

# Node types that hold a definition's body; used to find where its signature ends.
BODY_TYPES: Final = frozenset(
    {
        "block",
        "body_statement",
        "class_body",
        "compound_statement",
        "declaration_list",
        "enum_body",
        "enum_class_body",
        "enum_declaration_list",
        "enum_member_declaration_list",
        "enum_variant_list",
        "enumerator_list",
        "field_declaration_list",
        "function_body",
        "interface_body",
        "protocol_body",
        "statement_block",
        "template_body",
        "constructor_body",
    }
)

NameFn = Callable[[Node], "str | None"]
KindFn = Callable[[Node, str], "str | None"]

_TEMPLATE_ARGS = re.compile(r"<[^<>]*>")
_SPACE = re.compile(r"\s+")


def node_text(node: Node | None) -> str:
    if node is None or node.text is None:
        return ""
    return node.text.decode("utf-8", "replace")


def clean_name(raw: str) -> str | None:
    """Normalise a scoped name to dotted form without generic arguments."""
    name = _SPACE.sub("", raw)
    # Generic arguments can nest (Map<K, List<V>>); peel innermost first, bounded.
    for _ in range(8):
        stripped = _TEMPLATE_ARGS.sub("", name)
        if stripped == name:
            break
        name = stripped
    name = name.replace("::", ".").replace("\\", ".").replace("->", ".")
    name = name.strip(".&*")
    if not name:
        return None
    # Long names (a whole expression picked up by a loose pattern) only waste header tokens.
    return name if len(name) <= 120 else name[:120]


def field_name(node: Node) -> str | None:
    return clean_name(node_text(node.child_by_field_name("name")))


def _first_child_text(node: Node, types: frozenset[str]) -> str | None:
    for child in node.named_children:
        if child.type in types:
            return clean_name(node_text(child))
    return None


def _keyword(node: Node, words: frozenset[str]) -> str | None:
    """First anonymous keyword child among `words` (class/struct/interface/...)."""
    for child in node.children:
        if not child.is_named and child.type in words:
            return child.type
    return None


# --- C and C++ ---------------------------------------------------------------------------

_DECLARATOR_LEAVES: Final = frozenset(
    {
        "identifier",
        "field_identifier",
        "qualified_identifier",
        "destructor_name",
        "operator_name",
        "template_function",
        "type_identifier",
    }
)


def c_function_name(node: Node) -> str | None:
    decl = node.child_by_field_name("declarator")
    # Declarators nest (pointer -> function -> identifier); the depth bound guards odd trees.
    for _ in range(16):
        if decl is None:
            return None
        if decl.type in _DECLARATOR_LEAVES:
            return clean_name(node_text(decl))
        inner = decl.child_by_field_name("declarator")
        if inner is None:
            # Reference declarators carry their target as a plain child.
            inner = next((c for c in decl.named_children if c.type != "parameter_list"), None)
        decl = inner
    return None


def c_function_kind(node: Node, kind: str) -> str | None:
    # Out-of-line definitions (`int Foo::bar()`) are nearly always member functions.
    name = c_function_name(node)
    return "method" if name and "." in name else kind


def c_type_name(node: Node) -> str | None:
    if node.type == "type_definition":
        decl = node.child_by_field_name("declarator")
        while decl is not None and decl.type not in ("type_identifier", "identifier"):
            decl = decl.child_by_field_name("declarator")
        return clean_name(node_text(decl)) if decl is not None else None
    return field_name(node)


def c_type_kind(node: Node, kind: str) -> str | None:
    parent = node.parent
    if node.type != "type_definition":
        # A struct inside a typedef is reported once, by the typedef that names it.
        if parent is not None and parent.type == "type_definition":
            return None
        if node.child_by_field_name("body") is None:
            return None
        return kind
    inner = node.child_by_field_name("type")
    if inner is None or inner.child_by_field_name("body") is None:
        return None
    return {"enum_specifier": "enum", "union_specifier": "union"}.get(inner.type, "struct")


# --- Go -----------------------------------------------------------------------------------


def go_method_name(node: Node) -> str | None:
    name = field_name(node)
    receiver = node.child_by_field_name("receiver")
    if name is None or receiver is None:
        return name
    for param in receiver.named_children:
        rtype = param.child_by_field_name("type")
        if rtype is not None:
            base = clean_name(node_text(rtype).split("[", 1)[0])
            if base:
                return f"{base}.{name}"
    return name


def go_type_kind(node: Node, kind: str) -> str | None:
    inner = node.child_by_field_name("type")
    if inner is None:
        return None
    return {"struct_type": "struct", "interface_type": "interface"}.get(inner.type)


# --- Rust ---------------------------------------------------------------------------------


def rust_impl_name(node: Node) -> str | None:
    return clean_name(node_text(node.child_by_field_name("type")))


def has_body(node: Node) -> bool:
    if node.child_by_field_name("body") is not None:
        return True
    return any(c.type in BODY_TYPES for c in node.named_children)


def needs_body(node: Node, kind: str) -> str | None:
    """Only definitions with a body: a bodyless one (`mod x;`, an interface's or abstract
    method signature) stays part of the enclosing chunk's text."""
    return kind if has_body(node) else None


# --- JavaScript / TypeScript --------------------------------------------------------------


def js_member_name(node: Node) -> str | None:
    """Name of `Foo.prototype.bar = function` / `exports.x = () => ...` definitions."""
    raw = node_text(node.child_by_field_name("left"))
    return clean_name(raw.replace(".prototype.", ".").removeprefix("module."))


def js_field_name(node: Node) -> str | None:
    target = node.child_by_field_name("property") or node.child_by_field_name("name")
    if target is None:
        target = node.child_by_field_name("key")
    raw = node_text(target).strip("'\"`")
    return clean_name(raw) if raw.isidentifier() or raw.startswith("#") else None


def ts_module_name(node: Node) -> str | None:
    return clean_name(node_text(node.child_by_field_name("name")).strip("'\"`"))


# --- Ruby ---------------------------------------------------------------------------------


def ruby_singleton_name(node: Node) -> str | None:
    name = field_name(node)
    obj = node_text(node.child_by_field_name("object"))
    if name is None:
        return None
    # `def self.build` is named by its class, which the enclosing definition provides.
    return name if obj in ("", "self") else f"{clean_name(obj)}.{name}"


# --- Kotlin, Swift ------------------------------------------------------------------------

_KOTLIN_CLASS_WORDS: Final = frozenset({"interface", "enum", "class"})


def kotlin_class_kind(node: Node, kind: str) -> str | None:
    word = _keyword(node, _KOTLIN_CLASS_WORDS)
    return {"interface": "interface", "enum": "enum"}.get(word or "", "class")


def kotlin_type_name(node: Node) -> str | None:
    return _first_child_text(node, frozenset({"type_identifier", "simple_identifier"}))


def kotlin_function_name(node: Node) -> str | None:
    # The receiver type of an extension function comes first as a user_type, not a name.
    return _first_child_text(node, frozenset({"simple_identifier"}))


def kotlin_companion_name(node: Node) -> str | None:
    return kotlin_type_name(node) or "Companion"


_SWIFT_CLASS_WORDS: Final = frozenset({"class", "struct", "enum", "extension", "actor"})


def swift_class_kind(node: Node, kind: str) -> str | None:
    word = _keyword(node, _SWIFT_CLASS_WORDS)
    return {"struct": "struct", "enum": "enum", "extension": "extension"}.get(word or "", "class")


def const_name(value: str) -> NameFn:
    def name(node: Node) -> str | None:
        return value

    return name


# --- The table ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Def:
    """How one node type becomes a definition."""

    kind: str
    name: NameFn = field_name
    # Refines the kind from the node, or returns None to skip the node.
    refine: KindFn | None = None


@dataclass(frozen=True, slots=True)
class Spec:
    grammar: str
    defs: Mapping[str, Def]
    # Parents that own the whole span of the definition they wrap (decorators, `export`,
    # `template <...>`), used only when they wrap exactly one node of the definition's type.
    wrappers: frozenset[str] = frozenset()
    # Extra query patterns capturing @def, for definitions that need field constraints.
    patterns: str = ""


def _defs(**entries: Def) -> Mapping[str, Def]:
    return MappingProxyType(entries)


_FN = Def("function")
_METHOD = Def("method")
_CLASS = Def("class")
_METHOD_WITH_BODY = Def("method", field_name, needs_body)

_JS_DEFS = {
    "function_declaration": _FN,
    "generator_function_declaration": _FN,
    "class_declaration": _CLASS,
    "method_definition": _METHOD,
    "variable_declarator": _FN,
    "assignment_expression": Def("function", js_member_name),
    "field_definition": Def("method", js_field_name),
    "pair": Def("function", js_field_name),
}
# Variable declarators, assignments, fields and pairs are definitions only when they bind a
# function; the patterns say so, and the plain node types above are not queried for them.
_JS_FUNCS = "[(arrow_function) (function_expression) (generator_function)]"
_JS_PATTERNS = f"""
(variable_declarator name: (identifier) value: {_JS_FUNCS}) @def
(assignment_expression left: (member_expression) right: {_JS_FUNCS}) @def
(pair key: (property_identifier) value: {_JS_FUNCS}) @def
"""
_JS_WRAPPERS = frozenset(
    {"export_statement", "lexical_declaration", "variable_declaration", "expression_statement"}
)
_TS_DEFS = {
    **_JS_DEFS,
    "field_definition": Def("method", js_field_name),
    "public_field_definition": Def("method", js_field_name),
    "abstract_class_declaration": _CLASS,
    "interface_declaration": Def("interface"),
    "enum_declaration": Def("enum"),
    "internal_module": Def("namespace", ts_module_name),
    "module": Def("namespace", ts_module_name),
}
_TS_PATTERNS = (
    _JS_PATTERNS
    + f"(public_field_definition name: (property_identifier) value: {_JS_FUNCS}) @def\n"
)
_JS_FIELD_PATTERN = f"(field_definition property: (property_identifier) value: {_JS_FUNCS}) @def\n"

_C_FN = Def("function", c_function_name, c_function_kind)
_C_DEFS = {
    "function_definition": _C_FN,
    "struct_specifier": Def("struct", c_type_name, c_type_kind),
    "union_specifier": Def("union", c_type_name, c_type_kind),
    "enum_specifier": Def("enum", c_type_name, c_type_kind),
    "type_definition": Def("struct", c_type_name, c_type_kind),
}

SPECS: Final[Mapping[str, Spec]] = MappingProxyType(
    {
        "python": Spec(
            "python",
            _defs(function_definition=_FN, class_definition=_CLASS),
            wrappers=frozenset({"decorated_definition"}),
        ),
        "javascript": Spec(
            "javascript",
            _defs(**_JS_DEFS),
            wrappers=_JS_WRAPPERS,
            patterns=_JS_PATTERNS + _JS_FIELD_PATTERN,
        ),
        "typescript": Spec(
            "typescript",
            _defs(**_TS_DEFS),
            wrappers=_JS_WRAPPERS | {"ambient_declaration"},
            patterns=_TS_PATTERNS,
        ),
        "tsx": Spec(
            "tsx",
            _defs(**_TS_DEFS),
            wrappers=_JS_WRAPPERS | {"ambient_declaration"},
            patterns=_TS_PATTERNS,
        ),
        "go": Spec(
            "go",
            _defs(
                function_declaration=_FN,
                method_declaration=Def("method", go_method_name),
                type_spec=Def("struct", field_name, go_type_kind),
            ),
            wrappers=frozenset({"type_declaration"}),
        ),
        "rust": Spec(
            "rust",
            _defs(
                function_item=_FN,
                struct_item=Def("struct"),
                enum_item=Def("enum"),
                union_item=Def("union"),
                trait_item=Def("trait"),
                impl_item=Def("impl", rust_impl_name),
                mod_item=Def("module", field_name, needs_body),
                macro_definition=Def("macro"),
            ),
        ),
        "java": Spec(
            "java",
            _defs(
                class_declaration=_CLASS,
                interface_declaration=Def("interface"),
                annotation_type_declaration=Def("interface"),
                enum_declaration=Def("enum"),
                record_declaration=_CLASS,
                method_declaration=_METHOD_WITH_BODY,
                constructor_declaration=_METHOD,
                compact_constructor_declaration=_METHOD,
            ),
        ),
        "c": Spec("c", _defs(**_C_DEFS)),
        "cpp": Spec(
            "cpp",
            _defs(
                **_C_DEFS,
                class_specifier=Def("class", c_type_name, c_type_kind),
                namespace_definition=Def("namespace", field_name, needs_body),
            ),
            wrappers=frozenset({"template_declaration"}),
        ),
        "csharp": Spec(
            "csharp",
            _defs(
                namespace_declaration=Def("namespace"),
                class_declaration=_CLASS,
                record_declaration=_CLASS,
                struct_declaration=Def("struct"),
                interface_declaration=Def("interface"),
                enum_declaration=Def("enum"),
                method_declaration=_METHOD_WITH_BODY,
                constructor_declaration=_METHOD,
                destructor_declaration=_METHOD,
                operator_declaration=Def("method", const_name("operator")),
                local_function_statement=_FN,
            ),
        ),
        "ruby": Spec(
            "ruby",
            _defs(
                **{
                    "class": _CLASS,
                    "module": Def("module"),
                    "method": _FN,
                    "singleton_method": Def("method", ruby_singleton_name),
                }
            ),
        ),
        "php": Spec(
            "php",
            _defs(
                class_declaration=_CLASS,
                interface_declaration=Def("interface"),
                trait_declaration=Def("trait"),
                enum_declaration=Def("enum"),
                function_definition=_FN,
                method_declaration=_METHOD_WITH_BODY,
                namespace_definition=Def("namespace", field_name, needs_body),
            ),
        ),
        "kotlin": Spec(
            "kotlin",
            _defs(
                class_declaration=Def("class", kotlin_type_name, kotlin_class_kind),
                object_declaration=Def("object", kotlin_type_name),
                companion_object=Def("object", kotlin_companion_name),
                function_declaration=Def("function", kotlin_function_name, needs_body),
                secondary_constructor=Def("method", const_name("constructor")),
            ),
        ),
        "swift": Spec(
            "swift",
            _defs(
                class_declaration=Def("class", field_name, swift_class_kind),
                protocol_declaration=Def("interface"),
                function_declaration=_FN,
                init_declaration=Def("method", const_name("init")),
                deinit_declaration=Def("method", const_name("deinit")),
            ),
        ),
        "scala": Spec(
            "scala",
            _defs(
                class_definition=_CLASS,
                object_definition=Def("object"),
                trait_definition=Def("trait"),
                enum_definition=Def("enum"),
                function_definition=_FN,
            ),
        ),
        "bash": Spec("bash", _defs(function_definition=_FN)),
    }
)

# Node types that only count when a pattern (not the bare type) matched them.
PATTERN_ONLY: Final = frozenset(
    {"variable_declarator", "assignment_expression", "field_definition", "pair"}
    | {"public_field_definition"}
)


def query_source(spec: Spec) -> str:
    plain = [t for t in spec.defs if t not in PATTERN_ONLY]
    return "[" + " ".join(f"({t})" for t in plain) + "] @def\n" + spec.patterns
