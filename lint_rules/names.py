"""A light, one-pass name resolver for one parsed module.

libcst's ``ScopeProvider``/``QualifiedNameProvider`` cost about five parses; this resolver walks the tree
once, reading node fields directly (no ``CSTVisitor``: libcst's visitor rebuilds every node), and costs a
small fraction of a parse. It answers "what does this expression refer to" from imports and scopes,
never from spelling.

Stable API (consumed by several rule families)::

    names = ModuleNames.build(tree, module_name="app.relay", is_package=False)
    names.qualified_name(expr)   # "uvicorn.run", "telethon.TelegramClient", "app.relay.helper" or None
    names.scope_of(node)         # the Scope a node is evaluated in (Name, Attribute, Call, def...)
    names.inner_scope(defnode)   # the Scope a FunctionDef/ClassDef/Lambda body runs in
    names.lookup(name, scope)    # (defining Scope, [Binding, ...]) or None
    names.bindings_of(name_node) # the Bindings a Name refers to, or None (builtin / unknown)
    names.constant_value(expr)   # a literal, a ("ref", "pkg.mod.NAME") / ("concat", parts) marker, or UNKNOWN
    names.module_constants       # {NAME: value} for module-level constant assignments (values as above)
    names.functions              # [(FunctionDef, Scope of its body)] in source order, nested ones included
    names.classes                # [(ClassDef, Scope of its body)]
    names.attribute_assignments  # [AttributeAssignment] for `x.attr = value` / `self.attr: T = value`
    names.main_blocks            # [If] top-level `if __name__ == "__main__":` blocks
    names.star_imports           # ["pkg.mod", ...] modules imported with `from pkg.mod import *`
    resolve_constant(value, table)  # resolve markers against {"pkg.mod.NAME": value} (project pass)
    iter_child_nodes(node)       # children that can hold names (cheap; `node.children` runs a visitor)

Positions (libcst's ``PositionProvider`` costs about two parses: it tracks line/column on every token
and builds a range for every node)::

    positions = NodePositions(tree)    # one codegen pass recording token spans: ~0.2 parse
    positions.range(node)              # == PositionProvider's CodeRange, or None (whitespace nodes)
    node_ranges(tree, nodes)           # {node: CodeRange} for a batch

Qualified names:

* ``import telethon as tg`` -> ``tg.TelegramClient`` is ``"telethon.TelegramClient"``;
  ``import a.b`` binds ``a``; ``from uvicorn import run as serve`` -> ``serve`` is ``"uvicorn.run"``.
* Relative imports are resolved against ``module_name`` (``is_package``: the module is a package's
  ``__init__``). A relative import that climbs above the top package resolves to None.
* Names defined in the module (def, class, assignment) are ``"<module_name>.<name>"``; methods are
  ``"<module>.<Class>.<name>"``; nested functions ``"<module>.<outer>.<locals>.<name>"`` (like
  ``__qualname__``).
* A local variable or parameter (also one that shadows an import) is None: inspect it with
  :meth:`ModuleNames.bindings_of`. A module-level alias ``r = uvicorn.run`` is followed.
* Resolution is flow-insensitive (like a linter, not an interpreter): a name with several module-level
  bindings resolves to the import/alias target when all of them agree (``try: from x import y`` /
  ``except ImportError: y = None`` still resolves to ``x.y``), otherwise to ``"<module>.<name>"``.
* Unbound names resolve to ``"builtins.<name>"`` for builtins, else to ``"<star module>.<name>"`` when
  the module has exactly one star import, else None.

Everything here is computed from the tree only: nothing is imported or executed.
"""

from __future__ import annotations

import bisect
import builtins
import dataclasses
import itertools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import libcst as cst
from libcst import CSTNode
from libcst._nodes.internal import CodegenState
from libcst._position import CodePosition, CodeRange

__all__ = [
    "UNKNOWN",
    "AttributeAssignment",
    "Binding",
    "ModuleNames",
    "NodePositions",
    "Scope",
    "dotted_name",
    "iter_child_nodes",
    "node_ranges",
    "resolve_constant",
]


