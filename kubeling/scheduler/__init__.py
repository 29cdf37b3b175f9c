"""The scheduler (kube-scheduler's job): binds pending pods to nodes that fit them."""
