"""How everything above the API server reaches the cluster: over HTTP(S), as a Kubernetes client.

* :mod:`~kubeling.client.config` — where the server is and how to authenticate (kubeconfig, in-cluster).
* :mod:`~kubeling.client.rest` — ``Client``: verbs on any resource (``ResourceRef``), watches, ``ApiError``.
* :mod:`~kubeling.client.informer` — ``Informer``/``Factory``: list+watch caches with indexes and handlers.
* :mod:`~kubeling.client.workqueue` — ``WorkQueue``: client-go's dirty/processing queue with backoff.
* :mod:`~kubeling.client.clock` — the clock seam (``FakeClock`` for tests).

This package must not import :mod:`kubeling.apiserver` or :mod:`kubeling.storage`.
"""
