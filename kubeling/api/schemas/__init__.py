"""OpenAPI (v2-form) definitions of every built-in type, written for kubeling.

Each module exports ``DEFINITIONS: dict[str, dict]`` keyed by the upstream
definition name (``io.k8s.api.core.v1.Pod``) so clients that look types up by
name (kubectl explain, apply) find them. One source serves the OpenAPI v2 and
v3 documents, unknown-field detection (fieldValidation) and the merge keys of
strategic merge patch.
"""
