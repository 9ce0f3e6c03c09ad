"""``stackcheck serve``: the smoke profile on a schedule, its verdicts exported as Prometheus metrics.

Like blackbox-exporter turns probes into metrics and pint ``watch`` serves ``pint_problem``, serve runs
``stackcheck verify --profile smoke`` every ``--interval`` and exposes the last run on ``/metrics``. It
never injects a fault: each round is a smoke run (read-only by construction, see
``tests/test_serve.py``), in a child process so that one stuck or crashed round cannot take the
exporter down with it.

Modules: :mod:`.metrics` (the metric families), :mod:`.rounds` (one smoke run, in a child process),
:mod:`.server` (HTTP: ``/metrics``, ``/healthz``, ``/report``), :mod:`.command` (the sub-command).
"""
