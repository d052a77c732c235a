"""Pure builders: parsed resources in, manifests, trunk profiles and link configuration out."""
