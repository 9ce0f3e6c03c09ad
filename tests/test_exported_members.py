"""The package's public surface is exactly ``__all__`` (as httpx pins its own): adding or dropping a
public name is a decision, made here and in the changelog, not a side effect of an import."""
from __future__ import annotations

import types

import stackcheck

PUBLIC = ["ApiError", "Credentials", "ExitCode", "Interrupted", "Manifests", "StackcheckError", "Target",
          "Unauthorized", "Unreachable", "UsageError", "__version__"]


def test_all_lists_the_public_names() -> None:
    assert stackcheck.__all__ == PUBLIC


def test_every_exported_name_resolves() -> None:
    missing = [name for name in stackcheck.__all__ if not hasattr(stackcheck, name)]
    assert not missing, f"__all__ names {missing}, which stackcheck/__init__.py does not define"


def test_no_public_name_outside_all() -> None:
    """Every public attribute of the package that is not a subpackage or module is in ``__all__``."""
    extra = [name for name, value in vars(stackcheck).items()
             if not name.startswith("_") and not isinstance(value, types.ModuleType)
             and name not in stackcheck.__all__ and name not in ("annotations", "TYPE_CHECKING", "Any")]
    assert not extra, f"stackcheck exposes {extra} without listing them in __all__"


def test_exported_classes_live_in_the_package() -> None:
    """Re-exports of our own classes, not of a library's (they would tie the surface to its version)."""
    outside = [name for name in stackcheck.__all__ if isinstance(getattr(stackcheck, name), type)
               and not getattr(stackcheck, name).__module__.startswith("stackcheck.")]
    assert not outside, f"{outside} are re-exported from outside stackcheck"
