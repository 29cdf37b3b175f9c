"""Controllers (kube-controller-manager's job): each reconciles one kind of object
toward what was declared, reading informer caches and writing only through the API."""
