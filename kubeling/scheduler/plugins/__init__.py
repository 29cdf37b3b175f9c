"""Scheduler plugins, one per module; kubeling.scheduler.registry lists them."""
