"""The kinds of plugin contribution are written once (bench_gnn.kinds.KINDS): the hookspecs, the registries of
Plugins and the choices of `bench list` follow that table."""

from __future__ import annotations

import dataclasses
import inspect
import typing

import pytest

from bench_gnn import hookspecs
from bench_gnn.cli import _parser
from bench_gnn.kinds import KINDS
from bench_gnn.plugin_manager import Plugins


def _hookspecs() -> dict[str, object]:
    return {name: fn for name, fn in vars(hookspecs).items() if name.startswith("bench_") and callable(fn)}


def test_every_hookspec_is_a_kind_and_returns_a_list_of_its_spec():
    specs = _hookspecs()
    assert sorted(specs) == sorted(kind.hook for kind in KINDS)
    for kind in KINDS:
        hints = typing.get_type_hints(specs[kind.hook], vars(hookspecs) | {kind.spec.__name__: kind.spec})
        assert hints["return"] == list[kind.spec], kind.hook
        assert inspect.getdoc(specs[kind.hook]), f"{kind.hook} has no contract in its docstring"


def test_plugins_holds_one_typed_registry_per_kind():
    fields = {f.name for f in dataclasses.fields(Plugins)} - {"plugins"}
    assert fields == {kind.plural for kind in KINDS}
    plugins = Plugins()
    assert [plugins.registry(kind).kind for kind in KINDS] == [kind.singular for kind in KINDS]


def test_bench_list_offers_plugins_and_every_kind():
    lst = next(action for action in _parser()._subparsers._group_actions[0].choices["list"]._actions
               if action.dest == "what")
    assert list(lst.choices) == ["plugins", *(kind.plural for kind in KINDS)]


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.plural)
def test_bench_list_shows_each_kind_with_its_plugin_before_the_description(bench_main, kind):
    code, out, _ = bench_main("list", kind.plural)
    header = out.splitlines()[0].split()
    assert code == 0 and header[0] == kind.columns[0][0] and header[-2:] == ["plugin", "description"]
    assert "(bench-gnn" in out