class _Unknown:
    """The value of an expression that is not a known constant (a picklable singleton)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __reduce__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False


UNKNOWN: Any = _Unknown()

_BUILTINS = frozenset(dir(builtins))


@dataclass(eq=False)
class Binding:
    """One place where a name is bound in a scope.

    ``kind`` is one of: ``import`` (``target`` is the imported qualified name), ``def``, ``class``
    (``target`` is the definition's qualified name), ``assign``, ``annassign``, ``augassign``, ``param``,
    ``for``, ``with``, ``except``, ``walrus``, ``match``, ``comprehension``, ``del``.
    ``value`` is the bound expression when it is known (``x = value`` with a single-name target, the
    ``with`` item, the ``for`` iterable, a parameter's default); ``annotation`` the annotation expression
    (``x: T``, a parameter's annotation). ``node`` is the binding statement / def / parameter node.
    """

    name: str
    kind: str
    node: CSTNode
    target: str | None = None
    value: cst.BaseExpression | None = None
    annotation: cst.BaseExpression | None = None


@dataclass(eq=False)
class Scope:
    """A module, class, function, lambda or comprehension scope."""

    kind: str  # "module" | "class" | "function" | "lambda" | "comprehension"
    name: str
    qualname: (
        str  # "app.relay", "app.relay.Relay", "app.relay.main", "app.relay.main.<locals>.inner"
    )
    parent: Scope | None
    node: CSTNode
    bindings: dict[str, list[Binding]] = field(default_factory=dict)
    global_names: set[str] = field(default_factory=set)
    nonlocal_names: set[str] = field(default_factory=set)

    @property
    def child_prefix(self) -> str:
        """The qualified-name prefix of definitions made in this scope."""
        if self.kind in ("module", "class"):
            return self.qualname
        return self.qualname + ".<locals>"

    def enclosing_function(self) -> Scope | None:
        """The innermost function (or lambda) scope containing this one, itself included."""
        s: Scope | None = self
        while s is not None:
            if s.kind in ("function", "lambda"):
                return s
            s = s.parent
        return None

    def bind(self, binding: Binding) -> None:
        self.bindings.setdefault(binding.name, []).append(binding)


@dataclass(eq=False)
class AttributeAssignment:
    """``<value>.<attr> = value`` (or annotated) anywhere in the module."""

    scope: Scope
    target: cst.Attribute
    value: cst.BaseExpression | None
    annotation: cst.BaseExpression | None
    node: CSTNode


def dotted_name(expr: CSTNode | None) -> str | None:
    """``a.b.c`` spelled as an expression -> ``"a.b.c"`` (spelling only, no resolution)."""
    parts: list[str] = []
    while isinstance(expr, cst.Attribute):
        parts.append(expr.attr.value)
        expr = expr.value
    if isinstance(expr, cst.Name):
        parts.append(expr.value)
        return ".".join(reversed(parts))
    return None


# Fields never worth descending into: whitespace, punctuation and operators hold no names.
_SKIP_FIELDS = frozenset(
    {
        "leading_lines",
        "lines_after_decorators",
        "header",
        "footer",
        "trailing_whitespace",
        "lpar",
        "rpar",
        "comma",
        "semicolon",
        "lbracket",
        "rbracket",
        "lbrace",
        "rbrace",
        "equal",
        "colon",
        "arrow",
        "dot",
        "operator",
        "asynchronous",
        "walrus",
        "star",
        "posonly_ind",
        "trailing_comma",
        "first_line",
        "empty_lines",
        "newline",
    }
)
_FIELD_CACHE: dict[type, tuple[str, ...]] = {}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _fields(tp: type) -> tuple[str, ...]:
    names = _FIELD_CACHE.get(tp)
    if names is None:
        names = tuple(
            f.name
            for f in dataclasses.fields(tp)
            if f.name not in _SKIP_FIELDS and not f.name.startswith("whitespace")
        )
        _FIELD_CACHE[tp] = names
    return names


def iter_child_nodes(node: CSTNode) -> Iterator[CSTNode]:
    """Direct children of ``node`` that can hold names (whitespace and punctuation skipped).

    Much cheaper than ``node.children``, which libcst computes by running a visitor.
    """
    for name in _fields(type(node)):
        v = getattr(node, name)
        if isinstance(v, CSTNode):
            yield v
        elif type(v) is tuple or type(v) is list:
            for c in v:
                if isinstance(c, CSTNode):
                    yield c


_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)


class ModuleNames:
    """Scopes, bindings and constants of one module, built in one walk. See the module docstring."""

    def __init__(self, tree: cst.Module, module_name: str, is_package: bool) -> None:
        self.tree = tree
        self.module_name = module_name
        self.is_package = is_package
        self.package = module_name if is_package else module_name.rpartition(".")[0]
        self.module_scope = Scope("module", module_name, module_name, None, tree)
        self.functions: list[tuple[cst.FunctionDef, Scope]] = []
        self.classes: list[tuple[cst.ClassDef, Scope]] = []
        self.attribute_assignments: list[AttributeAssignment] = []
        self.main_blocks: list[cst.If] = []
        self.star_imports: list[str] = []
        self._name_scope: dict[CSTNode, Scope] = {}
        self._inner: dict[CSTNode, Scope] = {}
        self._def_scope: dict[CSTNode, Scope] = {}
        self._resolving: set[int] = set()
        self._constants: dict[str, object] | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def build(cls, tree: cst.Module, module_name: str, is_package: bool) -> ModuleNames:
        """Walk ``tree`` once and return its names."""
        self = cls(tree, module_name, is_package)
        for stmt in tree.body:
            self._walk(stmt, self.module_scope)
            if isinstance(stmt, cst.If) and _is_main_guard(stmt.test):
                self.main_blocks.append(stmt)
        return self

    def _walk(self, node: CSTNode, scope: Scope) -> None:
        handler = _HANDLERS.get(type(node))
        if handler is not None:
            handler(self, node, scope)
            return
        for name in _fields(type(node)):
            v = getattr(node, name)
            if isinstance(v, CSTNode):
                self._walk(v, scope)
            elif type(v) is tuple or type(v) is list:
                for c in v:
                    if isinstance(c, CSTNode):
                        self._walk(c, scope)

    def _walk_all(self, nodes: Sequence[CSTNode] | None, scope: Scope) -> None:
        if nodes:
            for n in nodes:
                self._walk(n, scope)

    def _walk_opt(self, node: object, scope: Scope) -> None:
        if isinstance(node, CSTNode):
            self._walk(node, scope)

    def _h_name(self, node: cst.Name, scope: Scope) -> None:
        self._name_scope[node] = scope

    def _h_attribute(self, node: cst.Attribute, scope: Scope) -> None:
        self._name_scope[node] = scope
        self._walk(node.value, scope)

    def _h_arg(self, node: cst.Arg, scope: Scope) -> None:
        self._walk(node.value, scope)

    def _bind_name(
        self,
        name: cst.Name,
        scope: Scope,
        kind: str,
        node: CSTNode,
        target: str | None = None,
        value: cst.BaseExpression | None = None,
        annotation: cst.BaseExpression | None = None,
    ) -> None:
        self._name_scope[name] = scope
        dest = scope
        if name.value in scope.global_names:
            dest = self.module_scope
        elif name.value in scope.nonlocal_names:
            found = self._lookup_enclosing(name.value, scope)
            if found is not None:
                dest = found[0]
        dest.bind(Binding(name.value, kind, node, target, value, annotation))

    def _bind_target(
        self,
        target: CSTNode,
        scope: Scope,
        kind: str,
        node: CSTNode,
        value: cst.BaseExpression | None,
        annotation: cst.BaseExpression | None = None,
    ) -> None:
        if isinstance(target, cst.Name):
            self._bind_name(target, scope, kind, node, None, value, annotation)
        elif isinstance(target, (cst.Tuple, cst.List)):
            values: Sequence[cst.BaseElement] | None = None
            if isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(
                target.elements
            ):
                values = value.elements
            for i, el in enumerate(target.elements):
                sub = values[i].value if values is not None else None
                if isinstance(el, cst.StarredElement) or (
                    values is not None and isinstance(values[i], cst.StarredElement)
                ):
                    sub = None
                self._bind_target(el.value, scope, kind, node, sub)
        elif isinstance(target, cst.StarredElement):
            self._bind_target(target.value, scope, kind, node, None)
        elif isinstance(target, cst.Attribute):
            self._walk(target, scope)
            if kind in ("assign", "annassign"):
                self.attribute_assignments.append(
                    AttributeAssignment(scope, target, value, annotation, node)
                )
        else:
            self._walk(target, scope)

    def _h_assign(self, node: cst.Assign, scope: Scope) -> None:
        self._walk(node.value, scope)
        for t in node.targets:
            self._bind_target(t.target, scope, "assign", node, node.value)

    def _h_annassign(self, node: cst.AnnAssign, scope: Scope) -> None:
        ann = node.annotation.annotation
        self._walk(ann, scope)
        if node.value is not None:
            self._walk(node.value, scope)
        self._bind_target(node.target, scope, "annassign", node, node.value, ann)

    def _h_augassign(self, node: cst.AugAssign, scope: Scope) -> None:
        self._walk(node.value, scope)
        if isinstance(node.target, cst.Name):
            self._name_scope[node.target] = scope
        else:
            self._walk(node.target, scope)

    def _h_namedexpr(self, node: cst.NamedExpr, scope: Scope) -> None:
        self._walk(node.value, scope)
        dest = scope
        while dest.kind == "comprehension" and dest.parent is not None:
            dest = dest.parent
        if isinstance(node.target, cst.Name):
            self._name_scope[node.target] = scope
            self._bind_name(node.target, dest, "walrus", node, None, node.value)

    def _h_for(self, node: cst.For, scope: Scope) -> None:
        self._walk(node.iter, scope)
        self._bind_target(node.target, scope, "for", node, node.iter)
        self._walk(node.body, scope)
        self._walk_opt(node.orelse, scope)

    def _h_with(self, node: cst.With, scope: Scope) -> None:
        for item in node.items:
            self._walk(item.item, scope)
            if item.asname is not None:
                self._bind_target(item.asname.name, scope, "with", node, item.item)
        self._walk(node.body, scope)

    def _h_except(self, node: cst.ExceptHandler | cst.ExceptStarHandler, scope: Scope) -> None:
        self._walk_opt(node.type, scope)
        if node.name is not None and isinstance(node.name.name, cst.Name):
            self._bind_name(node.name.name, scope, "except", node)
        self._walk(node.body, scope)

    def _h_match_as(self, node: cst.MatchAs, scope: Scope) -> None:
        self._walk_opt(node.pattern, scope)
        if node.name is not None:
            self._bind_name(node.name, scope, "match", node)

    def _h_match_star(self, node: cst.MatchStar, scope: Scope) -> None:
        if node.name is not None:
            self._bind_name(node.name, scope, "match", node)

    def _h_match_mapping(self, node: cst.MatchMapping, scope: Scope) -> None:
        self._walk_all(node.elements, scope)
        if node.rest is not None:
            self._bind_name(node.rest, scope, "match", node)

    def _h_global(self, node: cst.Global, scope: Scope) -> None:
        for item in node.names:
            scope.global_names.add(item.name.value)

    def _h_nonlocal(self, node: cst.Nonlocal, scope: Scope) -> None:
        for item in node.names:
            scope.nonlocal_names.add(item.name.value)

    def _h_del(self, node: cst.Del, scope: Scope) -> None:
        self._walk(node.target, scope)

    def _h_import(self, node: cst.Import, scope: Scope) -> None:
        for alias in node.names:
            full = dotted_name(alias.name)
            if full is None:
                continue
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self._bind_name(alias.asname.name, scope, "import", node, full)
            else:
                first = full.split(".", 1)[0]
                # `import a.b` binds `a`; the bound Name node is the leftmost of alias.name.
                left: CSTNode = alias.name
                while isinstance(left, cst.Attribute):
                    left = left.value
                if isinstance(left, cst.Name):
                    self._bind_name(left, scope, "import", node, first)

    def resolve_relative(self, dots: int, module: str | None) -> str | None:
        """The absolute module of ``from <dots><module> import ...`` in this module, or None."""
        if dots == 0:
            return module
        base = self.package.split(".") if self.package else []
        if dots - 1 > len(base) or (dots - 1 == len(base) and not module):
            return None
        if dots > 1:
            base = base[: len(base) - (dots - 1)]
        parts = [*base, module] if module else base
        return ".".join(p for p in parts if p) or None

    def _h_import_from(self, node: cst.ImportFrom, scope: Scope) -> None:
        mod = dotted_name(node.module) if node.module is not None else None
        absolute = self.resolve_relative(len(node.relative), mod)
        if isinstance(node.names, cst.ImportStar):
            if absolute is not None:
                self.star_imports.append(absolute)
            return
        for alias in node.names:
            if not isinstance(alias.name, cst.Name):
                continue
            target = f"{absolute}.{alias.name.value}" if absolute is not None else None
            bound = alias.name
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                bound = alias.asname.name
            self._bind_name(bound, scope, "import", node, target)

    def _walk_params_outer(self, params: cst.Parameters, scope: Scope) -> None:
        for p in _all_params(params):
            if p.annotation is not None:
                self._walk(p.annotation.annotation, scope)
            self._walk_opt(p.default, scope)

    def _bind_params(self, params: cst.Parameters, inner: Scope) -> None:
        for p in _all_params(params):
            ann = p.annotation.annotation if p.annotation is not None else None
            self._bind_name(p.name, inner, "param", p, None, p.default, ann)

    def _h_function(self, node: cst.FunctionDef, scope: Scope) -> None:
        self._walk_all(node.decorators, scope)
        self._walk_params_outer(node.params, scope)
        if node.returns is not None:
            self._walk(node.returns.annotation, scope)
        qual = _join(scope.child_prefix, node.name.value)
        self._bind_name(node.name, scope, "def", node, qual)
        inner = Scope("function", node.name.value, qual, scope, node)
        self._inner[node] = inner
        self._def_scope[node] = scope
        self.functions.append((node, inner))
        self._bind_params(node.params, inner)
        self._walk(node.body, inner)

    def _h_class(self, node: cst.ClassDef, scope: Scope) -> None:
        self._walk_all(node.decorators, scope)
        self._walk_all(node.bases, scope)
        self._walk_all(node.keywords, scope)
        qual = _join(scope.child_prefix, node.name.value)
        self._bind_name(node.name, scope, "class", node, qual)
        inner = Scope("class", node.name.value, qual, scope, node)
        self._inner[node] = inner
        self._def_scope[node] = scope
        self.classes.append((node, inner))
        self._walk(node.body, inner)

    def _h_lambda(self, node: cst.Lambda, scope: Scope) -> None:
        self._walk_params_outer(node.params, scope)
        inner = Scope("lambda", "<lambda>", _join(scope.child_prefix, "<lambda>"), scope, node)
        self._inner[node] = inner
        self._def_scope[node] = scope
        self._bind_params(node.params, inner)
        self._walk(node.body, inner)

    def _h_comprehension(
        self, node: cst.ListComp | cst.SetComp | cst.GeneratorExp | cst.DictComp, scope: Scope
    ) -> None:
        # The first iterable is evaluated in the enclosing scope; the rest in the comprehension's.
        comp = node.for_in
        self._walk(comp.iter, scope)
        inner = Scope("comprehension", "<comp>", _join(scope.child_prefix, "<comp>"), scope, node)
        self._inner[node] = inner
        self._def_scope[node] = scope
        first = True
        current: cst.CompFor | None = comp
        while current is not None:
            if not first:
                self._walk(current.iter, inner)
            first = False
            self._bind_target(current.target, inner, "comprehension", current, current.iter)
            self._walk_all(current.ifs, inner)
            current = current.inner_for_in
        if isinstance(node, cst.DictComp):
            self._walk(node.key, inner)
            self._walk(node.value, inner)
        else:
            self._walk(node.elt, inner)

    # ------------------------------------------------------------------ queries

    def scope_of(self, node: CSTNode) -> Scope:
        """The scope ``node`` is evaluated in.

        Exact for Names and Attributes the walk met, and for def/class/lambda/comprehension nodes (the
        scope containing them); for other nodes, the scope of the first name found inside them;
        the module scope otherwise.
        """
        s = self._name_scope.get(node) or self._def_scope.get(node)
        if s is not None:
            return s
        stack = [node]
        while stack:
            n = stack.pop()
            s = self._name_scope.get(n) or self._def_scope.get(n)
            if s is not None:
                return s
            stack.extend(reversed(list(iter_child_nodes(n))))
        return self.module_scope

    def inner_scope(self, node: CSTNode) -> Scope | None:
        """The scope a FunctionDef/ClassDef/Lambda/comprehension body runs in."""
        return self._inner.get(node)

    def _lookup_enclosing(self, name: str, scope: Scope) -> tuple[Scope, list[Binding]] | None:
        s = scope.parent
        while s is not None:
            if s.kind not in ("class", "module") and name in s.bindings:
                return s, s.bindings[name]
            s = s.parent
        return None

    def lookup(self, name: str, scope: Scope) -> tuple[Scope, list[Binding]] | None:
        """Python's LEGB lookup of ``name`` from ``scope``: the defining scope and its bindings."""
        if name in scope.global_names:
            b = self.module_scope.bindings.get(name)
            return (self.module_scope, b) if b else None
        if name in scope.nonlocal_names:
            return self._lookup_enclosing(name, scope)
        b = scope.bindings.get(name)
        if b:
            return scope, b
        s = scope.parent
        while s is not None:
            if s.kind != "class":
                b = s.bindings.get(name)
                if b:
                    return s, b
            s = s.parent
        return None

    def bindings_of(self, name: cst.Name) -> list[Binding] | None:
        """The bindings the Name refers to (in its defining scope), or None when unbound."""
        found = self.lookup(name.value, self.scope_of(name))
        return found[1] if found is not None else None

    def qualified_name(self, expr: CSTNode | None) -> str | None:
        """The dotted name ``expr`` (a Name or Attribute chain) refers to, or None. See the module doc."""
        if isinstance(expr, cst.Name):
            return self._qualify_name(expr.value, self.scope_of(expr))
        if isinstance(expr, cst.Attribute):
            base = self.qualified_name(expr.value)
            return f"{base}.{expr.attr.value}" if base is not None else None
        return None

    def qualify(self, name: str, scope: Scope) -> str | None:
        """:meth:`qualified_name` of a bare ``name`` used in ``scope``."""
        return self._qualify_name(name, scope)

    def _qualify_name(self, name: str, scope: Scope) -> str | None:
        found = self.lookup(name, scope)
        if found is None:
            if name in _BUILTINS:
                return f"builtins.{name}"
            if len(self.star_imports) == 1:
                return f"{self.star_imports[0]}.{name}"
            return None
        defining, bindings = found
        key = id(bindings)
        if key in self._resolving:
            return None
        self._resolving.add(key)
        try:
            targets: set[str | None] = set()
            for b in bindings:
                if b.kind in ("import", "def", "class"):
                    targets.add(b.target)
                elif isinstance(b.value, cst.Name) and b.value.value in ("None", "True", "False"):
                    continue  # `except ImportError: run = None`
                elif (
                    defining.kind == "module"
                    and b.kind == "assign"
                    and isinstance(b.value, (cst.Name, cst.Attribute))
                ):
                    # A module-level alias: `serve = uvicorn.run`.
                    targets.add(self.qualified_name(b.value))
            if len(targets) == 1:
                only = next(iter(targets))
                if only is not None:
                    return only
                if all(b.kind == "import" for b in bindings):
                    return None  # a relative import climbing above the top package
            if defining.kind in ("module", "class"):
                return f"{defining.qualname}.{name}" if defining.qualname else name
            return None
        finally:
            self._resolving.discard(key)

    # ------------------------------------------------------------------ constants

    @property
    def module_constants(self) -> dict[str, object]:
        """Module-level ``NAME = constant`` (and ``from project.mod import NAME`` refs), by name."""
        if self._constants is None:
            out: dict[str, object] = {}
            for name, bindings in self.module_scope.bindings.items():
                if len(bindings) != 1:
                    continue
                b = bindings[0]
                if b.kind in ("assign", "annassign") and b.value is not None:
                    v = self.constant_value(b.value, self.module_scope)
                elif b.kind == "import" and isinstance(b.node, cst.ImportFrom) and b.target:
                    v = ("ref", b.target)
                else:
                    continue
                if v is not UNKNOWN:
                    out[name] = v
            self._constants = out
        return self._constants

    def constant_value(self, expr: CSTNode | None, scope: Scope | None = None) -> object:
        """The constant value of ``expr``, a marker the project pass resolves, or :data:`UNKNOWN`.

        Literals (str, bytes, int, float, bool, None); f-strings and ``+`` of constants;
        ``os.environ.get("X", default)`` / ``os.getenv("X", default)`` -> the default; a name bound
        once to a constant (module-level or local); a name imported from another module ->
        ``("ref", "pkg.mod.NAME")``; a concatenation involving refs -> ``("concat", (part, ...))``.
        """
        try:
            return self._const(expr, scope, 0)
        except RecursionError:
            return UNKNOWN

    def _const(self, expr: CSTNode | None, scope: Scope | None, depth: int) -> object:
        if expr is None or depth > 20:
            return UNKNOWN
        if isinstance(expr, (cst.SimpleString, cst.ConcatenatedString)):
            v = expr.evaluated_value
            return UNKNOWN if v is None else v
        if isinstance(expr, (cst.Integer, cst.Float)):
            return expr.evaluated_value
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
            inner = self._const(expr.expression, scope, depth + 1)
            if isinstance(inner, (int, float)) and not isinstance(inner, bool):
                return -inner
            return UNKNOWN
        if isinstance(expr, cst.FormattedString):
            parts: list[object] = []
            for part in expr.parts:
                if isinstance(part, cst.FormattedStringText):
                    parts.append(part.value)
                elif isinstance(part, cst.FormattedStringExpression):
                    if part.format_spec or part.conversion:
                        return UNKNOWN
                    pv = self._const(part.expression, scope, depth + 1)
                    if pv is UNKNOWN or isinstance(pv, bytes):
                        return UNKNOWN
                    parts.append(pv if _is_marker(pv) else str(pv))
            return _concat(parts)
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Add):
            left = self._const(expr.left, scope, depth + 1)
            right = self._const(expr.right, scope, depth + 1)
            if left is UNKNOWN or right is UNKNOWN:
                return UNKNOWN
            if _is_marker(left) or _is_marker(right):
                return _concat([left, right])
            try:
                return left + right  # type: ignore[operator]
            except TypeError:
                return UNKNOWN
        if isinstance(expr, cst.Call):
            q = self.qualified_name(expr.func)
            if q in ("os.environ.get", "os.getenv"):
                args = [a for a in expr.args if a.keyword is None and not a.star]
                default = next(
                    (a.value for a in expr.args if a.keyword and a.keyword.value == "default"),
                    args[1].value if len(args) > 1 else None,
                )
                return self._const(default, scope, depth + 1) if default is not None else UNKNOWN
            return UNKNOWN
        if isinstance(expr, cst.Name):
            if expr.value in ("True", "False", "None"):
                return {"True": True, "False": False, "None": None}[expr.value]
            use_scope = scope if scope is not None else self.scope_of(expr)
            found = self.lookup(expr.value, use_scope)
            if found is None:
                return UNKNOWN
            defining, bindings = found
            if len(bindings) != 1:
                return UNKNOWN
            b = bindings[0]
            if b.kind == "import":
                return (
                    ("ref", b.target)
                    if b.target and isinstance(b.node, cst.ImportFrom)
                    else UNKNOWN
                )
            if b.kind in ("assign", "annassign") and b.value is not None:
                return self._const(b.value, defining, depth + 1)
            return UNKNOWN
        if isinstance(expr, cst.Attribute):
            # `settings.SESSION` where `settings` is an imported module.
            q = self.qualified_name(expr)
            if q is not None and not q.startswith("builtins."):
                return ("ref", q)
            return UNKNOWN
        return UNKNOWN


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _is_marker(v: object) -> bool:
    return type(v) is tuple and len(v) == 2 and v[0] in ("ref", "concat")


def _concat(parts: list[object]) -> object:
    if all(isinstance(p, str) for p in parts):
        return "".join(parts)  # type: ignore[arg-type]
    flat: list[object] = []
    for p in parts:
        if type(p) is tuple and p[0] == "concat":
            flat.extend(p[1])
        else:
            flat.append(p)
    return ("concat", tuple(flat))


def resolve_constant(
    value: object, table: Mapping[str, object] | Callable[[str], object], _depth: int = 0
) -> object:
    """Resolve ``("ref", ...)``/``("concat", ...)`` markers against project constants.

    ``table`` maps ``"pkg.mod.NAME"`` to that module's ``module_constants`` value (or is a callable
    doing so, returning :data:`UNKNOWN` when absent). Returns the plain value or :data:`UNKNOWN`.
    """
    if _depth > 20:
        return UNKNOWN
    if not _is_marker(value):
        return value
    assert isinstance(value, tuple)
    if value[0] == "ref":
        got = table(value[1]) if callable(table) else table.get(value[1], UNKNOWN)
        return resolve_constant(got, table, _depth + 1)
    parts = [resolve_constant(p, table, _depth + 1) for p in value[1]]
    if any(p is UNKNOWN for p in parts):
        return UNKNOWN
    return "".join(str(p) for p in parts)


def _all_params(params: cst.Parameters) -> Iterator[cst.Param]:
    yield from params.posonly_params
    yield from params.params
    if isinstance(params.star_arg, cst.Param):
        yield params.star_arg
    yield from params.kwonly_params
    if isinstance(params.star_kwarg, cst.Param):
        yield params.star_kwarg


def _is_main_guard(test: cst.BaseExpression) -> bool:
    """``__name__ == "__main__"`` (either side)."""
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return False
    comp = test.comparisons[0]
    if not isinstance(comp.operator, cst.Equal):
        return False
    sides = (test.left, comp.comparator)
    has_name = any(isinstance(s, cst.Name) and s.value == "__name__" for s in sides)
    has_main = any(
        isinstance(s, cst.SimpleString) and s.evaluated_value == "__main__" for s in sides
    )
    return has_name and has_main


_Handler = Callable[[ModuleNames, Any, Scope], None]
_HANDLERS: dict[type, _Handler] = {
    cst.Name: ModuleNames._h_name,
    cst.Attribute: ModuleNames._h_attribute,
    cst.Arg: ModuleNames._h_arg,
    cst.Assign: ModuleNames._h_assign,
    cst.AnnAssign: ModuleNames._h_annassign,
    cst.AugAssign: ModuleNames._h_augassign,
    cst.NamedExpr: ModuleNames._h_namedexpr,
    cst.For: ModuleNames._h_for,
    cst.With: ModuleNames._h_with,
    cst.ExceptHandler: ModuleNames._h_except,
    cst.ExceptStarHandler: ModuleNames._h_except,
    cst.MatchAs: ModuleNames._h_match_as,
    cst.MatchStar: ModuleNames._h_match_star,
    cst.MatchMapping: ModuleNames._h_match_mapping,
    cst.Global: ModuleNames._h_global,
    cst.Nonlocal: ModuleNames._h_nonlocal,
    cst.Del: ModuleNames._h_del,
    cst.Import: ModuleNames._h_import,
    cst.ImportFrom: ModuleNames._h_import_from,
    cst.FunctionDef: ModuleNames._h_function,
    cst.ClassDef: ModuleNames._h_class,
    cst.Lambda: ModuleNames._h_lambda,
    cst.ListComp: ModuleNames._h_comprehension,
    cst.SetComp: ModuleNames._h_comprehension,
    cst.GeneratorExp: ModuleNames._h_comprehension,
    cst.DictComp: ModuleNames._h_comprehension,
}


class _Span:
    """The context manager of :meth:`_IndexState.record_syntactic_position` (no generator overhead)."""

    __slots__ = ("end_node", "node", "start", "start_node", "state")

    def __init__(
        self,
        state: _IndexState,
        node: CSTNode,
        start_node: CSTNode | None,
        end_node: CSTNode | None,
    ) -> None:
        self.state = state
        self.node = node
        self.start_node = start_node
        self.end_node = end_node
        self.start = 0

    def __enter__(self) -> None:
        self.start = len(self.state.tokens)

    def __exit__(self, *exc: object) -> None:
        spans = self.state.spans
        start = self.start
        end = len(self.state.tokens)
        if self.start_node is not None:
            start = spans.get(id(self.start_node), (start, end))[0]
        if self.end_node is not None:
            end = spans.get(id(self.end_node), (start, end))[1]
        spans[id(self.node)] = (start, end)


class _IndexState(CodegenState):
    """Codegen that remembers, per node, the token indices it spans (no line/column bookkeeping).

    libcst's PositionProvider updates a line/column pair with a regex on every token and builds a
    CodeRange for every node: about 2.5 parses. Recording token indices of the nodes that have a
    syntactic position (statements, expressions) costs a fraction of that; lines and columns are then
    computed only for the nodes asked for. Spans are keyed by ``id(node)``: the tree outlives them.
    """

    def __init__(self, default_indent: str, default_newline: str) -> None:
        super().__init__(default_indent=default_indent, default_newline=default_newline)
        self.spans: dict[int, tuple[int, int]] = {}

    def record_syntactic_position(  # type: ignore[override]
        self,
        node: CSTNode,
        *,
        start_node: CSTNode | None = None,
        end_node: CSTNode | None = None,
    ) -> _Span:
        return _Span(self, node, start_node, end_node)


class NodePositions:
    """Lazy source ranges for one tree, from one cheap codegen pass (see :class:`_IndexState`).

    ``NodePositions(tree).range(node)`` equals libcst's ``PositionProvider`` for every node libcst
    records a syntactic position for (statements, blocks, small statements, expressions); other
    nodes (whitespace, operators...) and foreign nodes give None. About a tenth of
    the cost of ``MetadataWrapper(tree).resolve(PositionProvider)``.
    """

    def __init__(self, tree: cst.Module) -> None:
        state = _IndexState(tree.default_indent, tree.default_newline)
        tree._codegen(state)
        self._spans = state.spans
        self._offsets = [0, *itertools.accumulate(map(len, state.tokens))]
        text = "".join(state.tokens)
        # Offsets where lines start (after each line break), as libcst counts them.
        self._line_starts = [0, *(m.end() for m in _LINE_BREAK.finditer(text))]
        self._keep = tree  # spans are keyed by id(): keep the nodes alive

    def _position(self, token_index: int) -> CodePosition:
        offset = self._offsets[token_index]
        line = bisect.bisect_right(self._line_starts, offset)
        return CodePosition(line, offset - self._line_starts[line - 1])

    def range(self, node: CSTNode) -> CodeRange | None:
        span = self._spans.get(id(node))
        if span is None:
            return None
        return CodeRange(self._position(span[0]), self._position(span[1]))


def node_ranges(tree: cst.Module, nodes: Iterable[CSTNode]) -> dict[CSTNode, CodeRange]:
    """Source ranges of ``nodes`` (equal to libcst's ``PositionProvider``); see :class:`NodePositions`.

    Nodes without a syntactic position and nodes not in ``tree`` are absent from the result.
    """
    wanted = list(nodes)
    if not wanted:
        return {}
    positions = NodePositions(tree)
    out: dict[CSTNode, CodeRange] = {}
    for n in wanted:
        r = positions.range(n)
        if r is not None:
            out[n] = r
    return out
