"""Container runtimes behind a CRI-shaped protocol (``protocol``); ``runc`` is the real one."""
