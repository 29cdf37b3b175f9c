"""Images for the node agent: references, the content-addressed store, layer
unpacking, root filesystems and archive import."""
