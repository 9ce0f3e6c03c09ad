"""Run every fault scenario at once and judge each alert's way from fault to receiver and back.

Each scenario runs in its own thread: inject, wait until the alert fires in Prometheus, is active in
Alertmanager and reaches its channels at the sink, then clear and wait for the resolved notification.
Total time is about that of the slowest scenario. Waits poll against budgets from the live config.
"""
from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from stackcheck.budgets import MARGIN_S, Budgets
from stackcheck.checks.freshness import parse_time
from stackcheck.clients.alertmanager import AlertmanagerClient
from stackcheck.clients.prometheus import PrometheusClient
from stackcheck.errors import Interrupted, StackcheckError
from stackcheck.faults import ledger, notfired
from stackcheck.faults.scenarios import Scenario
from stackcheck.grouping import Wait, first_notification_wait, lingering_group_wait, resend_interval_s
from stackcheck.routing import channels, route
from stackcheck.targets.base import Target
from stackcheck.timescale import parse_duration
from stackcheck.wait import until, until_set

#: Pause between polls of Prometheus' alerts and the sink: short against every budget.
CAMPAIGN_POLL_S = 0.25

ALREADY_FIRING = ("{alert} was already pending or firing before its fault was injected "
                  "(active since {since}, and still {settle:.0f}s later, more than a cleared fault's samples "
                  "take to leave its rate window), so its checks would prove nothing; a leftover fault? "
                  "run `stackcheck cleanup`, then verify again")
#: An alert may take this many times its computed bound before its delivery check fails.
LATENCY_TOLERANCE = 1.5
STAGES = ("fires", "delivered", "resolves")
#: The reference rate window (5m), which the time scale shrinks like every other timer.
RATE_WINDOW_S = 300.0


@dataclass
class StageResult:
    """The verdict of one stage of one scenario."""

    ok: bool
    message: str
    latency_s: float | None = None
    bound_s: float | None = None
    skipped: bool = False


@dataclass(frozen=True)
class Expectation:
    """Where an alert must be delivered, from routes.test.yml and the manifests' alertmanager.yml."""

    severity: str
    component: str | None
    receivers: tuple[str, ...]
    slack: frozenset[str]
    email: frozenset[str]
    webhook: frozenset[str]

    @property
    def places(self) -> set[str]:
        """Every channel as the sink names it (``slack #c``, ``email a@b``, ``webhook r``)."""
        return {f"slack {c}" for c in self.slack} | {f"email {t}" for t in self.email} | \
            {f"webhook {h}" for h in self.webhook}


def expectations(routes_table: list[dict[str, Any]], am_config: dict[str, Any]) -> dict[str, Expectation]:
    """alert → where it must go.

    The ``channels`` an entry of routes.test.yml declares win (``#slack-channel``, an email address,
    ``webhook:<receiver>``), so a receiver whose channel was changed by mistake is caught too; without
    them, the channels of the entry's receivers in the production alertmanager.yml are expected.
    """
    out = {}
    for entry in routes_table:
        slack, email, hooks = set(), set(), set()
        declared = entry.get("channels")
        if declared:
            for place in map(str, declared):
                if place.startswith("webhook:"):
                    hooks.add(place.removeprefix("webhook:"))
                elif "@" in place:
                    email.add(place)
                else:
                    slack.add(place)
        for receiver in entry["receivers"] if not declared else ():
            found = channels(am_config, receiver)
            slack |= set(found["slack"])
            email |= set(found["email"])
            hooks |= set(found["webhook"])
        labels = entry.get("labels") or {}
        out[str(entry["alert"])] = Expectation(
            severity=str(labels.get("severity", "")), component=labels.get("component"),
            receivers=tuple(entry["receivers"]), slack=frozenset(slack), email=frozenset(email),
            webhook=frozenset(hooks))
    return out


