"""Every public function and method of ``utils`` is annotated (dataclass fields always are).

A learner reads ``help(make_mlp)`` and an editor shows the types; a missing
annotation is a gap in the package's documentation (issue 9).
"""

import importlib
import inspect
import pkgutil

import pytest

import utils


def _modules():
    """Every module of the ``utils`` package, subpackages included."""
    names = ["utils"]
    for info in pkgutil.walk_packages(utils.__path__, prefix="utils."):
        names.append(info.name)
    return [importlib.import_module(name) for name in sorted(names)]


def _public_callables(module):
    """(qualified name, function) of the public functions and methods defined in ``module``."""
    found = []
    for name, value in vars(module).items():
        if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value):
            found.append((f"{module.__name__}.{name}", value))
        elif inspect.isclass(value):
            for attribute, member in vars(value).items():
                if attribute.startswith("_") and attribute != "__init__":
                    continue
                if isinstance(member, (staticmethod, classmethod)):
                    member = member.__func__
                if isinstance(member, property):
                    member = member.fget
                if inspect.isfunction(member):
                    found.append((f"{module.__name__}.{name}.{attribute}", member))
    return found


def _missing_annotations(function):
    """The parameters (and 'return') of ``function`` that have no annotation."""
    signature = inspect.signature(function)
    missing = [name for name, parameter in signature.parameters.items()
               if name not in ("self", "cls") and parameter.kind not in (
                   parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
               and parameter.annotation is inspect.Parameter.empty]
    if function.__name__ != "__init__" and signature.return_annotation is inspect.Signature.empty:
        missing.append("return")
    return missing


@pytest.mark.parametrize("module", _modules(), ids=lambda module: module.__name__)
def test_public_functions_are_annotated(module):
    gaps = [f"{name}: {', '.join(missing)}" for name, function in _public_callables(module)
            if (missing := _missing_annotations(function))]
    assert not gaps, "Missing annotations:\n" + "\n".join(gaps)


def test_the_check_finds_a_missing_annotation():
    def annotated(x: int) -> int:
        return x

    def bare(x, y: int):
        return x

    assert _missing_annotations(annotated) == []
    assert _missing_annotations(bare) == ["x", "return"]
