"""The node agent (the kubelet and its runc container runtime)."""
