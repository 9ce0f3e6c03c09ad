"""The ``urls`` target: explicit endpoints, e.g. a production stack checked by the smoke profile."""
from __future__ import annotations

from stackcheck.clients.http import Credentials
from stackcheck.errors import UsageError
from stackcheck.targets.base import Target


def urls_target(endpoints: dict[str, str | None], credentials: Credentials, *,
                expected_jobs: list[str] | None = None) -> Target:
    """Build the target; Prometheus is required, every other component is optional."""
    given = {name: url.rstrip("/") for name, url in endpoints.items() if url}
    if "prometheus" not in given:
        raise UsageError("--target urls needs at least --prometheus-url (or STACKCHECK_PROMETHEUS_URL)")
    for name, url in given.items():
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--{name}-url must start with http:// or https://, got {url!r}")
    missing = {name: f"no --{name}-url given" for name in endpoints if name not in given}
    return Target(
        name="urls",
        description="explicit URLs: " + ", ".join(sorted(given)),
        endpoints=given,
        credentials=credentials,
        expected_jobs=expected_jobs,
        missing_components=missing,
        disposable=False,
    )
