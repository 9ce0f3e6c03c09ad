"""``stackcheck lint``: offline checks of manifests/, no cluster, in a few seconds.

What a cluster, Grafana or a 3 a.m. page would reveal late is checked here first. Kubernetes
versions: every object must validate strictly against **Kubernetes 1.32 and 1.33**
(:data:`stackcheck.lint.schema.KUBERNETES_VERSIONS`; kubernetes-validate bundles 1.25 to 1.37).

Items and their ids (stable; ``<target>`` is ``manifests``, ``overlays/kind`` or ``overlays/production``):

=====================================  ================================================================
``lint.render[<target>]``               the kustomization renders (``kubectl kustomize``, else
                                        :mod:`.render`); with kubectl, stackcheck's renderer must agree
``lint.schema[<target>]``               every object validates strictly (unknown fields fail)
``lint.podsecurity[<target>]``          pod templates meet "restricted" bar the documented exceptions
``lint.netpol[<target>]``               the NetworkPolicies admit every flow of :mod:`.flows` (both ends)
``lint.promtool.rules[<file>]``         ``promtool check rules`` per rule file
``lint.promtool.config``                ``promtool check config`` on a copy with Kubernetes SD made static
``lint.promtool.tests[<file>]``         ``promtool test rules`` per ``*.test.yml``
``lint.amtool.config``                  ``amtool check-config alertmanager.yml``
``lint.routes[<alert>]``                each routes.test.yml case via ``amtool config routes test``;
                                        its ``channels`` match what the receivers deliver to
``lint.routes.watchdog``                the Watchdog reaches only the dead-man receiver
``lint.routes.coverage``                every alert has a route test
``lint.dashboard[<file>]``              JSON, PromQL parses, metrics produced, datasources provisioned
``lint.alerts[<rule file>]``            every alert has ``severity``, ``summary``, ``runbook_url``
``lint.rules.recording_used``           every recording rule is read by a dashboard or an alert
``lint.promise[<name>]``                each value a component, check or file relies on holds where it
                                        is written and where it is used (:mod:`.promises`)
=====================================  ================================================================

Exit codes: 0 clean, 1 a problem found, 2 usage error (malformed YAML naming file:line, a missing
promtool/amtool, a kustomize feature the renderer lacks with no kubectl). Entry point:
:func:`stackcheck.lint.runner.lint`.
"""
