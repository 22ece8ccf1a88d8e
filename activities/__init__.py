"""Built-in activities: each sub-package exposes one Activity subclass (logic, view, defaults)."""
