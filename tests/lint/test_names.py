"""lint_rules.names: qualified names from imports and scopes, constants, cheap positions."""

from __future__ import annotations

import pickle
import textwrap

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from lint_rules.names import (
    UNKNOWN,
    ModuleNames,
    NodePositions,
    iter_child_nodes,
    node_ranges,
    resolve_constant,
)


def build(source: str, module: str = "app.api.relay", is_package: bool = False) -> ModuleNames:
    return ModuleNames.build(cst.parse_module(textwrap.dedent(source)), module, is_package)


def names_in(tree: cst.CSTNode) -> dict[str, list[cst.CSTNode]]:
    """Every Name/Attribute expression by its spelling, in source order."""
    out: dict[str, list[cst.CSTNode]] = {}
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Name, cst.Attribute)):
            out.setdefault(cst.Module([]).code_for_node(node), []).append(node)
        stack.extend(reversed(list(iter_child_nodes(node))))
    return out


def qualified(source: str, spelling: str, index: int = -1, **kw: object) -> str | None:
    n = build(source, **kw)  # type: ignore[arg-type]
    return n.qualified_name(names_in(n.tree)[spelling][index])


def test_imports_and_aliases() -> None:
    src = """
    import telethon as tg
    import os.path
    import a.b.c as d
    from uvicorn import run as serve
    serve
    tg.TelegramClient
    os.path.join
    d.x
    """
    assert qualified(src, "serve") == "uvicorn.run"
    assert qualified(src, "tg.TelegramClient") == "telethon.TelegramClient"
    assert qualified(src, "os.path.join") == "os.path.join"
    assert qualified(src, "d.x") == "a.b.c.x"


def test_relative_imports() -> None:
    src = """
    from . import settings
    from .tg import client
    from ..core import tg as core_tg
    from ... import too_far
    settings; client; core_tg; too_far
    """
    assert qualified(src, "settings") == "app.api.settings"
    assert qualified(src, "client") == "app.api.tg.client"
    assert qualified(src, "core_tg") == "app.core.tg"
    assert qualified(src, "too_far") is None
    # In a package's __init__, `.` is the package itself.
    assert qualified(src, "client", module="app.api", is_package=True) == "app.api.tg.client"


def test_shadowing_locals_and_parameters() -> None:
    src = """
    from uvicorn import run
    def f(run):
        run
    def g():
        run = 1
        run
    def h():
        run
    """
    n = build(src)
    uses = names_in(n.tree)["run"]
    assert [n.qualified_name(u) for u in uses[-3:]] == [None, None, "uvicorn.run"]


def test_module_definitions_methods_nested_and_aliases() -> None:
    src = """
    import uvicorn
    r = uvicorn.run
    def outer():
        def inner():
            pass
        inner
        r
    class K:
        def m(self):
            outer
    K.m
    """
    assert qualified(src, "inner") == "app.api.relay.outer.<locals>.inner"
    assert qualified(src, "r") == "uvicorn.run"
    assert qualified(src, "outer") == "app.api.relay.outer"
    assert qualified(src, "K.m") == "app.api.relay.K.m"


def test_class_scope_is_not_visible_from_methods() -> None:
    src = """
    from x import client
    class K:
        client = 1
        def m(self):
            client
    """
    assert qualified(src, "client") == "x.client"


def test_global_nonlocal_and_try_import_fallback() -> None:
    src = """
    try:
        from uvicorn import run
    except ImportError:
        run = None
    client = None
    def setup():
        global client
        client = make()
        client
    run
    """
    assert qualified(src, "run") == "uvicorn.run"
    n = build(src)
    assert len(n.module_scope.bindings["client"]) == 2


def test_builtins_and_star_imports() -> None:
    assert qualified("print\n", "print") == "builtins.print"
    assert qualified("from telethon import *\nTelegramClient\n", "TelegramClient") == (
        "telethon.TelegramClient"
    )
    assert qualified("undefined_name\n", "undefined_name") is None


