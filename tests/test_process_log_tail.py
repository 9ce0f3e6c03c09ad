"""Why a local process did not start: the error lines of its log, whichever Prometheus wrote them.

Prometheus 2.42 (go-kit) writes ``level=error``; Prometheus 3.x (log/slog) writes ``level=ERROR``, and both
write JSON with ``--log.format=json``. The lines below have the shape of each (Prometheus 3.12, run by hand
for issue 8, wrote the slog form).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from stackcheck.local.processes import Proc, log_tail

GO_KIT = ('ts=2026-12-01T08:00:00.000Z caller=main.go:1234 level=error msg="Error loading config '
          '(--config.file=/s/prometheus.yml)" err="parsing YAML file /s/prometheus.yml: yaml: line 3"')
SLOG = ('time=2026-12-01T08:00:00.000Z level=ERROR source=main.go:622 msg="Error loading config '
        '(--config.file=/s/prometheus.yml)" file=/s/prometheus.yml err="parsing YAML file: yaml: line 3"')
SLOG_JSON = ('{"time":"2026-12-01T08:00:00.000Z","level":"ERROR","source":"main.go:622",'
             '"msg":"Error loading config (--config.file=/s/prometheus.yml)"}')
GO_KIT_JSON = ('{"caller":"main.go:1234","level":"error","msg":"Error loading '
               'config","ts":"2026-12-01T08:00:00Z"}')
NOISE = [f'time=2026-12-01T08:00:0{i}.000Z level=INFO source=main.go:1 msg="step {i}"' for i in range(9)]


def tail_of(tmp_path: Path, lines: list[str]) -> str:
    log = tmp_path / "prometheus.log"
    log.write_text("\n".join(lines) + "\n")
    return log_tail(Proc(name="prometheus", pid=1, argv0="prometheus", log=str(log)))


@pytest.mark.parametrize("error", [GO_KIT, SLOG, SLOG_JSON, GO_KIT_JSON],
                         ids=["2.x", "3.x", "3.x-json", "2.x-json"])
def test_the_error_line_is_shown_instead_of_the_last_lines(tmp_path: Path, error: str) -> None:
    """An error line among many info lines is what the start-up failure shows, in every log format."""
    assert tail_of(tmp_path, [NOISE[0], error, *NOISE[1:]]) == error


def test_without_an_error_line_the_last_lines_are_shown(tmp_path: Path) -> None:
    """No error line (e.g. a crash without a log): the last eight lines."""
    assert tail_of(tmp_path, NOISE) == "\n".join(NOISE[-8:])


def test_a_message_mentioning_errors_is_not_an_error_line(tmp_path: Path) -> None:
    """An info line whose text says "level=errors" in a value is not taken for an error line."""
    info = 'time=2026-12-01T08:00:00.000Z level=INFO msg="counting" label="level=errors"'
    assert tail_of(tmp_path, [info]) == info  # shown only as one of the last lines
    assert tail_of(tmp_path, [info, SLOG]) == SLOG
