"""kopf handlers and the reconcilers behind them: parse, render, apply, write status."""
