"""In-tree plugins, registered through the same hooks as external ones."""

from lightning_core.builtin import conflicts, readers

MODULES = (readers, conflicts)