def test_comprehension_and_lambda_scopes() -> None:
    src = """
    from m import x
    [x for x in range(3)]
    (lambda x: x)
    x
    """
    n = build(src)
    uses = names_in(n.tree)["x"]  # import, elt, target, lambda param, lambda body, last use
    assert [n.qualified_name(u) for u in uses[1:]] == [None, None, None, None, "m.x"]


def test_scope_of_and_functions_and_main_blocks() -> None:
    src = """
    async def handler(event):
        async def nested():
            pass
    if __name__ == "__main__":
        handler(1)
    """
    n = build(src)
    assert [(f.name.value, s.qualname) for f, s in n.functions] == [
        ("handler", "app.api.relay.handler"),
        ("nested", "app.api.relay.handler.<locals>.nested"),
    ]
    fn, inner = n.functions[1]
    assert n.scope_of(fn).qualname == "app.api.relay.handler"
    assert n.inner_scope(fn) is inner
    assert len(n.main_blocks) == 1


def test_attribute_assignments() -> None:
    n = build("""
    class S:
        def __init__(self, c: int):
            self.client = make()
            self.ann: int = 1
    """)
    got = [(a.target.attr.value, a.scope.qualname) for a in n.attribute_assignments]
    assert got == [("client", "app.api.relay.S.__init__"), ("ann", "app.api.relay.S.__init__")]


def test_constants() -> None:
    n = build("""
    import os
    from .settings import SESSION
    NAME = "relay"
    N = -3
    S = f"{NAME}.session"
    E = os.environ.get("RELAY_SESSION", "dflt") + ".session"
    G = os.getenv("X", default="g")
    F = f"{SESSION}-x"
    U = os.environ["X"]
    T = True
    def f():
        local = NAME + "!"
        return local
    """)
    consts = n.module_constants
    assert consts["NAME"] == "relay"
    assert consts["N"] == -3
    assert consts["S"] == "relay.session"
    assert consts["E"] == "dflt.session"
    assert consts["G"] == "g"
    assert consts["T"] is True
    assert consts["SESSION"] == ("ref", "app.api.settings.SESSION")
    assert consts["F"] == ("concat", (("ref", "app.api.settings.SESSION"), "-x"))
    assert "U" not in consts
    ret = names_in(n.tree)["local"][-1]
    assert n.constant_value(ret) == "relay!"
    assert resolve_constant(consts["F"], {"app.api.settings.SESSION": "main"}) == "main-x"
    assert resolve_constant(consts["F"], {}) is UNKNOWN
    assert pickle.loads(pickle.dumps(UNKNOWN)) is UNKNOWN


def test_node_ranges_match_position_provider() -> None:
    source = textwrap.dedent('''\
        """Doc."""
        import asyncio  # c

        @decorator(
            1,
        )
        async def f(a, *, b=2):
            x = """multi
        line"""; y = f"{a!r:>{b}}"
            if a:
                await asyncio.sleep(1)
            elif b:  # comment
                pass
            else:
                return [i for i in (a, b)]
        ''')
    tree = cst.parse_module(source)
    expected = MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)
    wanted = [
        n
        for n in expected
        if isinstance(n, (cst.BaseExpression, cst.BaseStatement, cst.BaseSmallStatement))
    ]
    assert len(wanted) > 40
    got = node_ranges(tree, wanted)
    assert {n: got.get(n) for n in wanted} == {n: expected[n] for n in wanted}


def test_node_positions_crlf_unicode_and_unsupported_nodes() -> None:
    source = "x = 'é'  # ü\r\nif x:\r\n    y = f(\r\n        x)\r\n"
    tree = cst.parse_module(source)
    expected = MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)
    positions = NodePositions(tree)
    wanted = [n for n in expected if isinstance(n, (cst.BaseExpression, cst.BaseStatement))]
    assert {n: positions.range(n) for n in wanted} == {n: expected[n] for n in wanted}
    assert positions.range(cst.Name("foreign")) is None