class Campaign:
    """All scenarios of one run, started together, each stage's verdict awaited by its check."""

    def __init__(self, target: Target, prometheus: PrometheusClient, alertmanager: AlertmanagerClient,
                 sink: Any, budgets: Budgets, live_am_config: dict[str, Any],
                 expected: dict[str, Expectation]) -> None:
        self.target, self.prometheus, self.alertmanager, self.sink = target, prometheus, alertmanager, sink
        self.budgets, self.live_am_config, self.expected = budgets, live_am_config, expected
        self.run_id = "stackcheck-" + uuid.uuid4().hex[:10]
        self._stop = threading.Event()
        self._results: dict[tuple[str, str], StageResult] = {}
        self._done: dict[tuple[str, str], threading.Event] = {}
        self._injected: dict[str, Scenario] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.window_s = RATE_WINDOW_S / max(target.time_scale, 1e-9)

    # -- public -----------------------------------------------------------------------------------

    def start(self, scenarios: list[Scenario]) -> None:
        """Start every supported scenario in its own thread."""
        for scenario in scenarios:
            for stage in STAGES:
                self._done[(scenario.alert, stage)] = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(scenarios)), thread_name_prefix="fault")
        for scenario in scenarios:
            self._pool.submit(self._run_guarded, scenario)

    def result(self, alert: str, stage: str) -> StageResult:
        """Block until the stage has a verdict (Ctrl-C interrupts the wait)."""
        done = self._done[(alert, stage)]
        until_set(done)
        return self._results[(alert, stage)]

    def stop(self) -> None:
        """Stop every scenario, then clear every fault still injected (safe to call twice).

        The stop flag is set first, so no thread injects anything after this point; the threads
        end within one poll interval and clear their own faults; whatever is left is cleared here.
        """
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            pending = list(self._injected.values())
        for scenario in pending:
            self._clear(scenario)

    # -- one scenario ----------------------------------------------------------------------------

    def _set(self, alert: str, stage: str, result: StageResult) -> None:
        self._results[(alert, stage)] = result
        self._done[(alert, stage)].set()

    def _finish(self, alert: str, result: StageResult) -> None:
        for stage in STAGES:
            if not self._done[(alert, stage)].is_set():
                self._set(alert, stage, result)

    def _run_guarded(self, scenario: Scenario) -> None:
        try:
            self._run(scenario)
        except StackcheckError as exc:
            self._finish(scenario.alert, StageResult(False, f"{scenario.alert}: {exc}"))
        except Exception as exc:  # noqa: BLE001 - a verdict, not a crash, for every scenario
            self._finish(scenario.alert, StageResult(False, f"{scenario.alert}: {type(exc).__name__}: {exc}"))
        finally:
            self._clear(scenario)

    def _inject(self, scenario: Scenario) -> None:
        with self._lock:
            if self._stop.is_set():
                raise Interrupted(f"{scenario.alert}: stopped before its fault was injected")
            if self.target.state_dir is not None:
                ledger.record(self.target.state_dir, self.run_id, scenario.alert, "injecting")
            self._injected[scenario.alert] = scenario
        scenario.inject(self.target, self.run_id)

    def _clear(self, scenario: Scenario) -> None:
        with self._lock:
            if self._injected.pop(scenario.alert, None) is None:
                return
        scenario.clear(self.target, self.run_id)
        if self.target.state_dir is not None:
            ledger.record(self.target.state_dir, self.run_id, scenario.alert, "cleared")

    def _for_s(self, alert: str) -> float:
        for group in self.prometheus.rule_groups():
            for rule in group.get("rules", []):
                if rule.get("name") == alert and rule.get("type") == "alerting":
                    return float(rule.get("duration", 0))
        return 0.0

    def _run(self, scenario: Scenario) -> None:
        alert, labels = scenario.alert, scenario.alert_labels(self.target)
        expect = self.expected.get(alert)
        if expect is None:
            raise StackcheckError(f"no entry for {alert} in routes.test.yml; add one with its receivers")
        for_s = self._for_s(alert)
        routing_labels = {"alertname": alert, "severity": expect.severity, **labels,
                          **({"component": expect.component} if expect.component else {})}
        matches = route(self.live_am_config, routing_labels)
        # Firing does not wait on Alertmanager; the delivery bound is known once the alert fires (below).
        fire_bound = self.budgets.notify_bound_s(for_s, max(parse_duration(m.group_wait) for m in matches))
        budget = LATENCY_TOLERANCE * fire_bound + self.window_s + self.budgets.resend_delay_s + MARGIN_S

        before = self._active(alert, labels)
        if before and alert != "Watchdog":
            leftover = self._settle(alert, labels, before)
            if leftover is not None:
                self._finish(alert, leftover)
                return
        if alert != "Watchdog":
            self._flushed(alert, expect, matches)
        t0 = time.time()
        self._inject(scenario)
        pending_seen: dict[str, str] = {}
        seen = self._wait_firing(alert, labels, budget, pending_seen)
        if not seen:
            rule = next((r for g in self.prometheus.rule_groups("alert") for r in g.get("rules", [])
                         if r.get("name") == alert), None)
            why = notfired.message(alert, budget, rule, labels, pending_seen)
            self._finish(alert, StageResult(False, why))
            return
        fired_at = time.time()
        problems = self._label_problems(alert, seen, expect)
        self._set(alert, "fires", StageResult(not problems, "; ".join(problems) or
                                              f"fired {fired_at - t0:.1f}s after the fault"))
        wait = self._notification_wait(dict(seen[0]["labels"]), routing_labels, fired_at)
        if wait.timer == "group_wait" and alert != "Watchdog":
            wait = self._group_left_open(alert, expect, matches, t0, fired_at) or wait
        bound = self.budgets.notify_bound_s(for_s, wait.seconds)
        parts = [f"scrape {self.budgets.scrape_s:g}s", f"evaluation {self.budgets.evaluation_s:g}s",
                 f"for {for_s:g}s", wait.describe()]
        if alert == "Watchdog":
            # Already firing before the run: the next notification comes on the route's re-send
            # cadence (Alertmanager re-sends on group_interval ticks once repeat_interval has passed).
            resend = resend_interval_s(matches)
            bound += resend
            parts.append(f"re-send cadence {resend:g}s")
        explain = f"bound {bound:.1f}s = " + " + ".join(parts)
        budget = LATENCY_TOLERANCE * bound + self.window_s + self.budgets.resend_delay_s + MARGIN_S
        delivered_at, message = self._wait_delivered(alert, expect, t0, budget, "firing")
        if delivered_at is None:
            self._set(alert, "delivered", StageResult(False, f"{message}; {explain}", bound_s=bound))
        else:
            latency = delivered_at - t0
            ok = latency <= LATENCY_TOLERANCE * bound
            note = "" if ok else f" — slower than {LATENCY_TOLERANCE}× the bound"
            self._set(alert, "delivered", StageResult(ok, f"{message}{note}; {explain}", latency_s=latency,
                                                      bound_s=bound))
        if alert == "Watchdog":
            self._set(alert, "resolves",
                      StageResult(True, "Watchdog never resolves, by design", skipped=True))
            return
        t1 = time.time()
        self._clear(scenario)
        resolve_budget = self.window_s + 2 * self.budgets.evaluation_s + self.budgets.scrape_s + MARGIN_S + \
            parse_duration(str((self.live_am_config.get("route") or {}).get("group_interval", "5m"))) + for_s
        resolved_at, message = self._wait_delivered(alert, expect, t1, resolve_budget, "resolved")
        if resolved_at is None and wait.other:
            message += (f"; {wait.other} of the same group may still fire, and while any alert of a group "
                        "fires, its notifications say FIRING")
        self._set(alert, "resolves", StageResult(resolved_at is not None, message))

    def _settle(self, alert: str, labels: dict[str, str], before: list[dict[str, Any]]) -> StageResult | None:
        """Wait out an alert that is active before its fault; its verdict when it stays active.

        A verdict on an alert active before its fault would prove nothing about the fault. A fault cleared
        just before (an interrupted run) leaves it true until its samples leave the rate window, so only
        an alert still active after that is a leftover.
        """
        settle = self.window_s + 2 * self.budgets.evaluation_s + self.budgets.scrape_s + MARGIN_S
        settled = until(lambda: not self._active(alert, labels), settle, interval_s=CAMPAIGN_POLL_S,
                        stop=self._stop)
        if settled or self._stop.is_set():
            return None
        return StageResult(False, ALREADY_FIRING.format(alert=alert, since=before[0].get("activeAt", "?"),
                                                        settle=settle))

    def _flushed(self, alert: str, expect: Expectation, matches: list[Any]) -> None:
        """When the alert's last notification said FIRING, wait (one ``group_interval``) for the resolved
        one: until Alertmanager has sent it, its notification log holds that episode as the one sent, and
        the same alert firing again is not notified before ``repeat_interval``."""
        places = expect.places
        sent = [n for n in self.sink.notifications(alertname=alert) if set(_places(n)) & places]
        last = max(sent, key=lambda n: n.received_at, default=None)
        if last is None or not any(a.alertname == alert and a.status == "firing" for a in last.alerts):
            return
        flush = max(parse_duration(m.group_interval) for m in matches) + self.budgets.resend_delay_s
        self._wait_delivered(alert, expect, last.received_at, flush + MARGIN_S, "resolved")

    def _notification_wait(self, mine: dict[str, str], routing_labels: dict[str, str],
                           arrived_at: float) -> Wait:
        """Which Alertmanager timer this alert waits for, from the other alerts Alertmanager holds now
        (an alert of its group that notified first means ``group_interval``, see
        :mod:`stackcheck.grouping`)."""
        others = []
        for held in self.alertmanager.alerts():
            other = dict(held.get("labels") or {})
            if all(other.get(k) == v for k, v in mine.items()):
                continue  # this very alert (Alertmanager adds the external labels)
            since = parse_time(held.get("startsAt"))
            if since is not None:
                others.append((other, since))
        return first_notification_wait(self.live_am_config, {**routing_labels, **mine}, others,
                                       arrived_at=arrived_at)

    def _group_left_open(self, alert: str, expect: Expectation, matches: list[Any], t0: float,
                         arrived_at: float) -> Wait | None:
        """The latest notification of this alert at its channels before the fault (an earlier run's,
        or an earlier instance's): its group may still exist, see :func:`lingering_group_wait`."""
        places = expect.places
        earlier = [n for n in self.sink.notifications(alertname=alert)
                   if n.received_at < t0 and set(_places(n)) & places]
        last = max((n.received_at for n in earlier), default=None)
        return lingering_group_wait(alert, matches, last, arrived_at=arrived_at)

    def _active(self, alert: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        return [a for a in self._matching(alert, labels) if a.get("state") in ("pending", "firing")]

    def _matching(self, alert: str, labels: dict[str, str]) -> list[dict[str, Any]]:
        return [a for a in self.prometheus.alerts()
                if a["labels"].get("alertname") == alert
                and all(a["labels"].get(k) == v for k, v in labels.items())]

    def _wait_firing(self, alert: str, labels: dict[str, str], budget: float,
                     pending_seen: dict[str, str]) -> list[dict[str, Any]]:
        """The alert's firing instances, once there are any; every pending episode seen on the way is
        kept in ``pending_seen`` (activeAt → value) for the message when it never fires."""
        if self._stop.is_set():
            return []

        def firing() -> list[dict[str, Any]]:
            now = self._matching(alert, labels)
            notfired.seen_pending(now, pending_seen)
            return [a for a in now if a.get("state") == "firing"]

        return until(firing, budget, interval_s=CAMPAIGN_POLL_S, stop=self._stop)

    def _label_problems(self, alert: str, seen: list[dict[str, Any]], expect: Expectation) -> list[str]:
        got = seen[0]["labels"]
        problems = []
        if got.get("severity") != expect.severity:
            problems.append(f"{alert} fired with severity {got.get('severity')!r}, "
                            f"expected {expect.severity!r}")
        if expect.component and got.get("component") != expect.component:
            problems.append(f"{alert} fired with component {got.get('component')!r}, "
                            f"expected {expect.component!r}")
        return problems

    def _wait_delivered(self, alert: str, expect: Expectation, since: float, budget: float,
                        status: str) -> tuple[float | None, str]:
        """Poll the sink until every expected channel got a ``status`` notification for ``alert``."""
        wanted = expect.places
        got: dict[str, float] = {}

        def arrived() -> bool:
            got.clear()
            for n in self.sink.notifications(alertname=alert):
                about_it = any(a.alertname == alert and a.status == status for a in n.alerts)
                if n.received_at < since or not about_it:
                    continue
                for place in _places(n):
                    got.setdefault(place, n.received_at)
            return wanted <= set(got)

        if not self._stop.is_set():
            until(arrived, budget, interval_s=CAMPAIGN_POLL_S, stop=self._stop)
        missing, extra = wanted - set(got), set(got) - wanted
        where = ", ".join(sorted(got)) or "nowhere"
        if missing:
            return None, (f"{alert} ({status}) did not reach {', '.join(sorted(missing))} "
                          f"within {budget:.0f}s; it reached {where}")
        if extra:
            return None, f"{alert} ({status}) also reached unexpected {', '.join(sorted(extra))}"
        return max(got[p] for p in wanted), f"{status} notification reached {where}"


def _places(notification: Any) -> list[str]:
    kind = notification.kind
    if kind == "slack":
        return [f"slack {notification.channel}"]
    if kind == "email":
        return [f"email {to}" for to in notification.to]
    return [f"webhook {notification.raw.get('name')}"]
