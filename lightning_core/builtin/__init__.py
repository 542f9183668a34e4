"""In-tree plugins, registered through the same hooks as external ones."""

from lightning_core.builtin import checkpoint_stores, conflicts, kv_encoder, readers

MODULES = (readers, conflicts, checkpoint_stores, kv_encoder)
