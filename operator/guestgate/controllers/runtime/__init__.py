"""The operator's runtime: the cache of watched objects and the work queue."""
