"""Event recording for controllers: the client's Recorder (shared with the
scheduler and the kubelet, which may not import controllers)."""

from kubeling.client.events import NORMAL, WARNING, Recorder, reference

__all__ = ["NORMAL", "WARNING", "Recorder", "reference"]
