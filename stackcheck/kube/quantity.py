"""Kubernetes resource quantities as numbers, for the fault driver's sizing."""
from __future__ import annotations

import re

from stackcheck.errors import ApiError

_SUFFIXES = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
             "n": 1e-9, "u": 1e-6, "m": 1e-3, "": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
             "P": 1e15, "E": 1e18}
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")


def parse_quantity(text: str | float) -> float:
    """A Kubernetes resource quantity as a number: ``"256Mi"`` → 268435456, ``"500m"`` → 0.5.

    >>> parse_quantity("500m")
    0.5
    """
    match = _QUANTITY.match(str(text).strip())
    if match is None:
        raise ApiError(f"{text!r} is not a Kubernetes quantity")
    return float(match.group(1)) * _SUFFIXES[match.group(2) or ""]
