"""One cluster-access layer: everything that talks to a Kubernetes API server goes through here.

Deploy, destroy, the kubernetes target and the fault driver all use it. Layers, importing only
downwards::

    config     kubeconfig discovery (kubectl's order) → a KubeAccess
    access     KubeAccess: the API client, a DynamicClient, proxy URLs, error mapping
    session    a requests session that trusts the kubeconfig's CA whatever the environment says
    errors     Status bodies → stackcheck errors (exit codes); API-server proxy errors
    apply      server-side apply (field manager ``stackcheck``), takeover of kubectl's fields
    status     a small kstatus port: Current, InProgress, Failed, Terminating, NotFound
    quantity   resource quantities (``256Mi``, ``500m``)
"""
from __future__ import annotations
