"""Per-group strategies and Resource tables; each module exports ``RESOURCES``."""
