"""The call path: settings and config files, budget limits as configuration, the `Call` that
steps work on, the shaping steps, send with retry, the client-side limiter, guarded streams."""
