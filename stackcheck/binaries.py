"""Find the real programs stackcheck runs, and say how to install the missing ones.

One home for the local runtime's services and for lint's promtool, amtool and kubectl, below both.

Debian and Ubuntu ship Prometheus' tools under ``prometheus-*`` names; upstream tarballs use the bare
names. ``STACKCHECK_<NAME>_BIN`` overrides the search, e.g. ``STACKCHECK_LOKI_BIN=/opt/loki/loki``.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from stackcheck.errors import UsageError


@dataclass(frozen=True)
class Binary:
    """A program the runtime may start: its candidate names and how to get it."""

    key: str
    names: tuple[str, ...]
    apt_package: str | None
    hint: str

    @property
    def env_var(self) -> str:
        return f"STACKCHECK_{self.key.upper().replace('-', '_')}_BIN"

    def find(self) -> Path | None:
        """The override from the environment, else the first name found on PATH."""
        override = os.environ.get(self.env_var)
        if override:
            path = Path(override).expanduser()
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise UsageError(f"{self.env_var}={override} is not an executable file; fix or unset it")
            return path
        for name in self.names:
            found = shutil.which(name)
            if found:
                return Path(found)
        return None


REQUIRED = (
    Binary("prometheus", ("prometheus",), "prometheus", "the Prometheus server"),
    Binary("alertmanager", ("prometheus-alertmanager", "alertmanager"), "prometheus-alertmanager",
           "Alertmanager"),
    Binary("node-exporter", ("prometheus-node-exporter", "node_exporter"), "prometheus-node-exporter",
           "node-exporter"),
    Binary("blackbox-exporter", ("prometheus-blackbox-exporter", "blackbox_exporter"),
           "prometheus-blackbox-exporter", "blackbox-exporter"),
)

#: Run when installed; reported as skipped (with this hint) when not. No Debian package exists.
OPTIONAL = (
    Binary("loki", ("loki",), None, "download loki from https://github.com/grafana/loki/releases"),
    Binary("grafana", ("grafana", "grafana-server"), None,
           "install Grafana from https://grafana.com/grafana/download"),
    Binary("jaeger", ("jaeger",), None, "download jaeger v2 from https://github.com/jaegertracing/jaeger/releases"),
    Binary("alloy", ("alloy",), None, "download Grafana Alloy from https://github.com/grafana/alloy/releases"),
)

PROMTOOL = Binary("promtool", ("promtool",), "prometheus", "promtool (ships with prometheus)")
AMTOOL = Binary("amtool", ("amtool",), "prometheus-alertmanager",
                "amtool (ships with prometheus-alertmanager)")


def require(binaries: tuple[Binary, ...] | list[Binary]) -> dict[str, Path]:
    """Locate every binary or fail once, listing all that are missing and the apt command for them."""
    found: dict[str, Path] = {}
    missing: list[Binary] = []
    for binary in binaries:
        path = binary.find()
        if path is None:
            missing.append(binary)
        else:
            found[binary.key] = path
    if missing:
        names = ", ".join(f"{b.hint} ({'/'.join(b.names)})" for b in missing)
        packages = sorted({b.apt_package for b in missing if b.apt_package})
        fix = f"sudo apt-get install {' '.join(packages)}" if packages else "install them"
        raise UsageError(
            f"not found on PATH: {names}. Install with: {fix} "
            f"(or point {missing[0].env_var} at the binary)"
        )
    return found


def optional() -> dict[str, Path | str]:
    """Each optional binary's path, or the install hint when it is absent."""
    return {b.key: (b.find() or b.hint) for b in OPTIONAL}
