"""The rendered configuration: what the operator publishes and the signalling pods load."""
