"""kubeling: Kubernetes written in Python."""

__version__ = "0.1.0"
# The Kubernetes release whose API we serve (reported by /version).
KUBE_VERSION = "v1.32.0"

