"""The thin edge to the API server: get, list, server-side apply, status patches, events."""
